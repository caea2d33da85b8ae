"""GET /v1/forecasts: the served run's demand forecasts (net sales and orders, total, categories, segments)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey, State
from targetwise.service.schemas import ForecastsPublic

router = APIRouter(prefix="/forecasts", tags=["forecasts"])


@router.get("", response_model=ForecastsPublic)
def list_forecasts(
    key: ReadKey,
    state: State,
    run: ActiveRun,
    level: Annotated[Literal["total", "category", "segment"] | None, Query()] = None,
    series: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    measure: Annotated[Literal["net_sales", "orders"] | None, Query()] = None,
) -> ForecastsPublic:
    """The forecast of each series for the next periods with its 80% interval and the model the backtest chose
    (the rows `targetwise forecast --out` writes), and each series' summary in words; filter by `level`,
    `series` (e.g. a category name) and `measure`."""
    return views.forecasts_view(run, state.workspace, level=level, series=series, measure=measure)
