"""Short training runs that differ in one setting each, at a fixed number of updates, and their table.

  python benchmarks/sweep.py diagnose [--steps 150] [--jobs 2]     # what makes early learning slow
  python benchmarks/sweep.py ablation --steps 1500 --valid-every 150  # the six regularizers, 2 seeds (make ablation)
  python benchmarks/sweep.py SUITE --table                          # print the table and write the PNG only

Every run is `seq2seq train --config configs/multi30k.yaml --max-steps N` in its own folder under
runs/sweep/SUITE/NAME, so the suite resumes where it stopped: a finished run is skipped, an interrupted one
resumes from its last checkpoint (the trainer's exact resume). A run stops at a number of updates, not of
minutes, so load beside it changes its speed but not its result. `--jobs 2` runs two at a time on one thread
each. The table gives the training loss at fixed updates (NLL per target token of that update's batch, the same
batch in every run with the same max_tokens and seed),
validation BLEU (greedy) at each validation, tokens/s and minutes; the PNG has the validation BLEU curves.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = "test_2016_flickr"

# One change at a time from the reference configuration as it was (the "before" column of BENCHMARKS.md).
BEFORE = ["train.init=torch", "train.forget_bias=0", "model.bridge=linear", "train.label_smoothing=0.1",
          "train.max_tokens=3000", "train.clip_norm=5.0", "train.lr=0.001", "train.warmup_steps=0",
          "train.reg_start_step=0", "train.reg_ramp_steps=0",
          "model.enc_reg.recurrent_dropout=0.1", "model.enc_reg.zoneout_c=0.1",
          "model.dec_reg.recurrent_dropout=0.1", "model.dec_reg.zoneout_c=0.1"]
NO_RECURRENT = ["model.enc_reg.recurrent_dropout=0", "model.enc_reg.zoneout_c=0",
                "model.dec_reg.recurrent_dropout=0", "model.dec_reg.zoneout_c=0"]

DIAGNOSE = {
    "before": [],
    "init_uniform": ["train.init=uniform", "train.init_scale=0.1"],
    "init_xavier": ["train.init=xavier"],
    "forget_bias_1": ["train.forget_bias=1"],
    "bridge_zeros": ["model.bridge=zeros"],
    "no_label_smoothing": ["train.label_smoothing=0"],
    "no_zoneout_recdrop": NO_RECURRENT,
    "tokens_4096": ["train.max_tokens=4096"],
    "clip_1": ["train.clip_norm=1.0"],
    "lr_2e-3": ["train.lr=0.002"],
    "lr_3e-3_warmup": ["train.lr=0.003", "train.warmup_steps=100"],
}


# The same, from the reference with OpenNMT-py's initialization (the first finding), one change at a time.
UNIFORM = BEFORE + ["train.init=uniform", "train.init_scale=0.1"]
DIAGNOSE_UNIFORM = {
    "u_no_zoneout_recdrop": NO_RECURRENT,
    "u_lr_2e-3": ["train.lr=0.002"],
    "u_anneal_0.3": ["train.anneal=0.3", "train.schedule=constant"],
    "u_no_label_smoothing": ["train.label_smoothing=0"],
    "u_tokens_4096": ["train.max_tokens=4096"],
    "u_clip_1": ["train.clip_norm=1.0"],
    "u_bridge_zeros": ["model.bridge=zeros"],
}


def _reg(where: str, **rates: float) -> list[str]:
    return [f"model.{side}_reg.{key}={value}" for side in where.split(",") for key, value in rates.items()]


ZERO = ["model.enc_reg.dropout=0", "model.dec_reg.dropout=0"] + NO_RECURRENT
# The ablation of the six variants (docs/design.md §2): none; each alone at two rates (the better rate is its
# tuned one); the best combination; every regularizer from the first update (no schedule). On a smaller network
# than the reference (embeddings 128, encoder 2 × 128 per direction, decoder 2 × 256: about a third of the
# reference's time per update), so that the 2 × 16 runs fit a few sittings; emb/out dropout stay at 0.3.
SMALL = ["model.emb_dim=128", "model.enc_hidden=128", "model.dec_hidden=256",
         "train.reg_start_step=0", "train.reg_ramp_steps=0", "train.anneal=0"]
RATES = {"dropout": (0.2, 0.4), "rnndrop": (0.1, 0.25), "variational": (0.1, 0.25), "weight_drop": (0.2, 0.4),
         "recurrent_dropout": (0.1, 0.25), "zoneout_c": (0.1, 0.25), "zoneout_h": (0.05, 0.15)}
LETTER = {"dropout": "a", "rnndrop": "b", "variational": "c", "weight_drop": "d", "recurrent_dropout": "e",
          "zoneout_c": "f", "zoneout_h": "f"}
ABLATION = {"none": ZERO}
for _key, _rates in RATES.items():
    for _rate in _rates:
        ABLATION[f"{LETTER[_key]}_{_key}_{_rate:g}"] = ZERO + _reg("enc,dec", **{_key: _rate})
ABLATION["combo_a_e_f"] = ZERO + _reg("enc,dec", dropout=0.3, recurrent_dropout=0.1, zoneout_c=0.1)
# The reference configuration's regularizers since the retrain: between-layer dropout and weight drop.
ABLATION["combo_a_d"] = ZERO + _reg("enc,dec", dropout=0.3, weight_drop=0.2)
SUITES = {"diagnose": (DIAGNOSE, BEFORE, [1]), "diagnose_uniform": (DIAGNOSE_UNIFORM, UNIFORM, [1]),
          "ablation": (ABLATION, SMALL, [1, 2])}


# Where the runs go; a sweep may run from a separate worktree (so that edits here cannot reach a run under way)
# and still write beside this checkout's other runs.
RUNS = os.environ.get("SWEEP_RUNS", os.path.join(ROOT, "runs", "sweep"))


# What a finished run leaves for the table (metrics.csv, its test score, its log's first and last lines), kept
# in the repository: runs/ does not outlive a checkout, these do, and a run found here is not run again.
RESULTS = os.environ.get("SWEEP_RESULTS", os.path.join(ROOT, "benchmarks", "results"))
KEPT = ("metrics.csv", os.path.join("eval", f"{TEST}.json"), "train.log")


def run_dir(suite: str, name: str, seed: int) -> str:
    """The run's folder, or where its results are kept once it finished (`keep`)."""
    kept = os.path.join(RESULTS, suite, f"{name}-s{seed}")
    return kept if os.path.isdir(kept) else os.path.join(RUNS, suite, f"{name}-s{seed}")


