"""A run's metrics: `metrics.csv`, TensorBoard events and `curves.png` (training and validation curves)."""

from __future__ import annotations

import csv
import os

from seq2seq.atomic import atomic_file, atomic_path
from training.run import curves_path, metrics_path, tensorboard_dir


class MetricsLog:
    """metrics.csv, TensorBoard events and a PNG plot of the curves.

    A run that (re)starts from a checkpoint redoes what came after it, so what was logged after it is dropped
    first: metrics.csv keeps its first `rows` rows (the count the checkpoint recorded) or, for a checkpoint that
    did not record one, the rows of updates up to `step`; TensorBoard hides the events after `step`. A run that
    starts over (step 0, rows 0) keeps nothing.
    """

    FIELDS = ("step", "epoch", "split", "loss", "bleu", "chrf", "tok_s", "lr")

    def __init__(self, run_dir: str, step: int = 0, rows: int | None = 0):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.csv_path = metrics_path(run_dir)
        kept = self._kept_rows(step, rows)
        with atomic_file(self.csv_path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        self.rows = len(kept)
        self.csv_file = open(self.csv_path, "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.csv_file, fieldnames=self.FIELDS)
        self.tb = SummaryWriter(tensorboard_dir(run_dir), purge_step=step + 1)

    def _kept_rows(self, step: int, rows: int | None) -> list[dict[str, str]]:
        if not os.path.exists(self.csv_path):
            return []
        with open(self.csv_path, newline="", encoding="utf-8") as f:
            logged = [{k: v for k, v in row.items() if k in self.FIELDS} for row in csv.DictReader(f)]
        if rows is not None:
            return logged[:rows]
        return [row for row in logged if (row.get("step") or "").isdigit() and int(row["step"]) <= step]

    def add(self, step: int, epoch: int, split: str, **values: float) -> None:
        self.writer.writerow({"step": step, "epoch": epoch, "split": split, **values})
        self.csv_file.flush()
        self.rows += 1
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
        with atomic_path(curves_path(self.run_dir)) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)

    def close(self) -> None:
        self.csv_file.close()
        self.tb.close()
