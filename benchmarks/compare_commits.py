"""Before and after: this checkout's model code against another commit's, alternately in one process.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_commits.py /tmp/before [--rounds 6] [--bucketed] [--checkpoint CHECKPOINT]

Loads `seq2seq` from both trees (the other one under its own module objects), builds the same models from the
same seed, and runs them in turn on the same batches: training steps (batch 64, the shapes of rnn_speed.py,
zoneout + recurrent dropout on, then no option that needs the custom loop) and, given a checkpoint, greedy and
beam-5 decoding, eager and TorchScript. Each side trains the way its own code allows (packed targets when its
forward takes `tgt_lens`). Prints tokens/s and sentences/s of both and the ratio after/before; the machine is
noisy, so only ratios from one run mean anything.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import statistics
import sys
import time
from types import ModuleType

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import rnn_speed as R  # noqa: E402 (the shapes, batches and training step of the recurrent benchmark)

REGULARIZERS = {
    "zoneout+recdrop": dict(dropout=0.3, zoneout_c=0.1, zoneout_h=0.1, recurrent_dropout=0.1),
    "no loop options": dict(dropout=0.3),
}


def import_tree(root: str, names: list[str]) -> list[ModuleType]:
    """Import `names` from the tree at `root`, after dropping every seq2seq/training module already loaded."""
    for name in [n for n in sys.modules if n.split(".")[0] in ("seq2seq", "training")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        return [importlib.import_module(n) for n in names]
    finally:
        sys.path.remove(root)


def bench_training(trees: dict[str, str], rounds: int, bucketed: bool) -> None:
    models: dict[str, torch.nn.Module] = {}
    packed: dict[str, bool] = {}
    for side, root in trees.items():
        config, model = import_tree(root, ["seq2seq.config", "seq2seq.model"])
        for label, reg in REGULARIZERS.items():
            torch.manual_seed(0)
            cfg = config.ModelConfig(src_vocab=R.V, tgt_vocab=R.V, emb_dim=R.E, enc_hidden=R.HE, dec_hidden=R.HD,
                                     enc_reg=config.Regularizers(**reg), dec_reg=config.Regularizers(**reg),
                                     emb_dropout=0.3, out_dropout=0.3)
            models[f"{side}, {label}"] = model.Seq2Seq(cfg).train()
            packed[f"{side}, {label}"] = "tgt_lens" in inspect.signature(model.Seq2Seq.forward).parameters
    opts = {k: torch.optim.Adam(m.parameters()) for k, m in models.items()}
    g = torch.Generator().manual_seed(0)
    batches = [R.batch(g, bucketed) for _ in range(rounds + 1)]
    tokens = sum(int(b[3].sum()) for b in batches[1:])
    times: dict[str, list[float]] = {k: [] for k in models}
    for r, b in enumerate(batches):
        for name, model in models.items():  # alternate: every round runs each model once on the same batch
            seconds, _ = R.train_step(model, opts[name], *b, packed[name])
            if r:  # round 0 warms up
                times[name].append(seconds)
    print(f"training, batch {R.B}, {rounds} rounds, {'bucketed' if bucketed else 'unsorted'} batches")
    for name, ts in times.items():
        print(f"  {name:<28} {tokens / sum(ts):7.0f} tgt tok/s   median step {statistics.median(ts) * 1000:5.0f} ms")
    for label in REGULARIZERS:
        ratio = sum(times[f"before, {label}"]) / sum(times[f"after, {label}"])
        print(f"  {label}: after/before {ratio:.2f}x")


def bench_decoding(trees: dict[str, str], checkpoint: str) -> None:
    searches = {}
    for side, root in trees.items():
        ckpt, search = import_tree(root, ["training.checkpoint", "seq2seq.search"])
        eager = search.Search(ckpt.model_from_checkpoint(ckpt.load_checkpoint(checkpoint), checkpoint)).eval()
        searches[f"{side} eager"], searches[f"{side} scripted"] = eager, torch.jit.script(eager)
    data = R.source_batches(4, searches["after eager"].model.encoder.embed.num_embeddings)
    print(f"decoding {len(data) * R.B} sentences, batch {R.B}, {checkpoint}")
    with torch.inference_mode():
        for beam in (1, 5):
            rates: dict[str, float] = {}
            for _ in range(3):  # alternate; keep the best of each
                for name, module in searches.items():
                    module(*data[0], beam, 1)  # warm-up
                    started = time.perf_counter()
                    for src, lens in data:
                        module(src, lens, beam, 1)
                    rates[name] = max(rates.get(name, 0.0), len(data) * R.B / (time.perf_counter() - started))
            cells = "   ".join(f"{k} {v:6.1f}" for k, v in rates.items())
            print(f"  beam {beam}: {cells} sent/s   after/before: eager "
                  f"{rates['after eager'] / rates['before eager']:.2f}x, scripted "
                  f"{rates['after scripted'] / rates['before scripted']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="a worktree of the commit to compare against")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--bucketed", action="store_true", help="batches like the trainer's (see rnn_speed.py)")
    parser.add_argument("--checkpoint", help="a trained checkpoint for the decoding figures")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.before, "seq2seq", "model.py")):
        parser.error(f"{args.before}: not a tree of this project (no seq2seq/model.py)")
    torch.set_num_threads(args.threads)
    trees = {"after": ROOT, "before": os.path.abspath(args.before)}
    bench_training(trees, args.rounds, args.bucketed)
    if args.checkpoint:
        bench_decoding(trees, args.checkpoint)


if __name__ == "__main__":
    main()