def keep(suite: str, path: str) -> None:
    """Copy a finished, scored run's results under benchmarks/results (the log cut to its first and last line)."""
    dest = os.path.join(RESULTS, suite, os.path.basename(path))
    for rel in KEPT:
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        with open(os.path.join(path, rel), encoding="utf-8") as fh:
            text = fh.read()
        if rel == "train.log":
            stamped = [ln for ln in text.splitlines(keepends=True) if ln[:4].isdigit()]
            text = "".join(stamped[:1] + stamped[-1:])
        with open(os.path.join(dest, rel), "w", encoding="utf-8") as fh:
            fh.write(text)


def command(suite: str, name: str, seed: int, args: argparse.Namespace) -> list[str]:
    variants, base, _ = SUITES[suite]
    sets = base + variants[name] + [f"train.seed={seed}", f"train.threads={args.threads}",
                                    f"train.valid_every={args.valid_every or args.steps}",
                                    "train.max_epochs=0", "train.max_minutes=0", "train.patience=0",
                                    "train.log_every=10",
                                    f"train.save_every={min(100, args.steps)}"] + list(args.set or [])
    cmd = [sys.executable, "-m", "seq2seq.cli", "train", "--config", args.config,
           "--run-dir", run_dir(suite, name, seed), "--max-steps", str(args.steps), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def export_command(path: str) -> list[str]:
    """Score the run's final model on the test split with beam 5 (its eval/ folder) and write its artifact."""
    return [sys.executable, "-m", "seq2seq.cli", "export", path, "-o",
            os.path.join(path, "model.pt"), "--test-split", TEST, "--check-sentences", "0"]


def test_bleu(path: str) -> str:
    f = os.path.join(path, "eval", f"{TEST}.json")
    if not os.path.exists(f):
        return ""
    with open(f, encoding="utf-8") as fh:
        return f"{json.load(fh)['bleu']:.2f}"


def done(path: str) -> bool:
    return path.startswith(RESULTS) or os.path.exists(os.path.join(path, "checkpoints", "final.pt"))


def read_metrics(path: str) -> list[dict[str, str]]:
    f = os.path.join(path, "metrics.csv")
    if not os.path.exists(f):
        return []
    with open(f, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def table(suite: str, args: argparse.Namespace) -> str:
    variants, _, seeds = SUITES[suite]
    at = [s for s in (50, 100, 150, 200, 300, 500, 1000, 1500, 2000, 3000) if s <= args.steps]
    head = ["variant", "seed"] + [f"loss@{s}" for s in at] + ["valid BLEU (step)", "test BLEU", "tok/s", "min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in variants:
        for seed in seeds:
            rows = read_metrics(run_dir(suite, name, seed))
            train = {int(r["step"]): r for r in rows if r["split"] == "train"}
            valid = [r for r in rows if r["split"] == "valid" and r["bleu"]]
            losses = [f"{float(train[s]['loss']):.3f}" if s in train else "" for s in at]
            bleus = ", ".join(f"{float(r['bleu']):.2f} ({r['step']})" for r in valid)
            rates = [float(r["tok_s"]) for r in train.values() if r["tok_s"]]
            minutes = ""
            log = os.path.join(run_dir(suite, name, seed), "train.log")
            if os.path.exists(log):
                with open(log, encoding="utf-8") as fh:
                    stamps = [ln[:19] for ln in fh if ln[:4].isdigit()]
                if len(stamps) > 1:
                    t0, t1 = (time.mktime(time.strptime(s, "%Y-%m-%d %H:%M:%S")) for s in (stamps[0], stamps[-1]))
                    minutes = f"{(t1 - t0) / 60:.1f}"
            rate = f"{sum(rates) / len(rates):.0f}" if rates else ""
            cells = [name, str(seed)] + losses + [bleus, test_bleu(run_dir(suite, name, seed)), rate, minutes]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(suite: str, args: argparse.Namespace) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants, _, seeds = SUITES[suite]
    colors = plt.get_cmap("tab20").colors
    fig, ax = plt.subplots(figsize=(11, 6))
    for i, name in enumerate(variants):
        for seed in seeds:
            pts = [(int(r["step"]), float(r["bleu"])) for r in read_metrics(run_dir(suite, name, seed))
                   if r["split"] == "valid" and r["bleu"]]
            if pts:
                ax.plot(*zip(*pts), color=colors[i % len(colors)], linestyle="-" if seed == seeds[0] else "--",
                        marker="o", markersize=3, label=name if seed == seeds[0] else None)
    ax.set_xlabel("update")
    ax.set_ylabel("validation BLEU (greedy)")
    ax.set_title(f"{suite}: solid seed {seeds[0]}" + (f", dashed seed {seeds[1]}" if len(seeds) > 1 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    # beside the results it is drawn from, so that a checkout without runs/ can redraw it
    out = os.path.join(RESULTS, f"{suite}.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def pending(path: str) -> bool:
    """Not yet trained, or not yet scored on the test split."""
    return not (done(path) and test_bleu(path))


def last_bleu(path: str) -> float | None:
    """The run's last validation BLEU, once it has finished."""
    if not done(path):
        return None
    valid = [float(r["bleu"]) for r in read_metrics(path) if r["split"] == "valid" and r["bleu"]]
    return valid[-1] if valid else None


def tuned(suite: str, name: str) -> bool:
    """Whether `name` is worth a second seed: in the ablation, of a regularizer's two rates only the one whose
    first-seed run ended with the higher validation BLEU (the rate "tuned" for it) gets one; a variant with no
    rival rate always does. Undecided (a rival still running) counts as no, and the next pass decides."""
    if suite != "ablation":
        return True
    rivals = [n for n in SUITES[suite][0] if n != name and n.rsplit("_", 1)[0] == name.rsplit("_", 1)[0]]
    if not rivals:
        return True
    mine = last_bleu(run_dir(suite, name, 1))
    theirs = [last_bleu(run_dir(suite, n, 1)) for n in rivals]
    if mine is None or any(t is None for t in theirs):
        return False
    return all(mine >= t for t in theirs)


def plan(suite: str, only: list[str] | None) -> list[tuple[str, int]]:
    """Every first-seed run, then the further seeds of the variants `tuned` says are worth one."""
    variants, _, seeds = SUITES[suite]
    names = [n for n in variants if not only or n in only]
    todo = [(n, seeds[0]) for n in names]
    return todo + [(n, s) for s in seeds[1:] for n in names if tuned(suite, n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", choices=sorted(SUITES))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "multi30k.yaml"))
    ap.add_argument("--steps", type=int, default=150, help="updates per run")
    ap.add_argument("--valid-every", type=int, default=0, help="validate every N updates (default: at the end)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--only", nargs="+", help="these variants only")
    ap.add_argument("--set", action="append", help="extra override for every run")
    ap.add_argument("--table", action="store_true", help="print the table and write the PNG, run nothing")
    args = ap.parse_args()
    if not args.table:
        running: dict[str, subprocess.Popen] = {}  # run folder -> its job
        failed: set[str] = set()  # not retried in this pass: see its sweep.out
        while True:
            for path, p in list(running.items()):
                if p.poll() is not None:
                    del running[path]
                    if p.returncode:
                        failed.add(path)
                        print(f"failed (exit {p.returncode}): {os.path.join(path, 'sweep.out')}", flush=True)
                    else:
                        keep(args.suite, path)
            # Planned again after every start: a second seed is decided once its variant's rivals have finished.
            waiting = [(n, s) for n, s in plan(args.suite, args.only) if pending(run_dir(args.suite, n, s))
                       and run_dir(args.suite, n, s) not in running.keys() | failed]
            if not waiting and not running:
                break
            if not waiting or len(running) >= args.jobs:
                time.sleep(5)
                continue
            name, seed = waiting[0]
            path = run_dir(args.suite, name, seed)
            os.makedirs(path, exist_ok=True)
            print(f"start {name} seed {seed}", flush=True)
            # One shell job: train (resuming if interrupted), then score the test split.
            steps = ([] if done(path) else [command(args.suite, name, seed, args)]) + [export_command(path)]
            job = " && ".join(shlex.join(c) for c in steps)
            with open(os.path.join(path, "sweep.out"), "a") as log:
                running[path] = subprocess.Popen(["bash", "-c", job], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    print(table(args.suite, args))
    print(f"curves: {plot(args.suite, args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
