"""A run's metrics: `metrics.csv`, TensorBoard events and `curves.png` (training and validation curves)."""

from __future__ import annotations

import csv
import os

from training.run import curves_path, metrics_path, tensorboard_dir


class MetricsLog:
    """metrics.csv, TensorBoard events and a PNG plot of the curves."""

    FIELDS = ("step", "epoch", "split", "loss", "bleu", "chrf", "tok_s", "lr")

    def __init__(self, run_dir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.csv_path = metrics_path(run_dir)
        new = not os.path.exists(self.csv_path)
        self.csv_file = open(self.csv_path, "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.csv_file, fieldnames=self.FIELDS)
        if new:
            self.writer.writeheader()
        self.tb = SummaryWriter(tensorboard_dir(run_dir))

    def add(self, step: int, epoch: int, split: str, **values: float) -> None:
        self.writer.writerow({"step": step, "epoch": epoch, "split": split, **values})
        self.csv_file.flush()
        for key, value in values.items():
            self.tb.add_scalar(f"{split}/{key}", value, step)

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with open(self.csv_path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for split in ("train", "valid"):
            pts = [(int(r["step"]), float(r["loss"])) for r in rows if r["split"] == split and r["loss"]]
            if pts:
                ax1.plot(*zip(*pts), label=f"{split} loss")
        pts = [(int(r["step"]), float(r["bleu"])) for r in rows if r["split"] == "valid" and r["bleu"]]
        if pts:
            ax2.plot(*zip(*pts), marker="o", label="valid BLEU")
        for ax in (ax1, ax2):
            ax.set_xlabel("step")
            ax.legend()
        fig.tight_layout()
        tmp = os.path.join(self.run_dir, ".curves.png")
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, curves_path(self.run_dir))

    def close(self) -> None:
        self.csv_file.close()
        self.tb.close()
