"""`targetwise forecast`: demand forecasts at a cutoff. A thin adapter over targetwise.usecases.forecast."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import (
    AS_OF_FORMAT,
    WorkspaceOption,
    console,
    handle_errors,
    iso_date,
    open_workspace,
    plain,
    progress,
    report_as_of,
)


class Freq(StrEnum):
    W = "W"
    D = "D"


class By(StrEnum):
    category = "category"
    segment = "segment"


class Measure(StrEnum):
    net_sales = "net_sales"
    orders = "orders"


@handle_errors
def forecast(
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=104, help="Periods to forecast (weeks or days, as --freq).")] = 12,
    freq: Annotated[Freq, typer.Option("--freq", help="W: Monday-to-Sunday weeks; D: days.")] = Freq.W,
    by: Annotated[By | None, typer.Option(
        "--by", help="Also forecast each category or each RFM segment (the total is always forecast).")] = None,
    measure: Annotated[Measure, typer.Option(
        "--measure", help="net_sales (the shop's currency: purchases minus returns) or orders.")] = Measure.net_sales,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Cutoff date YYYY-MM-DD: only earlier orders are used (default: the day after the last order).",
        metavar=AS_OF_FORMAT, callback=iso_date)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the forecast rows (series, level, period_start, forecast, lo_80, hi_80, model) to this "
        ".csv or .parquet file.")] = None,
    config_path: Annotated[Path | None, typer.Option(
        "--config", help="A run config TOML whose \\[forecast] section sets the models and the backtest (the options "
        "above still set horizon, freq, levels and measure).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Forecast net sales (or orders) per week or day, with 80% intervals; the model is chosen per series by backtest."""
    from targetwise.pipeline.run import default_as_of
    from targetwise.presentation import Currency
    from targetwise.runconfig import ForecastConfig, RunConfig
    from targetwise.usecases.forecast import forecast_summaries, forecast_workspace

    ws = open_workspace(workspace)
    cutoff = as_of if as_of is not None else default_as_of(ws).isoformat()
    report_as_of(ws, cutoff)
    levels = ("total",) if by is None else ("total", by.value)
    base = RunConfig.load(config_path).forecast if config_path is not None else ForecastConfig()
    config = base.model_copy(update={"horizon": horizon, "freq": freq.value, "levels": levels,
                                     "measures": (measure.value,)})
    with progress(f"forecast as of {cutoff}"):
        result = forecast_workspace(ws, cutoff, config, random_state=ws.settings.random_state, out_path=out)
    for note in result.notes:
        console.print(f"note: {plain(note)}")
    if result.forecasts.empty:
        return
    summaries = forecast_summaries(result, currency=Currency.from_settings(ws.settings))
    scores = result.scores[result.scores["chosen"].astype(bool)].set_index(["level", "series"])
    table = Table(title=f"forecasts as of {result.as_of:%Y-%m-%d} (model chosen by a rolling-origin backtest)")
    for column in ("level", "series", "model", "backtest MASE", "80% coverage"):
        table.add_column(column, justify="right" if column in ("backtest MASE", "80% coverage") else "left")
    for s in summaries:
        row = scores.loc[(s.level, s.series)]
        mase = "n/a" if row["mase"] != row["mase"] else f"{row['mase']:.2f}"
        table.add_row(s.level, plain(s.series), s.model, mase, f"{row['coverage']:.0%}")
    console.print(table)
    for s in summaries:
        console.print(plain(s.text))
    if out is not None:
        console.print(f"written to {plain(out)}")
