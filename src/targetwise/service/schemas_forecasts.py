"""Request and response schemas of GET /v1/forecasts (re-exported by :mod:`targetwise.service.schemas`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ForecastRow", "ForecastSeriesSummary", "ForecastsPublic"]


class ForecastRow(BaseModel):
    """One future period of one series (definitions: docs/forecasts.md)."""

    series: str = Field(description="The category or segment name; `total` for the whole shop.")
    level: str = Field(description="total, category or segment.")
    measure: str = Field(description="net_sales (the shop's currency: purchases minus returns) or orders.")
    period_start: str = Field(description="First day of the week (Monday) or the day, ISO date-time, UTC.")
    forecast: float = Field(description="Forecast of the measure in this period.")
    lo_80: float = Field(description="Lower end of the 80% prediction interval.")
    hi_80: float = Field(description="Upper end of the 80% prediction interval.")
    model: str = Field(description="Model chosen for the series by the rolling-origin backtest.")


class ForecastSeriesSummary(BaseModel):
    """A series over the whole horizon, in figures and in the sentence every surface shows."""

    series: str
    level: str
    measure: str
    model: str
    periods: int = Field(description="Periods forecast.")
    forecast_total: float = Field(description="The forecast summed over the horizon.")
    lo_total: float = Field(description="The periods' 80% lower bounds summed.")
    hi_total: float = Field(description="The periods' 80% upper bounds summed.")
    last_total: float = Field(description="What happened in the same number of periods before the cutoff.")
    growth: float | None = Field(description="forecast_total / last_total - 1 (none when last_total <= 0).")
    growth_lo: float | None
    growth_hi: float | None
    backtest_mase: float | None = Field(description="The chosen model's mean MASE over the backtest windows.")
    backtest_coverage: float | None = Field(description="Share of backtest actuals inside the 80% interval.")
    text: str = Field(description="The summary in words (the same on the CLI, the UI and the report).")


class ForecastsPublic(BaseModel):
    """The served run's demand forecasts."""

    run_id: str
    as_of: str | None

    freq: str = Field(description="W (Monday-to-Sunday weeks) or D (days).")
    horizon: int
    notes: list[str]
    summaries: list[ForecastSeriesSummary]
    rows: list[ForecastRow]
