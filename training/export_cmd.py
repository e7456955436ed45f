"""`seq2seq export`: a run folder or checkpoint → one TorchScript artifact, checked against the eager model."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from typing import Any

import torch

from seq2seq import export
from seq2seq.search import Search
from seq2seq.tokenizer import Tokenizer
from seq2seq.translator import Translator, pad_batch
from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from training.config import ExperimentConfig, load_config
from training.corpus import load_split
from training.eval_cmd import evaluate_checkpoint
from training.run import config_path, resolve, tokenizer_paths


def check_scripted(model: torch.nn.Module, scripted: Any, sources: list[list[int]], cfg: ExperimentConfig) -> int:
    """Translate with both; return the number of sentences whose tokens differ."""
    s = cfg.search
    eager = Search(model).eval()
    bad = 0
    with torch.inference_mode():
        for start in range(0, len(sources), 32):
            chunk = sources[start : start + 32]
            src, lens = pad_batch(chunk)
            args = (src, lens, s.beam_size, 1, s.max_len_a, s.max_len_b, s.length_penalty)
            a, b = eager(*args)[0], scripted(*args)[0]
            if a.shape != b.shape:
                bad += len(chunk)
            else:
                bad += int((a != b).flatten(1).any(1).sum())
    return bad


def export_path(source: str, output: str, test_split: str | None = None, check: int = 100,
                length_penalty: float | None = None) -> dict[str, Any]:
    """Export a run folder's final (or last) checkpoint, or a checkpoint file of a run, to `output`.

    With `test_split`, the checkpoint's scores on it go into the artifact's meta; with `check`, that many
    validation sentences must translate alike scripted and eager, and the module checked is the one saved.
    """
    run_dir, ckpt_path = resolve(source)
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, ckpt_path).eval()
    cfg = load_config(config_path(run_dir))
    if length_penalty is not None:
        replace(cfg.search.options(), length_penalty=length_penalty).validate()
        cfg = replace(cfg, search=replace(cfg.search, length_penalty=length_penalty))
    src_path, tgt_path = tokenizer_paths(run_dir)
    src_tok = Tokenizer.from_file(src_path)
    tgt_tok = src_tok if tgt_path == src_path else Tokenizer.from_file(tgt_path)
    if len(src_tok) != model.encoder.embed.num_embeddings or len(tgt_tok) != model.decoder.embed.num_embeddings:
        raise CheckpointError(f"{ckpt_path}: vocabulary sizes differ from the run's SentencePiece models")
    meta: dict[str, Any] = {
        "src_lang": cfg.data.src, "tgt_lang": cfg.data.tgt, "model_config": ckpt["model_config"],
        "training_data": cfg.data.path, "train_split": cfg.data.train_split, "step": ckpt["step"],
        "search": asdict(cfg.search.options()),
        "max_src_tokens": 250,
    }
    translator = Translator.from_model(model, src_tok, tgt_tok, meta)
    if test_split:
        meta["evaluation"] = evaluate_checkpoint(translator, run_dir, cfg, test_split, ckpt_path, ckpt["step"])
    scripted = export.script(model)
    if check > 0:
        valid = load_split(cfg.data.path, cfg.data.valid_split, cfg.data.src, cfg.data.tgt)
        sources = [translator.encode(line) for line in valid.src[:check] if line.strip()]  # what translation feeds
        bad = check_scripted(model, scripted, sources, cfg)
        if bad:
            raise RuntimeError(f"export refused: scripted and eager translations differ on {bad} of {len(sources)} "
                               f"validation sentences")
        print(f"checked: scripted equals eager on {len(sources)} validation sentences", file=sys.stderr)
    with open(src_path, "rb") as f:
        src_bytes = f.read()
    with open(tgt_path, "rb") as f:
        tgt_bytes = f.read()
    export.save(scripted, output, src_bytes, tgt_bytes, meta)
    print(f"exported {ckpt_path} to {output}", file=sys.stderr)
    return meta


def export_run(run_dir: str, checkpoint: str | None, output: str, test_split: str | None) -> None:
    """Used by `train --export`: score the test split with the final model, then export."""
    export_path(checkpoint or run_dir, output, test_split=test_split)
