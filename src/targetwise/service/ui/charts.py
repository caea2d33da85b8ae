"""Line charts with axes for the server-rendered UI (plain SVG, no script, no inline style).

:func:`line_chart` maps data to the pixels of a fixed viewBox and picks "nice" ticks
(1, 2 or 5 times a power of ten) for both axes, so the template only draws what it is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Chart", "line_chart", "nice_ticks"]

WIDTH, HEIGHT = 560, 280
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 14, 46  # margins: room for tick labels and axis titles


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (0 included when the range spans it)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


@dataclass
class Chart:
    """What the template draws: the line, the axes with ticks and titles, a zero line and a marker."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: str
    infeasible: str
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_title: str = ""
    y_title: str = ""
    zero_y: float | None = None
    marker_x: float | None = None
    marker_label: str = ""


def line_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    feasible: Sequence[bool] | None = None,
    x_title: str,
    y_title: str,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
    marker: float | None = None,
    marker_label: str = "",
) -> Chart:
    """A chart of ``ys`` over ``xs``; points not ``feasible`` (over budget) are drawn as a second, dashed line."""
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    x_ticks_v = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
    y_values = [*ys, 0.0]
    y_ticks_v = nice_ticks(min(y_values), max(y_values))
    x0, x1 = x_ticks_v[0], x_ticks_v[-1]
    y0, y1 = y_ticks_v[0], y_ticks_v[-1]

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1.0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / ((y1 - y0) or 1.0) * (bottom - top)

    ok = list(feasible) if feasible is not None else [True] * len(xs)
    # the feasible part, and the infeasible part joined to it at the last feasible point
    inside = [f"{px(x):.1f},{py(y):.1f}" for x, y, f in zip(xs, ys, ok, strict=True) if f]
    last = max((i for i, f in enumerate(ok) if f), default=-1)
    outside = [f"{px(x):.1f},{py(y):.1f}" for i, (x, y, f) in enumerate(zip(xs, ys, ok, strict=True))
               if not f or i == last]
    return Chart(
        width=WIDTH, height=HEIGHT, left=left, right=right, top=top, bottom=bottom,
        points=" ".join(inside), infeasible=" ".join(outside) if len(outside) > 1 else "",
        x_ticks=[(px(v), x_format(v)) for v in x_ticks_v],
        y_ticks=[(py(v), y_format(v)) for v in y_ticks_v],
        x_title=x_title, y_title=y_title,
        zero_y=py(0.0) if y0 < 0 < y1 else None,
        marker_x=None if marker is None else px(marker), marker_label=marker_label,
    )
