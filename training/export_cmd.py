"""`seq2seq export`: a run folder or checkpoint → one TorchScript artifact, checked against the eager model."""

from __future__ import annotations

import json
import os
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


def resolve(source: str) -> tuple[str, str]:
    """(run folder, checkpoint path) from either of them."""
    if os.path.isdir(source):
        for name in ("final.pt", "last.pt"):
            path = os.path.join(source, "checkpoints", name)
            if os.path.isfile(path):
                return source, path
        raise CheckpointError(f"{source}: no checkpoints/final.pt or checkpoints/last.pt in this run folder")
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(source)))
    return run_dir, source


def tokenizer_paths(run_dir: str) -> tuple[str, str]:
    joint = os.path.join(run_dir, "spm.model")
    if os.path.isfile(joint):
        return joint, joint
    src, tgt = os.path.join(run_dir, "spm.src.model"), os.path.join(run_dir, "spm.tgt.model")
    if not (os.path.isfile(src) and os.path.isfile(tgt)):
        raise FileNotFoundError(f"{run_dir}: no SentencePiece models (spm.model or spm.src/tgt.model)")
    return src, tgt


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
    run_dir, ckpt_path = resolve(source)
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, ckpt_path).eval()
    cfg = load_config(os.path.join(run_dir, "config.yaml"))
    if length_penalty is not None:
        replace(cfg.search.options(), length_penalty=length_penalty).validate()
        cfg = replace(cfg, search=replace(cfg.search, length_penalty=length_penalty))
    src_path, tgt_path = tokenizer_paths(run_dir)
    src_tok = Tokenizer.from_file(src_path)
    tgt_tok = Tokenizer.from_file(tgt_path)
    if len(src_tok) != model.encoder.embed.num_embeddings or len(tgt_tok) != model.decoder.embed.num_embeddings:
        raise CheckpointError(f"{ckpt_path}: vocabulary sizes differ from the run's SentencePiece models")
    s = cfg.search
    meta: dict[str, Any] = {
        "src_lang": cfg.data.src, "tgt_lang": cfg.data.tgt, "model_config": ckpt["model_config"],
        "training_data": cfg.data.path, "train_split": cfg.data.train_split, "step": ckpt["step"],
        "search": asdict(s.options()),
        "max_src_tokens": 250,
    }
    if test_split:
        scored = os.path.join(run_dir, "eval", f"{test_split}.json")
        evaluation = {}
        if os.path.isfile(scored):
            with open(scored, encoding="utf-8") as f:
                evaluation = json.load(f)
        wanted = {"checkpoint": ckpt_path, "step": ckpt["step"], "beam_size": s.beam_size,
                  "length_penalty": s.length_penalty, "max_len_a": s.max_len_a, "max_len_b": s.max_len_b}
        if {k: evaluation.get(k) for k in wanted} != wanted:
            # score this very checkpoint (a resumed run rewrites final.pt) with these search settings
            from training.eval_cmd import evaluate_checkpoint

            evaluation = evaluate_checkpoint(run_dir, ckpt_path, cfg, test_split)
        meta["evaluation"] = evaluation
    scripted = export.script(model)
    if check > 0:
        valid = load_split(cfg.data.path, cfg.data.valid_split, cfg.data.src, cfg.data.tgt)
        encode = Translator.from_model(model, src_tok, tgt_tok, meta).encode  # what translation feeds the model
        sources = [encode(line) for line in valid.src[:check] if line.strip()]
        bad = check_scripted(model, scripted, sources, cfg)
        if bad:
            raise RuntimeError(f"export refused: scripted and eager translations differ on {bad} of {len(sources)} "
                               f"validation sentences")
        print(f"checked: scripted equals eager on {len(sources)} validation sentences", file=sys.stderr)
    with open(src_path, "rb") as f:
        src_bytes = f.read()
    with open(tgt_path, "rb") as f:
        tgt_bytes = f.read()
    export.save(model, output, src_bytes, tgt_bytes, meta)
    print(f"exported {ckpt_path} to {output}", file=sys.stderr)
    return meta


def export_run(run_dir: str, checkpoint: str | None, output: str, test_split: str | None) -> None:
    """Used by `train --export`: score the test split with the final model, then export."""
    _, ckpt_path = resolve(checkpoint or run_dir)
    export_path(ckpt_path, output, test_split=test_split)
