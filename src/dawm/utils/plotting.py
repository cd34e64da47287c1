"""Figures written to files: matplotlib's pyplot on the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

from dawm.utils.checkpoint import atomic_write


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: plotting is rare and slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` as a PNG atomically (no half-written image) and close it."""
    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    pyplot().close(fig)
    return out
