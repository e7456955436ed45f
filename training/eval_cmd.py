"""`seq2seq evaluate`: translate a split with an exported model and score it with sacreBLEU and chrF."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from seq2seq.tokenizer import Tokenizer
from seq2seq.translator import SearchOptions, Translator
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.config import ExperimentConfig
from training.corpus import load_split
from training.evaluate import score
from training.io import atomic_write_text


def run_eval(translator: Translator, data: str, split: str, src: str, tgt: str, opts: SearchOptions,
             hyp_path: str) -> dict[str, Any]:
    corpus = load_split(data, split, src, tgt)
    started = time.time()
    hyps = [t.text for t in translator.translate(corpus.src, opts)]
    seconds = time.time() - started
    scores = score(hyps, corpus.tgt)
    atomic_write_text(hyp_path, "".join(h + "\n" for h in hyps))
    return {
        "split": corpus.name, "sentences": len(hyps), "beam_size": opts.beam_size,
        "bleu": round(scores.bleu, 2), "chrf": round(scores.chrf, 2),
        "bleu_signature": scores.bleu_text, "chrf_signature": scores.chrf_text,
        "seconds": round(seconds, 1), "sentences_per_s": round(len(hyps) / max(seconds, 1e-9), 1),
        "hypotheses": hyp_path,
    }


def evaluate_command(args: argparse.Namespace) -> int:
    translator = Translator.load(args.model, args.device)
    opts = translator.defaults
    if args.beam:
        opts = SearchOptions(args.beam, 1, opts.max_len_a, opts.max_len_b, opts.length_penalty)
    src, tgt = args.src or translator.src_lang, args.tgt or translator.tgt_lang
    hyp_path = args.output or f"{args.model}.{args.split}.hyp"
    result = run_eval(translator, args.data, args.split, src, tgt, opts, hyp_path)
    print(result["bleu_signature"])
    print(result["chrf_signature"])
    print(json.dumps(result), file=sys.stderr)
    return 0


def evaluate_checkpoint(run_dir: str, ckpt_path: str, cfg: ExperimentConfig, split: str) -> dict[str, Any]:
    """Score a checkpoint of a run on a split; results in RUN/eval/SPLIT.json and .hyp."""
    from training.export_cmd import tokenizer_paths

    model = model_from_checkpoint(load_checkpoint(ckpt_path), ckpt_path).eval()
    src_path, tgt_path = tokenizer_paths(run_dir)
    src_tok = Tokenizer.from_file(src_path)
    tgt_tok = src_tok if tgt_path == src_path else Tokenizer.from_file(tgt_path)
    s = cfg.search
    meta = {"src_lang": cfg.data.src, "tgt_lang": cfg.data.tgt}
    translator = Translator.from_model(model, src_tok, tgt_tok, meta)
    opts = SearchOptions(s.beam_size, 1, s.max_len_a, s.max_len_b, s.length_penalty)
    out_dir = os.path.join(run_dir, "eval")
    os.makedirs(out_dir, exist_ok=True)
    result = run_eval(translator, cfg.data.path, split, cfg.data.src, cfg.data.tgt, opts,
                      os.path.join(out_dir, f"{split}.hyp"))
    result["checkpoint"] = ckpt_path
    atomic_write_text(os.path.join(out_dir, f"{split}.json"), json.dumps(result, indent=2))
    print(result["bleu_signature"], file=sys.stderr)
    print(result["chrf_signature"], file=sys.stderr)
    return result
