"""`seq2seq evaluate`: translate a split with an exported model and score it with sacreBLEU and chrF."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any

from seq2seq.translator import SearchOptions, Translator
from training.config import ExperimentConfig
from training.corpus import load_split
from training.evaluate import score
from training.io import atomic_write_text
from training.run import eval_paths


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
        "length_penalty": opts.length_penalty, "max_len_a": opts.max_len_a, "max_len_b": opts.max_len_b,
        "bleu": round(scores.bleu, 2), "chrf": round(scores.chrf, 2),
        "bp": round(scores.bp, 4), "ratio": round(scores.ratio, 4),
        "bleu_signature": scores.bleu_text, "chrf_signature": scores.chrf_text,
        "seconds": round(seconds, 1), "sentences_per_s": round(len(hyps) / max(seconds, 1e-9), 1),
        "hypotheses": hyp_path,
    }


def evaluate_command(args: argparse.Namespace) -> int:
    translator = Translator.load(args.model, args.device)
    opts = translator.defaults
    if args.beam is not None:
        opts = replace(opts, beam_size=args.beam)
    src, tgt = args.src or translator.src_lang, args.tgt or translator.tgt_lang
    penalties = args.length_penalty or [opts.length_penalty]
    for penalty in penalties:  # every value checked before any is scored
        replace(opts, length_penalty=penalty).validate()
    hyp_path = args.output or f"{args.model}.{args.split}.hyp"
    results = []
    for penalty in penalties:
        tried = replace(opts, length_penalty=penalty)
        path = hyp_path if len(penalties) == 1 else f"{hyp_path}.lp{penalty:g}"
        result = run_eval(translator, args.data, args.split, src, tgt, tried, path)
        print(result["bleu_signature"])
        print(result["chrf_signature"])
        print(json.dumps(result), file=sys.stderr)
        results.append(result)
    if len(results) > 1:
        print(f"{'length_penalty':>14} {'BLEU':>6} {'chrF':>6} {'BP':>6} {'ratio':>6}")
        for r in results:
            print(f"{r['length_penalty']:>14g} {r['bleu']:>6.2f} {r['chrf']:>6.2f} {r['bp']:>6.3f} {r['ratio']:>6.3f}")
        best = max(results, key=lambda r: r["bleu"])
        alpha = f"{best['length_penalty']:g}"
        print(f"best: length_penalty {alpha} (BLEU {best['bleu']:.2f}); store it in an artifact with "
              f"`seq2seq export RUN --length-penalty {alpha}`")
    return 0


def evaluate_checkpoint(translator: Translator, run_dir: str, cfg: ExperimentConfig, split: str,
                        ckpt_path: str, step: int) -> dict[str, Any]:
    """Score a run's checkpoint, loaded in `translator`, on a split with the translator's search defaults (the
    run's search settings, and the options of the artifact it is exported as: shortlist, int8).

    The results in RUN/eval/SPLIT.json are reused when they are of this checkpoint and these settings
    (a resumed run rewrites final.pt); otherwise the split is translated again, and .json and .hyp rewritten.
    """
    opts = translator.defaults
    json_path, hyp_path = eval_paths(run_dir, split)
    wanted = {"checkpoint": ckpt_path, "step": step, "beam_size": opts.beam_size,
              "length_penalty": opts.length_penalty, "max_len_a": opts.max_len_a, "max_len_b": opts.max_len_b,
              "stop": opts.stop, "shortlist": translator.meta.get("shortlist") if opts.shortlist else None,
              "int8": bool(translator.meta.get("int8"))}
    if os.path.isfile(json_path):
        with open(json_path, encoding="utf-8") as f:
            result = json.load(f)
        if {k: result.get(k) for k in wanted} == wanted:
            return result
    result = run_eval(translator, cfg.data.path, split, cfg.data.src, cfg.data.tgt, opts, hyp_path)
    result["checkpoint"], result["step"] = ckpt_path, step
    result.update({k: wanted[k] for k in ("stop", "shortlist", "int8")})
    atomic_write_text(json_path, json.dumps(result, indent=2))
    print(result["bleu_signature"], file=sys.stderr)
    print(result["chrf_signature"], file=sys.stderr)
    return result
