"""Where beam search spends its time: torch.profiler over test_2016_flickr, scripted and eager, by part of the step.

    python benchmarks/profile_search.py --model models/multi30k.pt [--beam 5] [--batch 64] [--threads 2]
                                        [--sentences 512] [--top 25]

The artifact's scripted search and an eager `Search` over the same weights (rebuilt from the artifact's
state dict and model config) translate the same batches. Each operator's self CPU time is assigned to a part
of the step by its name and shapes: the output layer (the product whose output width is the vocabulary),
log-softmax, the recurrent step (products of width G·H and the gates' elementwise work), attention, the
concat layer, top-k, and the bookkeeping of hypotheses (index_select, cat, gather, copies); what no operator
accounts for is the interpreter (Python, or TorchScript's own dispatch).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INPUT = os.path.join(ROOT, "data", "multi30k", "test_2016_flickr.de.gz")

MATMULS = {"aten::addmm", "aten::mm", "aten::matmul", "aten::linear", "aten::bmm", "aten::baddbmm"}
TOPK = {"aten::topk", "aten::sort", "aten::argsort", "aten::max", "aten::nonzero"}
BOOKKEEPING = {"aten::index_select", "aten::cat", "aten::gather", "aten::index_copy_", "aten::index_add_",
               "aten::copy_", "aten::repeat_interleave", "aten::masked_fill", "aten::index", "aten::select",
               "aten::slice", "aten::view", "aten::empty", "aten::fill_", "aten::full", "aten::zeros",
               "aten::item", "aten::_local_scalar_dense", "aten::to", "aten::_to_copy", "aten::clone",
               "aten::unsqueeze", "aten::squeeze", "aten::narrow", "aten::resize_", "aten::arange"}
RECURRENT_POINTWISE = {"aten::sigmoid", "aten::sigmoid_", "aten::tanh", "aten::tanh_", "aten::mul", "aten::add",
                       "aten::add_", "aten::chunk", "aten::unbind", "aten::split", "aten::unsafe_split",
                       "aten::stack", "aten::sub", "aten::addcmul"}


def part(name: str, shapes: list, V: int, gates: int, S_max: int) -> str:
    """The part of the search step an operator belongs to (see the module docstring)."""
    out_width = None
    if name in MATMULS and shapes:
        last = [s for s in shapes if isinstance(s, list) and len(s) == 2]
        widths = [s[1] for s in last]
        out_width = widths[-1] if widths else None
        if V in widths:
            return "output layer"
        if name in ("aten::bmm", "aten::baddbmm"):
            return "attention"
        if out_width == gates or gates in widths:
            return "recurrent step (products)"
        return "concat layer / other products"
    if name in ("aten::log_softmax", "aten::_log_softmax"):
        return "log-softmax"
    if name in ("aten::softmax", "aten::_softmax"):
        return "attention"
    if name in TOPK:
        return "top-k / argmax"
    if name in RECURRENT_POINTWISE:
        return "recurrent step (elementwise)"
    if name in BOOKKEEPING:
        return "bookkeeping (index, cat, copies)"
    if name == "aten::embedding":
        return "embedding"
    return "other operators"


def read_lines(path: str, n: int) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="exported artifact (.pt)")
    ap.add_argument("--input", default=DEFAULT_INPUT)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64, help="sentences per batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=512)
    ap.add_argument("--top", type=int, default=20, help="also list the N costliest operators")
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    import torch
    from torch.profiler import ProfilerActivity, profile

    from seq2seq.config import ModelConfig
    from seq2seq.model import Seq2Seq
    from seq2seq.search import Search
    from seq2seq.translator import SearchOptions, Translator, pad_batch

    torch.set_num_threads(args.threads)
    scripted = Translator.load(args.model)
    cfg = ModelConfig(**scripted.meta["model_config"])
    model = Seq2Seq(cfg)
    model.load_state_dict({k[len("model."):]: v for k, v in scripted.module.state_dict().items()
                           if k.startswith("model.")})
    eager = Translator(Search(model).eval(), scripted.meta, scripted.src_tok, scripted.tgt_tok)
    lines = [line for line in read_lines(args.input, args.sentences) if line.strip()]
    encoded = sorted((scripted.encode(line) for line in lines), key=len)
    batches = [encoded[i : i + args.batch] for i in range(0, len(encoded), args.batch)]
    opts = SearchOptions(beam_size=args.beam, n_best=1)
    V = cfg.tgt_vocab
    gates = {"lstm": 4, "gru": 3}.get(cfg.cell, 4) * cfg.dec_hidden
    print(f"{len(encoded)} sentences, batches of {args.batch}, beam {args.beam}, {args.threads} threads; "
          f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for label, tr in (("scripted", scripted), ("eager", eager)):
        for b in batches[:2]:  # warm up (TorchScript's profiling executor optimizes on the first runs)
            tr.translate_ids(b, opts)
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            started = time.perf_counter()
            for b in batches:
                src, lens = pad_batch(b)
                tr.module(src, lens, opts.beam_size, opts.n_best, float(opts.max_len_a), opts.max_len_b,
                          float(opts.length_penalty))
            wall = time.perf_counter() - started
        # Without the profiler (it slows small operators down): the figure to compare against other runs.
        started = time.perf_counter()
        for b in batches:
            tr.translate_ids(b, opts)
        plain = time.perf_counter() - started
        totals: dict[str, float] = defaultdict(float)
        ops: dict[str, float] = defaultdict(float)
        for ev in prof.key_averages(group_by_input_shape=True):
            if not ev.key.startswith("aten::"):
                continue
            us = ev.self_cpu_time_total
            totals[part(ev.key, ev.input_shapes, V, gates, 0)] += us
            ops[f"{ev.key} {ev.input_shapes}"] += us
        accounted = sum(totals.values()) / 1e6
        totals["interpreter (no operator)"] = max(0.0, wall - accounted) * 1e6
        print(f"\n## {label}: {len(encoded) / plain:.1f} sentences/s without the profiler "
              f"({plain:.2f} s); {wall:.2f} s profiled")
        print("| part | seconds | share |\n|---|---|---|")
        for name, us in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {us / 1e6:.3f} | {100 * us / 1e6 / wall:.1f} % |")
        if args.top:
            print(f"\ncostliest {args.top} operators (self CPU, by input shapes):")
            for key, us in sorted(ops.items(), key=lambda kv: -kv[1])[: args.top]:
                print(f"  {us / 1e6:8.3f} s  {key[:150]}")


if __name__ == "__main__":
    main()
