"""A global LightGBM forecaster over many series at once (direct multi-horizon, quantile intervals).

One model learns from every series of the panel: each training row is a (series, origin, step)
triple, with the last ``n_lags`` values before the origin divided by the series' recent level (so
series of different size share one model), the step ``1..horizon`` and calendar features of the
target period (week of year and month for weeks; day of week, month and day of year for days), and,
with a holiday country or dates, the target period's holiday days and periods to Christmas
(:func:`targetwise.forecast.calendar.holiday_features`; known in advance, so point in time). The
target is the value ``step`` periods after the origin, divided by the same level. Three boosters
are fitted on those rows: squared error for the forecast and the 10% and 90% quantiles for the 80%
interval, so the interval widens with the step as the errors do (no recursion: each step is
predicted directly from the lags at the origin).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from targetwise.forecast.calendar import holiday_features
from targetwise.forecast.local import INTERVAL_LEVEL, Forecast

__all__ = ["GlobalLightGBM", "calendar_features"]


def calendar_features(period_starts: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Calendar columns of periods: week of year and month (``W``); day of week, month, day of year (``D``)."""
    if freq == "W":
        return np.column_stack([period_starts.isocalendar().week.to_numpy(dtype="float64"),
                                period_starts.month.to_numpy(dtype="float64")])
    return np.column_stack([period_starts.dayofweek.to_numpy(dtype="float64"),
                            period_starts.month.to_numpy(dtype="float64"),
                            period_starts.dayofyear.to_numpy(dtype="float64")])


class GlobalLightGBM:
    """Fit on a panel ``values[n_series, n_periods]`` over ``period_starts``; :meth:`predict` the next
    ``horizon`` periods of every series. Seeded by ``random_state`` (single-threaded, deterministic)."""

    def __init__(self, *, horizon: int, freq: str, n_lags: int = 8, n_estimators: int = 100,
                 learning_rate: float = 0.1, num_leaves: int = 15, min_child_samples: int = 10,
                 holiday_country: str = "none", holiday_dates: tuple[dt.date, ...] = (),
                 random_state: int = 0) -> None:
        self.horizon = horizon
        self.freq = freq
        self.n_lags = n_lags
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.holiday_country = holiday_country
        self.holiday_dates = holiday_dates
        self.random_state = random_state

    def _level(self, window: np.ndarray) -> np.ndarray:
        level = np.mean(np.abs(window), axis=-1)
        return np.where(level > 0, level, 1.0)

    def _rows(self, values: np.ndarray, origins: np.ndarray, steps: np.ndarray, calendar: np.ndarray,
              series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lags = np.stack([values[series, origins - j] for j in range(self.n_lags)], axis=1)
        level = self._level(lags)
        features = np.column_stack([lags / level[:, None], steps, calendar, series])
        return features, level

    def fit(self, values: np.ndarray, period_starts: pd.DatetimeIndex) -> GlobalLightGBM:
        values = np.asarray(values, dtype="float64")
        n_series, n_periods = values.shape
        future = pd.date_range(period_starts[-1], periods=self.horizon + 1,
                               freq="W-MON" if self.freq == "W" else "D")[1:]
        grid = period_starts.append(future)
        self.calendar_ = calendar_features(grid, self.freq)
        if self.holiday_country != "none" or self.holiday_dates:
            self.calendar_ = np.column_stack([self.calendar_, holiday_features(
                grid, self.freq, country=self.holiday_country, extra=self.holiday_dates)])
        series, origins, steps = [], [], []
        for origin in range(self.n_lags - 1, n_periods - 1):
            for step in range(1, min(self.horizon, n_periods - 1 - origin) + 1):
                series.append(np.arange(n_series))
                origins.append(np.full(n_series, origin))
                steps.append(np.full(n_series, step))
        if not series:
            raise ValueError(f"the global model needs more than {self.n_lags} periods, got {n_periods}")
        s, o, k = (np.concatenate(a) for a in (series, origins, steps))
        features, level = self._rows(values, o, k, self.calendar_[o + k], s)
        target = values[s, o + k] / level
        self.boosters_ = {name: self._booster(objective, alpha).fit(features, target)
                          for name, objective, alpha in self._objectives()}
        self.values_ = values
        return self

    def _objectives(self) -> tuple[tuple[str, str, float | None], ...]:
        tail = (1 - INTERVAL_LEVEL / 100) / 2
        return (("mean", "regression", None), ("lo", "quantile", tail), ("hi", "quantile", 1 - tail))

    def _booster(self, objective: str, alpha: float | None):
        from lightgbm import LGBMRegressor

        params = {"alpha": alpha} if alpha is not None else {}
        return LGBMRegressor(objective=objective, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                             num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                             random_state=self.random_state, n_jobs=1, deterministic=True, max_bin=63, verbose=-1, **params)

    def predict(self) -> list[Forecast]:
        """The next ``horizon`` periods of each series, in the panel's order."""
        n_series, n_periods = self.values_.shape
        s = np.repeat(np.arange(n_series), self.horizon)
        k = np.tile(np.arange(1, self.horizon + 1), n_series)
        o = np.full_like(s, n_periods - 1)
        features, level = self._rows(self.values_, o, k, self.calendar_[o + k], s)
        predicted = {name: (booster.predict(features) * level).reshape(n_series, self.horizon)
                     for name, booster in self.boosters_.items()}
        return [Forecast.ordered(predicted["mean"][i], predicted["lo"][i], predicted["hi"][i])
                for i in range(n_series)]
