"""Demand forecasting: per-series statistical models and a global LightGBM, chosen by backtest.

No I/O: the panel of series comes from :mod:`targetwise.features.demand` through the use case
:mod:`targetwise.usecases.forecast`.
"""

from targetwise.forecast.global_lgbm import GlobalLightGBM
from targetwise.forecast.local import BASELINES, INTERVAL_LEVEL, Forecast, local_forecast
from targetwise.forecast.metrics import coverage, mase, smape
from targetwise.forecast.selection import FORECAST_COLUMNS, MODEL_NAMES, SEASON_LENGTHS, DemandForecaster

__all__ = ["BASELINES", "FORECAST_COLUMNS", "INTERVAL_LEVEL", "MODEL_NAMES", "SEASON_LENGTHS", "DemandForecaster",
           "Forecast", "GlobalLightGBM", "coverage", "local_forecast", "mase", "smape"]
