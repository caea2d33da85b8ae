"""Per-series forecasters: the two baselines and statsforecast's automatic models.

Every model answers :func:`local_forecast` ``(name, y, horizon, season_length)`` with a
:class:`Forecast` (mean and an 80% interval, one value per future period), or ``None`` when it does
not apply to the series (MSTL needs a season that fits twice into the history). statsforecast is
imported on first use (about 2 s; its models are compiled ahead, nothing is JIT-compiled per call).

* ``naive``: the last value; interval from the one-step errors, widening with the square root of
  the horizon (statsforecast's ``Naive``).
* ``seasonal_naive``: the value one season earlier (``SeasonalNaive``); with less than two seasons
  of history the season is 1 and it equals ``naive``.
* ``auto_ets``, ``auto_arima``, ``auto_theta``: ``AutoETS``, ``AutoARIMA``, ``AutoTheta`` with the
  season length, chosen by information criterion inside statsforecast.
* ``mstl``: ``MSTL`` (seasonal-trend decomposition by LOESS, one or more seasons; the trend by
  AutoETS without a season).

Exogenous regressors (``exog`` for the history, ``exog_future`` for the forecast periods: the known
holidays, :func:`targetwise.forecast.calendar.arima_regressors`) go to ``auto_arima`` only, a
regression with ARIMA errors; statsforecast's AutoETS, AutoTheta and MSTL-with-ETS accept the
argument but ignore it. Columns constant over the history carry nothing to learn from (a holiday
never seen in it) and would make the regression singular, as would one that repeats another there,
so those are left out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["BASELINES", "LOCAL_MODELS", "Forecast", "effective_season", "local_forecast"]

#: the baselines every model is compared with, in the order ties are broken
BASELINES = ("seasonal_naive", "naive")
#: statsforecast's automatic models
STAT_MODELS = ("auto_ets", "auto_arima", "auto_theta", "mstl")
LOCAL_MODELS = BASELINES + STAT_MODELS

#: width of every prediction interval, in percent (the columns lo_80 / hi_80)
INTERVAL_LEVEL = 80


@dataclass(frozen=True)
class Forecast:
    """A point forecast and its 80% interval, one value per future period (``lo <= mean <= hi``)."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def ordered(cls, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Forecast:
        """Bounds put around the mean (quantile models can cross it by a little)."""
        mean = np.asarray(mean, dtype="float64")
        return cls(mean=mean, lo=np.minimum(np.asarray(lo, dtype="float64"), mean),
                   hi=np.maximum(np.asarray(hi, dtype="float64"), mean))


def effective_season(n_periods: int, season_length: int) -> int:
    """The season used on ``n_periods`` of history: ``season_length`` if it fits twice, else 1."""
    return season_length if season_length > 1 and n_periods >= 2 * season_length else 1


def local_forecast(
    name: str, y: np.ndarray, horizon: int, *, season_length: int, extra_seasons: tuple[int, ...] = (),
    exog: np.ndarray | None = None, exog_future: np.ndarray | None = None,
) -> Forecast | None:
    """Forecast ``horizon`` periods after ``y`` with model ``name`` (None: the model does not apply).

    ``season_length`` is used as given (call :func:`effective_season` first); ``extra_seasons`` are
    further seasons for MSTL (e.g. 365 days next to 7) used where they fit twice into ``y``; ``exog``
    ``[len(y), k]`` and ``exog_future`` ``[horizon, k]`` are regressors for ``auto_arima``.
    """
    y = np.asarray(y, dtype="float64")
    model = _model(name, len(y), season_length, extra_seasons)
    if model is None:
        return None
    if np.all(y == y[0]) and name != "naive" and name != "seasonal_naive":
        # a constant series: the automatic models either fail or return the constant; say it directly
        constant = np.full(horizon, y[0])
        return Forecast(mean=constant, lo=constant.copy(), hi=constant.copy())
    with warnings.catch_warnings():
        # statsforecast warns of optimiser codes on hard series; the backtest is the judge of the fit
        warnings.simplefilter("ignore")
        result = model.forecast(y=y, h=horizon, level=[INTERVAL_LEVEL], **_regressors(name, exog, exog_future))
    lo = result.get(f"lo-{INTERVAL_LEVEL}", result["mean"])
    hi = result.get(f"hi-{INTERVAL_LEVEL}", result["mean"])
    return Forecast.ordered(result["mean"], lo, hi)


def _regressors(name: str, exog: np.ndarray | None, exog_future: np.ndarray | None) -> dict[str, np.ndarray]:
    """statsforecast's ``X`` and ``X_future`` for auto_arima: the columns that add to the rank of the
    history's regressors and a constant, in order (a holiday the history never held is constant there; one
    always in the same week as another, like Black Friday after Thanksgiving, repeats it); none left: none."""
    if name != "auto_arima" or exog is None or exog_future is None:
        return {}
    history = np.asarray(exog, dtype="float64").reshape(len(exog), -1)
    kept: list[int] = []
    for column in range(history.shape[1]):
        trial = np.column_stack([np.ones(len(history)), history[:, [*kept, column]]])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept.append(column)
    if not kept:
        return {}
    future = np.asarray(exog_future, dtype="float64").reshape(len(exog_future), -1)
    return {"X": history[:, kept], "X_future": future[:, kept]}


def _model(name: str, n_periods: int, season: int, extra_seasons: tuple[int, ...]):
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    if name == "naive":
        return Naive()
    if name == "seasonal_naive":
        return SeasonalNaive(season_length=season) if season > 1 else Naive()
    if name == "auto_ets":
        return AutoETS(season_length=season)
    if name == "auto_arima":
        return AutoARIMA(season_length=season)
    if name == "auto_theta":
        return AutoTheta(season_length=season)
    if name == "mstl":
        seasons = [s for s in (season, *extra_seasons) if s > 1 and n_periods >= 2 * s]
        if not seasons:
            return None
        return MSTL(season_length=sorted(set(seasons)), trend_forecaster=AutoETS(model="ZZN"))
    raise ValueError(f"unknown local model {name!r}")
