"""Figures for reports: matplotlib (Agg), embedded as base64 PNG so HTML files are self-contained.

PNG encoding goes through :mod:`targetwise.figures` (the one PNG helper).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from targetwise.figures import png_bytes, png_data_uri

__all__ = ["figure_to_data_uri", "new_axes", "plot_lines_per_day", "save_png"]


def new_axes(width: float = 8.0, height: float = 3.2) -> Axes:
    _fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return ax


def figure_to_data_uri(fig: Figure) -> str:
    """PNG bytes of ``fig`` (at its own dpi) as a data URI (closes the figure)."""
    return png_data_uri(fig, dpi=fig.dpi, close=True)


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` (at its own dpi) as PNG to ``path`` (closes the figure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig, dpi=fig.dpi, close=True))
    return path


def plot_lines_per_day(per_day: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Order lines per day with a 7-day rolling mean."""
    ax = ax or new_axes()
    if per_day.empty:
        ax.text(0.5, 0.5, "no transactions", ha="center", va="center", transform=ax.transAxes)
        return ax
    days = pd.to_datetime(per_day["day"])
    ax.bar(days, per_day["lines"], width=1.0, color="#9ecae1", label="lines per day")
    ax.plot(days, per_day["lines"].rolling(7, min_periods=1).mean(), color="#08519c", label="7-day mean")
    ax.set_ylabel("order lines")
    ax.legend(loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
