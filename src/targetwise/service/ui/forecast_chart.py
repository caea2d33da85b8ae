"""Forecast charts for the server-rendered UI (plain SVG, no script): history, forecast and the 80% band.

Periods are placed by their index (equal spacing for weeks or days); the x ticks name the first day of
about five of them. Same viewBox and margins as :mod:`targetwise.service.ui.charts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from targetwise.service.ui.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, nice_ticks

__all__ = ["ForecastChart", "forecast_chart"]


@dataclass
class ForecastChart:
    """What the template draws: the history line, the forecast line, the band polygon, axes and ticks."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    history: str
    forecast: str
    band: str
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    split_x: float = 0.0


def forecast_chart(
    history: Sequence[float], forecast: Sequence[float], lo: Sequence[float], hi: Sequence[float], *,
    labels: Sequence[str], y_format: Callable[[float], str],
) -> ForecastChart:
    """``labels`` name every period, history first then the forecast's (len = len(history) + len(forecast))."""
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    n = len(history) + len(forecast)
    y_ticks_v = nice_ticks(min([*history, *lo, 0.0]), max([*history, *hi, 0.0]))
    y0, y1 = y_ticks_v[0], y_ticks_v[-1]

    def px(i: float) -> float:
        return left + i / max(n - 1, 1) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / ((y1 - y0) or 1.0) * (bottom - top)

    start = len(history)
    past = [f"{px(i):.1f},{py(y):.1f}" for i, y in enumerate(history)]
    # the forecast line starts at the last actual value, so the two lines join
    ahead = past[-1:] + [f"{px(start + i):.1f},{py(y):.1f}" for i, y in enumerate(forecast)]
    upper = [f"{px(start + i):.1f},{py(y):.1f}" for i, y in enumerate(hi)]
    lower = [f"{px(start + i):.1f},{py(y):.1f}" for i, y in reversed(list(enumerate(lo)))]
    step = max(1, (n - 1) // 4)
    return ForecastChart(
        width=WIDTH, height=HEIGHT, left=left, right=right, top=top, bottom=bottom,
        history=" ".join(past), forecast=" ".join(ahead), band=" ".join(upper + lower),
        x_ticks=[(px(i), labels[i]) for i in range(0, n, step)],
        y_ticks=[(py(v), y_format(v)) for v in y_ticks_v], split_x=px(start - 0.5),
    )
