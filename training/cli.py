"""`seq2seq train`, `seq2seq evaluate`, `seq2seq export`: the training package's subcommands.

seq2seq train --config configs/multi30k.yaml                 # run folder runs/multi30k, resumes if present
seq2seq evaluate -m model.pt --data data/multi30k --split test_2016_flickr
seq2seq export runs/multi30k -o model.pt

Each `add_*` function is an entry point of the group `seq2seq.commands` (pyproject.toml), called by
seq2seq/cli.py to build the one `seq2seq` parser; this module imports only argparse and that parser's argument
types, and each command imports what it needs when it runs. `python -m training.cli ...` runs the whole `seq2seq`
command.
"""

from __future__ import annotations

import argparse
import os
import sys

from seq2seq.cli import non_negative_float, non_negative_int, positive_int


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out


def _train(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.distributed import check_nproc, launch, launched
    from training.trainer import Trainer

    overrides = list(args.set or [])
    origins = [f"--set {item}" for item in overrides]
    for flag, key in (
        ("data", "data.path"),
        ("src", "data.src"),
        ("tgt", "data.tgt"),
        ("max_steps", "train.max_steps"),
        ("max_minutes", "train.max_minutes"),
        ("device", "train.device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
            origins.append(f"--{flag.replace('_', '-')} {value}")
    cfg = load_config(args.config, overrides, origins)
    if args.nproc > 1 and not launched():  # the same command, once per process, under torchrun
        check_nproc(args.nproc, cfg.train.device)
        return launch(args.nproc, _without_nproc(args.argv))
    run_dir = args.run_dir or os.path.join("runs", os.path.splitext(os.path.basename(args.config or "default"))[0])
    result = Trainer(cfg, run_dir, fresh=args.fresh, progress=not args.no_progress).run()
    if not result.get("main", True):  # process 0 of several reports and exports
        return 0
    print(f"final checkpoint: {result['final']}", file=sys.stderr)
    if args.export:
        from training.export_cmd import export_run

        export_run(run_dir, None, args.export, test_split=cfg.data.test_split)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.eval_cmd import evaluate_command

    return evaluate_command(args)


def _export(args: argparse.Namespace) -> int:
    from training.export_cmd import export_path

    export_path(args.source, args.output, test_split=args.test_split, check=args.check_sentences,
                length_penalty=args.length_penalty, shortlist=args.shortlist, frequent=args.frequent,
                int8=args.int8)
    return 0


def add_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="train a model on a parallel corpus")
    p.add_argument("--config", "-c", help="experiment YAML (configs/*.yaml)")
    p.add_argument("--data", help="corpus: a local folder (SPLIT.LANG[.gz], SPLIT.tsv, SPLIT.jsonl) or a hub id")
    p.add_argument("--src", help="source language code")
    p.add_argument("--tgt", help="target language code")
    p.add_argument("--run-dir", help="run folder (default runs/CONFIG_NAME); an existing run resumes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.lr=5e-4")
    p.add_argument("--max-steps", type=non_negative_int, help="stop after this many updates")
    p.add_argument("--max-minutes", type=non_negative_float, help="stop after this much training time")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--fresh", action="store_true",
                   help="start over instead of resuming; the old run's outputs move to RUN/previous/ once it can")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    p.add_argument("--export", metavar="PATH", help="evaluate on the test split and export the model here")
    p.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                   help="data-parallel over N processes on this machine (torchrun; gloo on CPU, NCCL on CUDA, "
                        "one GPU each); rerunning the command resumes, with N or another number")
    p.set_defaults(func=_train)


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("evaluate", help="translate a split and score it with sacreBLEU and chrF")
    p.add_argument("-m", "--model", required=True, help="exported model (.pt)")
    p.add_argument("--data", required=True, help="corpus folder or hub id")
    p.add_argument("--split", required=True)
    p.add_argument("--src", help="source language (default: the model's)")
    p.add_argument("--tgt", help="target language (default: the model's)")
    p.add_argument("--beam", type=positive_int, help="beam size (default: the model's)")
    p.add_argument("--length-penalty", type=non_negative_float, nargs="+", metavar="ALPHA",
                   help="score / length**ALPHA (default: the model's); several values: score each, show the best")
    p.add_argument("--output", "-o", help="where to save hypotheses (default MODEL.SPLIT.hyp)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_evaluate)


def add_export(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("export", help="write one TorchScript artifact from a run folder or checkpoint")
    p.add_argument("source", help="run folder or checkpoint file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--test-split", default=None, help="score this split and store BLEU in the artifact")
    p.add_argument("--check-sentences", type=non_negative_int, default=100,
                   help="validation sentences checked scripted vs eager")
    p.add_argument("--length-penalty", type=non_negative_float, metavar="ALPHA",
                   help="the artifact's default length penalty (default: the run's search.length_penalty)")
    p.add_argument("--shortlist", type=non_negative_int, default=0, metavar="K",
                   help="store a vocabulary shortlist of K target pieces per source piece, learned from the "
                        "training split (IBM Model 1), and use it by default (0: none; 20 is a good start)")
    p.add_argument("--frequent", type=non_negative_int, default=300, metavar="N",
                   help="with --shortlist: the N most frequent target pieces are always in it")
    p.add_argument("--int8", action="store_true", help="decode with int8 weights (CPU; dynamic quantization)")
    p.set_defaults(func=_export)


if __name__ == "__main__":
    from seq2seq.cli import main

    sys.exit(main())
