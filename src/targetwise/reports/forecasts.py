"""The report's forecast section: per level, small multiples of history, forecast and 80% interval, the
sentence of each series and its backtest, from the run's declared forecast tables (the same rows
``GET /v1/forecasts`` and the UI show)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from targetwise import presentation as pr
from targetwise.io import outputs as out
from targetwise.io.runs import RunInfo
from targetwise.presentation import Currency
from targetwise.reports.figures import figure_to_data_uri
from targetwise.usecases.forecast import LEVEL_ORDER, DemandForecast, forecast_summaries

__all__ = ["date_ticks", "forecasts_section", "plot_forecast"]

#: history shown before the forecast, in periods
SHOWN_HISTORY = 52


#: tick steps tried, coarsest first, with their label format: the first giving at least 3 ticks is used
_TICK_STEPS = (("QS", "%b %Y"), ("MS", "%b %Y"), ("W-MON", "%d %b"), ("D", "%d %b"))


def date_ticks(start: pd.Timestamp, end: pd.Timestamp) -> tuple[list[pd.Timestamp], list[str]]:
    """Fixed tick positions and labels for a date axis from ``start`` to ``end`` (quarters, months, weeks or days,
    whichever first gives 3 or more): computed once, where matplotlib's automatic date locator recomputes
    calendar rules at every draw (most of a small-multiples figure's time)."""
    for freq, fmt in _TICK_STEPS:
        ticks = list(pd.date_range(start.normalize(), end, freq=freq))
        ticks = [t for t in ticks if start <= t <= end]
        if len(ticks) >= 3 or freq == "D":
            return ticks, [t.strftime(fmt) for t in ticks]
    raise AssertionError("unreachable")  # pragma: no cover - "D" always returns


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, *, title: str, fmt: Any, ax: Any = None) -> Any:
    """One series: the last :data:`SHOWN_HISTORY` periods (``period_start, y``), the forecast and its 80% band."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.2, 2.6))
    past = history.sort_values("period_start").tail(SHOWN_HISTORY)
    ahead = forecast.sort_values("period_start")
    ax.plot(past["period_start"], past["y"], color="#333", linewidth=1.2, label="actual")
    ax.fill_between(ahead["period_start"], ahead["lo_80"], ahead["hi_80"], color="#9ecae1", alpha=0.7,
                    label="80% interval")
    ax.plot(ahead["period_start"], ahead["forecast"], color="#08519c", linewidth=1.6, label="forecast")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.yaxis.set_major_formatter(lambda v, _pos: fmt(v))
    shown = pd.concat([past["period_start"], ahead["period_start"]])
    if not shown.empty:
        ticks, labels = date_ticks(pd.Timestamp(shown.min()), pd.Timestamp(shown.max()))
        ax.set_xticks(ticks, labels, rotation=30)
    return ax


def forecasts_section(run: RunInfo, currency: Currency, result: DemandForecast | None) -> dict[str, Any] | None:
    """Sentences, backtest rows and one PNG per (measure, level); None when the run has no forecasts."""
    if result is None or not run.has(out.FORECASTS) or result.forecasts.empty:
        return None
    import matplotlib.pyplot as plt

    summaries = forecast_summaries(result, currency=currency)
    scores = result.scores[result.scores["chosen"].astype(bool)].set_index(["measure", "level", "series"])
    figures = []
    for (measure, level), rows in result.forecasts.groupby(["measure", "level"], sort=False):
        names = list(dict.fromkeys(rows["series"]))[:9]
        cols = min(3, len(names))
        fig, axes = plt.subplots((len(names) + cols - 1) // cols, cols, figsize=(4.2 * cols, 2.8 * ((len(names) + cols - 1) // cols)),
                                 squeeze=False)
        fmt = (lambda v: pr.money(v, currency, compact=True)) if measure == "net_sales" else (lambda v: f"{v:,.0f}")
        for ax, name in zip(axes.flat, names, strict=False):
            key = (result.history["measure"] == measure) & (result.history["level"] == level) & (
                result.history["series"] == name)
            plot_forecast(result.history[key], rows[rows["series"] == name], title=str(name), fmt=fmt, ax=ax)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=7, loc="upper left")
        fig.tight_layout()  # its margins fit the labels: no crop pass needed
        figures.append({"measure": measure, "level": level, "png": figure_to_data_uri(fig, crop=False)})
    backtest = []
    for s in summaries:
        score = scores.loc[(s.measure, s.level, s.series)]
        backtest.append({"summary": s, "mase": score["mase"], "coverage": score["coverage"]})
    figures.sort(key=lambda f: (f["measure"], LEVEL_ORDER.index(f["level"])))
    return {"summaries": summaries, "backtest": backtest, "figures": figures, "notes": result.notes,
            "freq": result.freq}
