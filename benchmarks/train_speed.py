"""Training speed of the real trainer against this machine's matrix-multiply limit, in one process.

    python benchmarks/train_speed.py [--config configs/multi30k.yaml] [--warmup 20] [--steps 60] [--threads 2]

1. Runs `Trainer` (data loading, forward, backward, clipping, Adam: the code `seq2seq train` runs) on the config,
   zoneout and recurrent dropout as the config has them, for --warmup + --steps updates in a temporary run folder
   (no validation before the end, none of its time counted), and reads the target tokens/s of the updates after
   the warm-up from its metrics.csv.
2. Counts the matrix-multiply FLOPs per target token of those updates' batches with
   `torch.utils.flop_counter.FlopCounterMode` (forward and backward of `batch_loss`: mm, addmm, bmm, baddbmm).
3. Measures the matmul limit in the same process and threads: GFLOP/s of float32 GEMMs of the model's own
   shapes, the best of M in (batch rows 64, 512, 4096) against each weight's (K, N), best of several tries;
   with `--set train.amp=bf16` also in bfloat16, the type autocast gives those products, and the ratio to it.
Prints tokens/s, GFLOP/s achieved, the limit, and their ratio. Run it with the machine to itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from training.batching import token_batches  # noqa: E402
from training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from training.config import load_config  # noqa: E402
from training.trainer import Trainer, batch_loss, prepare_data, read_corpora  # noqa: E402


def gemm_limit(shapes: set[tuple[int, int]], tries: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """The best GFLOP/s of (M, K) @ (K, N) in `dtype` over the given (K, N) and M in (64, 512, 4096)."""
    best = 0.0
    for k, n in sorted(shapes):
        b = torch.randn(k, n).to(dtype)
        for m in (64, 512, 4096):
            a = torch.randn(m, k).to(dtype)
            reps = max(1, int(2e9 / (2 * m * k * n)))  # about 2 GFLOP a try
            a @ b
            for _ in range(tries):
                start = time.perf_counter()
                for _ in range(reps):
                    a @ b
                best = max(best, 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "multi30k.yaml"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "multi30k"))
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="extra config override")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    sets = [f"data.path={args.data}", f"train.threads={args.threads}", "train.valid_every=0", "train.save_every=0",
            "train.log_every=10", "train.keep_best=1", "train.max_epochs=0", "train.max_minutes=0",
            f"train.max_steps={total}", "train.patience=0",
            "train.reg_start_step=0", "train.reg_ramp_steps=0", *args.set]  # the regularizers at full rate
    cfg = load_config(args.config, sets)
    with tempfile.TemporaryDirectory() as run_dir:
        Trainer(cfg, run_dir, progress=False).run()
        with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == "train" and int(r["step"]) > args.warmup]
        tok_s = sum(float(r["tok_s"]) for r in rows) / len(rows)
        data = prepare_data(cfg, run_dir, lambda _: None, read_corpora(cfg))
        net = model_from_checkpoint(load_checkpoint(os.path.join(run_dir, "checkpoints", "last.pt"))).train()
    t = cfg.train
    batches = token_batches([len(s) for s in data.src_ids], [len(s) - 1 for s in data.tgt_ids], t.max_tokens,
                            True, t.seed, 0)[args.warmup : total]
    flops, tokens = 0, 0
    for idx in batches[:10]:  # ten of the measured batches
        with FlopCounterMode(display=False) as counter:
            loss, _, ntok = batch_loss(net, [data.src_ids[i] for i in idx], [data.tgt_ids[i] for i in idx],
                                       torch.device("cpu"), t.label_smoothing)
            (loss / ntok).backward()
        flops, tokens = flops + counter.get_total_flops(), tokens + ntok
        net.zero_grad(set_to_none=True)
    per_token = flops / tokens
    shapes = {(p.size(1), p.size(0)) for p in net.parameters() if p.dim() == 2}
    shapes |= {(p.size(-1), p.size(-2)) for p in net.parameters() if p.dim() == 3}  # (D, G*H, I) layer weights
    limit = gemm_limit(shapes)
    achieved = tok_s * per_token / 1e9
    print(f"{torch.get_num_threads()} threads; {args.steps} updates after {args.warmup} warm-up updates")
    print(f"target tokens/s        {tok_s:,.0f}")
    print(f"matmul FLOPs per token {per_token / 1e6:,.1f} M (forward + backward)")
    print(f"achieved               {achieved:,.1f} GFLOP/s")
    print(f"matmul limit           {limit:,.1f} GFLOP/s (float32 GEMMs of the model's weight shapes)")
    print(f"ratio to the limit     {achieved / limit:.2f}")
    if cfg.train.amp != "none":  # the products run in the autocast type: its own limit is the one that holds
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[cfg.train.amp]
        low = gemm_limit(shapes, dtype=dtype)
        print(f"{cfg.train.amp} matmul limit      {low:,.1f} GFLOP/s; ratio to it {achieved / low:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
