"""Forecast accuracy: MASE, sMAPE and interval coverage (the backtest's three figures).

* **MASE** (Hyndman & Koehler 2006): the forecast's mean absolute error divided by the in-sample mean
  absolute error of the seasonal-naive forecast on the training data (lag ``season_length``; lag 1 when
  the training data is shorter than two seasons). Below 1: better than repeating last season's value.
  Undefined (NaN) when the training data never changes (the scale is 0).
* **sMAPE** in percent, 0 to 200: ``mean(2 |actual - forecast| / (|actual| + |forecast|))``; a period
  where both are 0 counts as 0.
* **coverage**: the share of actual values inside ``[lo, hi]`` (an 80% interval should hold about 80%).
"""

from __future__ import annotations

import numpy as np

__all__ = ["coverage", "mase", "mase_scale", "smape"]


def mase_scale(insample: np.ndarray, season_length: int) -> float:
    """Mean absolute seasonal difference of the training data (lag 1 when it is shorter than two seasons)."""
    y = np.asarray(insample, dtype="float64")
    lag = season_length if len(y) >= 2 * season_length else 1
    if len(y) <= lag:
        return float("nan")
    return float(np.mean(np.abs(y[lag:] - y[:-lag])))


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, season_length: int) -> float:
    """Mean absolute error over :func:`mase_scale` of ``insample`` (NaN when the scale is 0)."""
    scale = mase_scale(insample, season_length)
    error = float(np.mean(np.abs(np.asarray(actual, dtype="float64") - np.asarray(forecast, dtype="float64"))))
    if not scale > 0:
        return float("nan")
    return error / scale


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error in percent (0 to 200)."""
    a = np.asarray(actual, dtype="float64")
    f = np.asarray(forecast, dtype="float64")
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(a - f), denominator, out=np.zeros_like(a), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``actual`` inside ``[lo, hi]``."""
    a = np.asarray(actual, dtype="float64")
    return float(np.mean((a >= np.asarray(lo)) & (a <= np.asarray(hi))))
