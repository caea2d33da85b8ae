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

__all__ = ["daily_lines", "figure_to_data_uri", "new_axes", "plot_lines_per_day", "save_png"]


def new_axes(width: float = 8.0, height: float = 3.2) -> Axes:
    _fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return ax


def figure_to_data_uri(fig: Figure, *, crop: bool = True) -> str:
    """PNG bytes of ``fig`` (at its own dpi) as a data URI (closes the figure); ``crop=False`` for a figure
    already laid out with ``tight_layout`` (see :func:`targetwise.figures.png_bytes`)."""
    return png_data_uri(fig, dpi=fig.dpi, close=True, crop=crop)


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` (at its own dpi) as PNG to ``path`` (closes the figure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig, dpi=fig.dpi, close=True))
    return path


def daily_lines(per_day: pd.DataFrame) -> pd.Series:
    """Lines per calendar day from the first to the last day with lines, 0 on days without any (the profile
    lists only days with lines), so a 7-day mean spans 7 calendar days."""
    counts = pd.Series(per_day["lines"].to_numpy(), index=pd.to_datetime(per_day["day"])).sort_index()
    counts = counts.groupby(level=0).sum()
    return counts.reindex(pd.date_range(counts.index[0], counts.index[-1], freq="D"), fill_value=0)


def plot_lines_per_day(per_day: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Order lines per calendar day (a filled step per day: one shape, not a bar per day) with a 7-day mean."""
    ax = ax or new_axes()
    if per_day.empty:
        ax.text(0.5, 0.5, "no transactions", ha="center", va="center", transform=ax.transAxes)
        return ax
    daily = daily_lines(per_day)
    ax.fill_between(daily.index, daily.to_numpy(), step="mid", color="#9ecae1", linewidth=0, label="lines per day")
    ax.plot(daily.index, daily.rolling(7, min_periods=1).mean().to_numpy(), color="#08519c", label="7-day mean")
    ax.set_ylabel("order lines")
    ax.legend(loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
