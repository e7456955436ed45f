"""Attention heatmaps as PNG files: source pieces across, target pieces down, one cell per weight a_ti.

matplotlib is imported only here, when a plot is asked for (`seq2seq translate --plot-attention DIR`); it comes
with the [train] extra. Files are written atomically.
"""

from __future__ import annotations

import os

from seq2seq.atomic import atomic_path


def require_matplotlib() -> None:
    """Fail before any translation if plots cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("--plot-attention needs matplotlib: pip install matplotlib (or the project's [train] "
                         "extra)") from None


def plot_attention(source: list[str], target: list[str], weights: list[list[float]], path: str) -> None:
    """Save one heatmap.

    :param source: the source pieces, EOS included (the columns)
    :param target: the target pieces, EOS included (the rows)
    :param weights: (len(target), len(source)) attention weights, each row summing to 1
    """
    if len(weights) != len(target) or any(len(row) != len(source) for row in weights):
        raise ValueError(f"attention: expected {len(target)} x {len(source)} weights")
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    width = min(2.0 + 0.35 * len(source), 40.0)
    height = min(1.5 + 0.3 * len(target), 40.0)
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(source)), source, rotation=90, fontsize=8)
        ax.set_yticks(range(len(target)), target, fontsize=8)
        ax.set_xlabel("source pieces")
        ax.set_ylabel("target pieces")
        fig.colorbar(image, ax=ax, fraction=0.03)
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
