"""Short training runs that differ in one setting each, at a fixed number of updates, and their table.

  python benchmarks/sweep.py diagnose [--steps 150] [--jobs 2]     # what makes early learning slow
  python benchmarks/sweep.py ablation [--steps 1500] [--jobs 2]    # the six regularizers, two seeds each
  python benchmarks/sweep.py SUITE --table                          # print the table and write the PNG only

Every run is `seq2seq train --config configs/multi30k.yaml --max-steps N` in its own folder under
runs/sweep/SUITE/NAME, so the suite resumes where it stopped: a finished run is skipped, an interrupted one
resumes from its last checkpoint (the trainer's exact resume). A run stops at a number of updates, not of
minutes, so load beside it changes its speed but not its result. `--jobs 2` runs two at a time on one thread
each. The table gives the training loss (mean NLL per target token over the logged window) at fixed steps,
validation BLEU (greedy) at each validation, tokens/s and minutes; the PNG has the validation BLEU curves.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def _reg(where: str, **rates: float) -> list[str]:
    return [f"model.{side}_reg.{key}={value}" for side in where.split(",") for key, value in rates.items()]


ZERO = ["model.enc_reg.dropout=0", "model.dec_reg.dropout=0"] + NO_RECURRENT
# The ablation: every variant alone (emb/out dropout kept), none, and the best combination.
ABLATION = {
    "none": ZERO,
    "a_dropout": ZERO + _reg("enc,dec", dropout=0.3),
    "b_rnndrop": ZERO + _reg("enc,dec", rnndrop=0.1),
    "c_variational": ZERO + _reg("enc,dec", variational=0.2),
    "d_weight_drop": ZERO + _reg("enc,dec", weight_drop=0.2),
    "e_recurrent_dropout": ZERO + _reg("enc,dec", recurrent_dropout=0.2),
    "f_zoneout_c": ZERO + _reg("enc,dec", zoneout_c=0.1),
    "f_zoneout_h": ZERO + _reg("enc,dec", zoneout_h=0.05),
    "combo_a_e_f": ZERO + _reg("enc,dec", dropout=0.3, recurrent_dropout=0.1, zoneout_c=0.1),
}
SUITES = {"diagnose": (DIAGNOSE, BEFORE, [1]), "ablation": (ABLATION, [], [1, 2])}


def run_dir(suite: str, name: str, seed: int) -> str:
    return os.path.join(ROOT, "runs", "sweep", suite, f"{name}-s{seed}")


def command(suite: str, name: str, seed: int, args: argparse.Namespace) -> list[str]:
    variants, base, _ = SUITES[suite]
    sets = base + variants[name] + [f"train.seed={seed}", f"train.threads={args.threads}",
                                    f"train.valid_every={args.valid_every or args.steps}",
                                    "train.max_epochs=0", "train.max_minutes=0", "train.patience=0", "train.log_every=10",
                                    f"train.save_every={min(100, args.steps)}"] + list(args.set or [])
    cmd = [os.path.join(os.path.dirname(sys.executable), "seq2seq"), "train", "--config", args.config,
           "--run-dir", run_dir(suite, name, seed), "--max-steps", str(args.steps), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def done(path: str) -> bool:
    return os.path.exists(os.path.join(path, "checkpoints", "final.pt"))


def read_metrics(path: str) -> list[dict[str, str]]:
    f = os.path.join(path, "metrics.csv")
    if not os.path.exists(f):
        return []
    with open(f, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def table(suite: str, args: argparse.Namespace) -> str:
    variants, _, seeds = SUITES[suite]
    at = [s for s in (50, 100, 150, 200, 300, 500, 1000, 1500, 2000, 3000) if s <= args.steps]
    head = ["variant", "seed"] + [f"loss@{s}" for s in at] + ["valid BLEU (step)", "tok/s", "min"]
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
            lines.append("| " + " | ".join([name, str(seed)] + losses + [bleus, rate, minutes]) + " |")
    return "\n".join(lines)


def plot(suite: str, args: argparse.Namespace) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants, _, seeds = SUITES[suite]
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, name in enumerate(variants):
        for seed in seeds:
            pts = [(int(r["step"]), float(r["bleu"])) for r in read_metrics(run_dir(suite, name, seed))
                   if r["split"] == "valid" and r["bleu"]]
            if pts:
                ax.plot(*zip(*pts), color=f"C{i % 10}", linestyle="-" if seed == seeds[0] else "--",
                        marker="o", markersize=3, label=name if seed == seeds[0] else None)
    ax.set_xlabel("update")
    ax.set_ylabel("validation BLEU (greedy)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.join(ROOT, "runs", "sweep", f"{suite}.png")
    fig.savefig(out)
    plt.close(fig)
    return out


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
    variants, _, seeds = SUITES[args.suite]
    todo = [(n, s) for n in variants for s in seeds if (not args.only or n in args.only)]
    if not args.table:
        running: list[tuple[subprocess.Popen, str]] = []
        for name, seed in todo:
            path = run_dir(args.suite, name, seed)
            if done(path):
                continue
            while len(running) >= args.jobs:
                running = [(p, n) for p, n in running if p.poll() is None] or running
                if len(running) >= args.jobs:
                    time.sleep(5)
            os.makedirs(path, exist_ok=True)
            log = open(os.path.join(path, "sweep.out"), "a")
            print(f"start {name} seed {seed}", flush=True)
            running.append((subprocess.Popen(command(args.suite, name, seed, args), stdout=log,
                                             stderr=subprocess.STDOUT, cwd=ROOT), name))
        for p, name in running:
            if p.wait() != 0:
                print(f"{name}: exited {p.returncode}; see its sweep.out", file=sys.stderr)
    print(table(args.suite, args))
    print(f"curves: {plot(args.suite, args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
