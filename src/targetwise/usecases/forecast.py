"""Use case: demand forecasts of net sales and orders, in total, by category and by segment.

One computation (:func:`forecast_at`, on the data's engine over the consent-filtered views) serves the
``forecast`` stage, ``targetwise forecast`` and, through the run, the API, the UI and the report, so a
forecast and its sentence are the same on every surface. Series definitions are in
:mod:`targetwise.features.demand`, model choice in :mod:`targetwise.forecast.selection`.

* Each (measure, level) is fitted on its own: the global LightGBM model learns from the series of one
  level only, so the total's forecast does not depend on which categories are asked for too.
* Segments are the customers' RFM segments at the cutoff (:class:`~targetwise.segment.RFMSegmenter`
  on the features at ``as_of``, the ``rfm_segment`` of the segments stage); their series are those
  customers' net sales over the whole history.
* :func:`forecast_summaries` turns each series into one sentence ("Category Toys is forecast to grow
  12% over the next 8 weeks, 80% interval 5% to 19%"): growth of the forecast's sum over the horizon
  against the last ``horizon`` periods' actual sum; the interval is the per-period 80% bounds added up
  (exact when the periods' errors move together, wider than 80% when they are independent).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from targetwise.io import outputs as out
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace
from targetwise.presentation import Currency, money
from targetwise.runconfig import ForecastConfig
from targetwise.usecases.runs import RunData, records

__all__ = ["DemandForecast", "ForecastSummary", "forecast_at", "forecast_of_run", "forecast_summaries",
           "forecast_workspace", "rfm_segments"]

AsOf = date | datetime | str | pd.Timestamp
PERIOD_WORDS = {"W": ("week", "weeks"), "D": ("day", "days")}
LEVEL_ORDER = ("total", "category", "segment")


@dataclass(frozen=True)
class DemandForecast:
    """Forecasts (:data:`~targetwise.forecast.FORECAST_COLUMNS` plus ``measure``), the history they
    continue (``series, level, measure, period_start, y``) and the backtest scores per model."""

    as_of: datetime
    freq: str
    horizon: int
    forecasts: pd.DataFrame
    history: pd.DataFrame
    scores: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: lines the series were built from (purchase and return lines before as_of, non-product left out)
    lines: int = 0

    def rows(self, *, level: str | None = None, series: str | None = None, measure: str | None = None,
             frame: str = "forecasts") -> list[dict[str, Any]]:
        table = getattr(self, frame)
        for column, value in (("level", level), ("series", series), ("measure", measure)):
            if value is not None:
                table = table[table[column] == value]
        return records(table)


def rfm_segments(features: pd.DataFrame) -> pd.DataFrame:
    """``customer_id, segment``: each customer's RFM segment on a feature table (the segments stage's
    ``rfm_segment``)."""
    from targetwise.segment import RFMSegmenter

    if features.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "segment": pd.Series(dtype=str)})
    scored = RFMSegmenter().fit_transform(features)
    return pd.DataFrame({"customer_id": features["customer_id"].astype(str).to_numpy(),
                         "segment": scored["rfm_segment"].astype(str).to_numpy()})


def _largest(aggregates: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, int]:
    """The ``limit`` series with the most net sales before the cutoff (ties by name) and how many were left out."""
    totals = aggregates.groupby("series")["net_micros"].sum().reset_index()
    totals = totals.sort_values(["net_micros", "series"], ascending=[False, True])
    kept = set(totals["series"].head(limit))
    return aggregates[aggregates["series"].isin(kept)], max(0, len(totals) - limit)


def forecast_at(
    data: ModelData, as_of: AsOf, config: ForecastConfig | None = None, *, segments: pd.DataFrame | None = None,
    segments_at: Callable[[datetime], pd.DataFrame] | None = None, random_state: int = 0,
) -> DemandForecast:
    """Forecasts from lines before ``as_of`` of ``config.measures`` x ``config.levels`` (objectors are not in
    ``data``'s views). ``segments`` (``customer_id, segment``, see :func:`rfm_segments`) is needed for the
    segment level; without it that level is left out and the notes say so. ``segments_at(cutoff)`` (the
    segments at an earlier cutoff, e.g. ``rfm_segments(features_at(data, cutoff))``) is called for each
    backtest window with ``forecast.segment_backtest = "window"``, so each window scores the segment series
    of the members at its own cutoff (without it, every window uses ``segments``)."""
    from targetwise.features._inputs import (
        check_as_of,
        data_range,
        normalize_as_of,
        resolve_inputs,
        timestamp_literal,
    )
    from targetwise.features.demand import demand_aggregates, demand_panel, whole_periods
    from targetwise.forecast import DemandForecaster

    config = config or ForecastConfig()
    cutoff = normalize_as_of(as_of)
    inputs = resolve_inputs(data.backend)
    transactions = inputs.transactions
    check_as_of(cutoff, data_range(transactions))
    notes: list[str] = []
    if "category" in config.levels and inputs.products is None:
        notes.append("no category forecasts: the catalogue has no categories (products.category)")
    if "segment" in config.levels and segments is None:
        notes.append("no segment forecasts: no customer segments at this cutoff")
    first_line = data_range(transactions.filter(transactions.ordered_at < timestamp_literal(cutoff))).first
    first, last = whole_periods(first_line, cutoff, config.freq)
    expressions = demand_aggregates(transactions, as_of=cutoff, freq=config.freq, products=inputs.products,
                                    segments=segments, levels=config.levels)
    aggregates = {level: expr.to_pandas() for level, expr in expressions.items()}
    for level in list(aggregates):
        if level != "total":
            aggregates[level], left_out = _largest(aggregates[level], config.max_series_per_level)
            if left_out:
                notes.append(f"{left_out} smaller {level} series not forecast (forecast.max_series_per_level = "
                             f"{config.max_series_per_level})")
    lines = int(transactions.filter(transactions.ordered_at < timestamp_literal(cutoff),
                                    ~transactions.is_non_product.fill_null(False)).count().to_pandas())
    forecasts, history, scores = [], [], []
    window_aggregates: dict[pd.Timestamp, pd.DataFrame] | None = None
    for measure in config.measures:
        panel = demand_panel(aggregates, first=first, last=last, freq=config.freq, measure=measure)
        for level, part in panel.groupby("level", sort=False):
            window_panels = None
            if level == "segment" and segments_at is not None and config.segment_backtest == "window":
                if window_aggregates is None:  # once for every measure
                    window_aggregates = _window_segment_aggregates(
                        transactions, inputs.products, aggregates["segment"], segments_at, cutoff=cutoff,
                        starts=pd.DatetimeIndex(sorted(part["period_start"].unique())), config=config)
                window_panels = {c: demand_panel({"segment": rows}, first=first, last=last, freq=config.freq,
                                                 measure=measure) for c, rows in window_aggregates.items()}
            model = DemandForecaster(
                horizon=config.horizon, freq=config.freq, models=config.models,
                backtest_windows=config.backtest_windows, backtest_step=config.backtest_step, n_lags=config.n_lags,
                lightgbm_estimators=config.lightgbm_estimators, selection=config.selection,
                interval_calibration=config.interval_calibration, holiday_country=config.holiday_country,
                holiday_dates=config.holiday_dates, prior_year_window=config.prior_year_window,
                random_state=random_state,
            ).fit(part, window_panels=window_panels)
            for (lv, series), reason in model.skipped_.items():
                notes.append(f"{measure} of {lv} {series!r} not forecast: {reason}")
            forecasts.append(model.predict().assign(measure=measure))
            history.append(model.history_.assign(measure=measure))
            scores.append(model.scores_.assign(measure=measure))
    return DemandForecast(
        as_of=cutoff, freq=config.freq, horizon=config.horizon, notes=list(dict.fromkeys(notes)), lines=lines,
        forecasts=_concat(forecasts, FORECAST_TABLE_COLUMNS), history=_concat(history, HISTORY_COLUMNS),
        scores=_concat(scores, SCORE_COLUMNS),
    )


def _forecaster(config: ForecastConfig) -> Any:
    from targetwise.forecast import DemandForecaster

    return DemandForecaster(horizon=config.horizon, freq=config.freq, backtest_windows=config.backtest_windows,
                            backtest_step=config.backtest_step, n_lags=config.n_lags,
                            prior_year_window=config.prior_year_window)


def _window_segment_aggregates(
    transactions: Any, products: Any, kept: pd.DataFrame, segments_at: Callable[[datetime], pd.DataFrame], *,
    cutoff: datetime, starts: pd.DatetimeIndex, config: ForecastConfig,
) -> dict[pd.Timestamp, pd.DataFrame]:
    """Per backtest cutoff (``starts``: the forecast panel's periods), the segment aggregates before
    ``cutoff`` of the members at that backtest cutoff, for the series of ``kept``."""
    from targetwise.features.demand import demand_aggregates

    names = set(kept["series"].astype(str))
    out = {}
    for cut in _forecaster(config).backtest_cuts(len(starts)):
        members = segments_at(starts[cut].to_pydatetime())
        rows = demand_aggregates(transactions, as_of=cutoff, freq=config.freq, products=products, segments=members,
                                 levels=("segment",))["segment"].to_pandas()
        out[starts[cut]] = rows[rows["series"].astype(str).isin(names)]
    return out


FORECAST_TABLE_COLUMNS = ("series", "level", "measure", "period_start", "forecast", "lo_80", "hi_80", "model")
HISTORY_COLUMNS = ("series", "level", "measure", "period_start", "y")
SCORE_COLUMNS = ("series", "level", "measure", "model", "mase", "smape", "coverage", "windows", "chosen")


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    table = pd.concat(frames, ignore_index=True).loc[:, list(columns)]
    order = table["level"].map({level: i for i, level in enumerate(LEVEL_ORDER)})
    keys = [c for c in ("measure", "level", "series", "period_start", "model") if c in columns]
    table = table.assign(_order=order).sort_values(["measure", "_order", *keys[2:]], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def forecast_workspace(
    ws: Workspace, as_of: AsOf, config: ForecastConfig | None = None, *, random_state: int = 0,
    out_path: str | os.PathLike[str] | None = None,
) -> DemandForecast:
    """``targetwise forecast``: forecasts at ``as_of`` (segments: RFM at the cutoff when the config asks
    for them), written to ``out_path`` (.csv or .parquet, the forecast rows) if given."""
    from targetwise.io.exports import write_table
    from targetwise.usecases.features import features_at

    config = config or ForecastConfig()
    with open_model_data(ws) as data:
        segments = rfm_segments(features_at(data, as_of)) if "segment" in config.levels else None
        result = forecast_at(data, as_of, config, segments=segments, random_state=random_state,
                             segments_at=lambda cutoff: rfm_segments(features_at(data, cutoff)))
    if out_path is not None:
        write_table(result.forecasts, out_path)
    return result


def forecast_of_run(run: RunData | RunInfo) -> DemandForecast:
    """The forecasts a run's ``forecast`` stage wrote (through :class:`RunData`: 404 naming the stage when it
    did not run)."""
    read = run.table if isinstance(run, RunData) else run.read_table
    info = run.info if isinstance(run, RunData) else run
    forecasts = read(out.FORECASTS)
    record = info.stage("forecast")
    params = record.params if record else {}
    return DemandForecast(
        as_of=pd.Timestamp(info.as_of).to_pydatetime(), freq=str(params.get("freq", "W")),
        horizon=int(params.get("horizon", 0) or 0), forecasts=forecasts, history=read(out.FORECAST_HISTORY),
        scores=read(out.FORECAST_SCORES), notes=list(record.notes if record else []),
        lines=int((record.metrics if record else {}).get("lines", 0) or 0),
    )


@dataclass(frozen=True)
class ForecastSummary:
    """One series in figures and words: the forecast's sum over the horizon, the actual sum over the
    last ``horizon`` periods, growth and its 80% interval (fractions; None where the base is not positive)."""

    level: str
    series: str
    measure: str
    model: str
    periods: int
    forecast_total: float
    lo_total: float
    hi_total: float
    last_total: float
    growth: float | None
    growth_lo: float | None
    growth_hi: float | None
    text: str


def _subject(level: str, series: str, measure: str) -> tuple[str, bool]:
    """The sentence's subject and whether it is plural."""
    where = {"total": "", "category": f"category {series}", "segment": f"segment {series}"}[level]
    if measure == "orders":
        return ("Orders in total" if level == "total" else f"Orders of {where}"), True
    return ("Net sales in total" if level == "total" else where[0].upper() + where[1:]), level == "total"


def _sentence(s: dict[str, Any], *, freq: str, currency: Currency) -> str:
    subject, plural = _subject(s["level"], s["series"], s["measure"])
    be = "are" if plural else "is"
    unit = PERIOD_WORDS[freq][0 if s["periods"] == 1 else 1]
    span = f"the next {s['periods']} {unit}" if s["periods"] != 1 else f"the next {unit}"

    def amount(value: float) -> str:
        return money(value, currency) if s["measure"] == "net_sales" else f"{value:,.0f} orders"

    figures = f"{amount(s['forecast_total'])} against {amount(s['last_total'])} in the last {s['periods']} {unit}"
    if s["growth"] is None:
        return f"{subject} {be} forecast at {amount(s['forecast_total'])} over {span}, 80% interval " \
               f"{amount(s['lo_total'])} to {amount(s['hi_total'])} (the last {s['periods']} {unit}: " \
               f"{amount(s['last_total'])}, no base for a growth rate)."
    pct = round(100 * s["growth"])
    verb = f"grow {pct}%" if pct > 0 else f"fall {-pct}%" if pct < 0 else "stay level (0%)"
    return (f"{subject} {be} forecast to {verb} over {span}, 80% interval {round(100 * s['growth_lo'])}% to "
            f"{round(100 * s['growth_hi'])}% ({figures}).")


def forecast_summaries(result: DemandForecast, *, currency: Currency | None = None) -> list[ForecastSummary]:
    """One :class:`ForecastSummary` per forecast series, in the forecast table's order."""
    currency = currency or Currency()
    summaries = []
    keys = ["measure", "level", "series"]
    history = {k: g for k, g in result.history.groupby(keys, sort=False)}
    for key, rows in result.forecasts.groupby(keys, sort=False):
        measure, level, series = (str(k) for k in key)
        periods = len(rows)
        past = history[key].sort_values("period_start")["y"].tail(periods)
        base = float(past.sum())
        totals = {"forecast_total": float(rows["forecast"].sum()), "lo_total": float(rows["lo_80"].sum()),
                  "hi_total": float(rows["hi_80"].sum())}
        growth = {name: (value / base - 1 if base > 0 else None)
                  for name, value in zip(("growth", "growth_lo", "growth_hi"), totals.values(), strict=True)}
        figures = {"level": level, "series": series, "measure": measure, "periods": periods, "last_total": base,
                   **totals, **growth}
        summaries.append(ForecastSummary(model=str(rows["model"].iloc[0]), text=_sentence(
            figures, freq=result.freq, currency=currency), **figures))
    return summaries
