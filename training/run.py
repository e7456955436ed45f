"""A run folder's layout, named in one place: what the trainer writes, and export and evaluation read.

    RUN/config.yaml                 the resolved experiment config
    RUN/spm.model                   the joint SentencePiece model, or spm.src.model and spm.tgt.model
    RUN/checkpoints/last.pt         written every train.save_every updates; a run resumes from it
    RUN/checkpoints/best-stepN.pt   the best train.keep_best by validation BLEU
    RUN/checkpoints/final.pt        the better of the best and the average of the best
    RUN/metrics.csv, tb/, curves.png, train.log
    RUN/eval/SPLIT.json, SPLIT.hyp  the scores and hypotheses of an exported checkpoint
    RUN/previous/                   the outputs of the run that the last `train --fresh` replaced
"""

from __future__ import annotations

import os

from training.checkpoint import CheckpointError

CHECKPOINTS = "checkpoints"
LAST, FINAL = "last.pt", "final.pt"
PREVIOUS = "previous"
JOINT_SPM, SRC_SPM, TGT_SPM = "spm.model", "spm.src.model", "spm.tgt.model"


def config_path(run_dir: str) -> str:
    return os.path.join(run_dir, "config.yaml")


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS)


def last_checkpoint(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS, LAST)


def final_checkpoint(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS, FINAL)


def best_checkpoint(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, CHECKPOINTS, f"best-step{step}.pt")


def log_path(run_dir: str) -> str:
    return os.path.join(run_dir, "train.log")


def metrics_path(run_dir: str) -> str:
    return os.path.join(run_dir, "metrics.csv")


def tensorboard_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "tb")


def curves_path(run_dir: str) -> str:
    return os.path.join(run_dir, "curves.png")


def eval_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "eval")


def eval_paths(run_dir: str, split: str) -> tuple[str, str]:
    """(scores .json, hypotheses .hyp) of a split scored by export."""
    folder = eval_dir(run_dir)
    return os.path.join(folder, f"{split}.json"), os.path.join(folder, f"{split}.hyp")


def previous_dir(run_dir: str) -> str:
    return os.path.join(run_dir, PREVIOUS)


def outputs(run_dir: str) -> list[str]:
    """What belongs to one training of a run folder, as opposed to what a new one starts from (the vocabulary) and
    the log of them all: the paths `train --fresh` sets aside into RUN/previous/ once the new run can start."""
    return [config_path(run_dir), checkpoint_dir(run_dir), metrics_path(run_dir), tensorboard_dir(run_dir),
            curves_path(run_dir), eval_dir(run_dir)]


def spm_paths(run_dir: str, joint: bool) -> tuple[str, str]:
    """Where the (source, target) SentencePiece models go: one joint file twice, or one per side."""
    if joint:
        path = os.path.join(run_dir, JOINT_SPM)
        return path, path
    return os.path.join(run_dir, SRC_SPM), os.path.join(run_dir, TGT_SPM)


def tokenizer_paths(run_dir: str) -> tuple[str, str]:
    """The (source, target) SentencePiece models a run trained, joint or not.

    :raises FileNotFoundError: the run has neither
    """
    for joint in (True, False):
        src, tgt = spm_paths(run_dir, joint)
        if os.path.isfile(src) and os.path.isfile(tgt):
            return src, tgt
    raise FileNotFoundError(f"{run_dir}: no SentencePiece models ({JOINT_SPM} or {SRC_SPM} and {TGT_SPM})")


def resolve(source: str) -> tuple[str, str]:
    """(run folder, checkpoint path) from either: a folder gives its final.pt, or last.pt before the run ends.

    :raises CheckpointError: a folder with neither
    """
    if os.path.isdir(source):
        for path in (final_checkpoint(source), last_checkpoint(source)):
            if os.path.isfile(path):
                return source, path
        raise CheckpointError(f"{source}: no {CHECKPOINTS}/{FINAL} or {CHECKPOINTS}/{LAST} in this run folder")
    return os.path.dirname(os.path.dirname(os.path.abspath(source))), source  # RUN/checkpoints/NAME.pt
