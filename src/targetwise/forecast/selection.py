"""Model choice per series by a rolling-origin backtest, then the forecast of the chosen model.

:class:`DemandForecaster` takes a panel of series on one shared period grid (columns ``series``,
``level``, ``period_start``, ``y``; every series has every period). For each backtest window
``w = 0 .. backtest_windows - 1`` the history is cut ``horizon + w * step`` periods before its end;
every candidate model forecasts the next ``horizon`` periods from the part before the cut and is
scored against what happened: MASE, sMAPE and the 80% interval's coverage
(:mod:`targetwise.forecast.metrics`). A window needs ``min_train`` periods before its cut; windows
that do not fit are left out, and a series without any window is not forecast (``skipped_`` says why).

With ``selection="level"`` (the default) every series of a level gets the model with the lowest mean
MASE over the windows and the level's series; with ``"series"`` each series gets its own lowest. A series
that never changed (MASE undefined) is ranked by its mean absolute error alone. Ties go to the earlier
model in ``models`` and the baselines come first, so a model has to beat seasonal naive and naive to be
chosen. Pooling over the level lowers the variance of the choice: on the held-out weeks of Complete
Journey's categories the per-series choice beat seasonal naive on 3 of 8, the per-level one on 5 of 8
(``benchmarks/results/forecast.md``). The chosen model
is then fitted on the whole history and forecasts ``horizon`` periods.

With ``prior_year_window`` (the default) one more window is cut a year (52 weeks, 364 days) before the
forecast's origin where the history allows, so the calendar periods the forecast is in (their season,
their holidays) are scored and calibrated on as they were a year before. ``fit(panel, window_panels=...)``
scores a window on another panel of the same grid (a segment's members at that window's cutoff).
With ``holiday_country`` / ``holiday_dates`` the known holidays are regressors
(:mod:`targetwise.forecast.calendar`): features of the global LightGBM, ``X`` of AutoARIMA.

* ``ensemble`` is the mean of the forecasts (and bounds) of the automatic models among the candidates
  (AutoETS, AutoARIMA, AutoTheta, MSTL, LightGBM, where they apply): combinations are hard to beat
  (the M4 competition's lesson) and it is scored in the backtest like any other model.
* The chosen model's 80% interval is calibrated on the backtest: its half-widths are multiplied by
  the 80% quantile of the backtest misses measured in half-widths (split conformal over the
  rolling-origin windows), so an interval that held too little (or too much) of the backtest is
  widened (or narrowed); ``interval_scale_`` keeps the factors per series (one per horizon step). With
  ``interval_calibration="level"`` the misses are pooled over the level's series, per
  horizon step (all steps together where a step has fewer than :data:`MIN_STEP_ERRORS`), and the
  quantile is split conformal's finite-sample one, ``ceil((n + 1) 0.8) / n`` of the ``n`` misses: three
  windows of one series give too few misses for a stable 80% quantile, and errors grow with the step.
  With ``"series"`` (the default) each series' misses over all its steps give one factor (the plain 80%
  quantile). On the two real retailers' held-out weeks the two held about as much (68-72%,
  ``benchmarks/results/forecast_calibration.md``), so the default stayed the earlier one.
  With ``"sides"`` each series gets one factor per side of the interval (the 90% finite-sample
  quantile of its misses on that side; ``interval_sides_`` keeps them), so the width goes where the
  misses were. The backtest's ``coverage`` is that of the models' own intervals, before calibration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from targetwise._fitted import check_fitted
from targetwise.errors import ConfigError, DataValidationError
from targetwise.forecast.calendar import HOLIDAY_COUNTRIES, arima_regressors
from targetwise.forecast.global_lgbm import GlobalLightGBM
from targetwise.forecast.local import (
    BASELINES,
    INTERVAL_LEVEL,
    LOCAL_MODELS,
    Forecast,
    effective_season,
    local_forecast,
)
from targetwise.forecast.metrics import coverage, mase, smape

__all__ = ["FORECAST_COLUMNS", "MODEL_NAMES", "SEASON_LENGTHS", "DemandForecaster"]

MODEL_NAMES = (*LOCAL_MODELS, "lightgbm", "ensemble")
#: the models the ensemble averages (those of them in ``models`` that apply to the series)
ENSEMBLE_MEMBERS = ("auto_ets", "auto_arima", "auto_theta", "mstl", "lightgbm")
#: the main season of each frequency (weeks in a year, days in a week) and MSTL's further seasons
SEASON_LENGTHS = {"W": 52, "D": 7}
EXTRA_SEASONS = {"W": (), "D": (365,)}
#: periods back to the same calendar periods a year before (52 weeks; 364 days, the same weekday)
PRIOR_YEAR = {"W": 52, "D": 364}
#: fewest backtest misses of a level at one horizon step for a factor of that step alone
MIN_STEP_ERRORS = 10
INTERVAL_CALIBRATIONS = ("series", "level", "sides")
FORECAST_COLUMNS = ("series", "level", "period_start", "forecast", "lo_80", "hi_80", "model")
PANEL_COLUMNS = ("series", "level", "period_start", "y")


class DemandForecaster(BaseEstimator):
    """Choose a model per series by backtest and forecast ``horizon`` periods (see the module docstring).

    Series are keyed by ``(level, series)``. Fitted attributes: ``series_`` (the keys), ``backtest_``
    (one row per series, model and window: ``cutoff``, ``mase``, ``smape``, ``mae``, ``coverage``),
    ``scores_`` (means over the windows per series and model, with ``chosen``), ``chosen_`` (key ->
    model), ``forecast_`` (the columns :data:`FORECAST_COLUMNS`), ``history_`` (the panel), ``skipped_``
    (key -> reason).
    """

    def __init__(self, *, horizon: int = 12, freq: str = "W", models: Sequence[str] = MODEL_NAMES,
                 backtest_windows: int = 3, backtest_step: int | None = None, min_train: int | None = None,
                 n_lags: int = 8, lightgbm_estimators: int = 100, selection: str = "level",
                 interval_calibration: str = "series", holiday_country: str = "none",
                 holiday_dates: Sequence[dt.date] = (), prior_year_window: bool = True,
                 random_state: int = 0) -> None:
        self.horizon = horizon
        self.freq = freq
        self.models = models
        self.backtest_windows = backtest_windows
        self.backtest_step = backtest_step
        self.min_train = min_train
        self.n_lags = n_lags
        self.lightgbm_estimators = lightgbm_estimators
        self.selection = selection
        self.interval_calibration = interval_calibration
        self.holiday_country = holiday_country
        self.holiday_dates = holiday_dates
        self.prior_year_window = prior_year_window
        self.random_state = random_state

    # -- validation ------------------------------------------------------------------------------
    def _check(self, panel: pd.DataFrame) -> tuple[list[tuple[str, str]], pd.DatetimeIndex, np.ndarray]:
        if self.freq not in SEASON_LENGTHS:
            raise ConfigError(f"unknown forecast frequency {self.freq!r}", fix="use 'W' (weeks) or 'D' (days)")
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown or not self.models:
            raise ConfigError(f"unknown forecast model(s) {', '.join(map(repr, unknown)) or '(none given)'}",
                              fix=f"choose from {', '.join(MODEL_NAMES)}")
        if self.horizon < 1 or self.backtest_windows < 1:
            raise ConfigError(f"horizon ({self.horizon}) and backtest_windows ({self.backtest_windows}) must be >= 1",
                              fix="pass positive numbers")
        if self.selection not in ("series", "level"):
            raise ConfigError(f"unknown model selection {self.selection!r}", fix="use 'series' or 'level'")
        if self.interval_calibration not in INTERVAL_CALIBRATIONS:
            raise ConfigError(f"unknown interval calibration {self.interval_calibration!r}",
                              fix="use 'series', 'level' or 'sides'")
        if self.holiday_country not in HOLIDAY_COUNTRIES:
            raise ConfigError(f"unknown holiday country {self.holiday_country!r}",
                              fix=f"use one of {', '.join(HOLIDAY_COUNTRIES)}")
        missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
        if missing:
            raise DataValidationError(f"the forecast panel lacks column(s) {', '.join(missing)}",
                                      fix=f"pass a table with {', '.join(PANEL_COLUMNS)}")
        if panel["y"].isna().any():
            raise DataValidationError(f"the forecast panel has {int(panel['y'].isna().sum())} missing values",
                                      fix="fill periods without sales with 0 before forecasting")
        if panel.duplicated(["level", "series", "period_start"]).any():
            raise DataValidationError("the forecast panel repeats a (level, series, period_start)",
                                      fix="give each series one value per period")
        wide = panel.pivot(index=["level", "series"], columns="period_start", values="y")
        if wide.isna().any().any():
            raise DataValidationError("the forecast panel's series do not share one period grid",
                                      fix="give every series every period (0 where nothing sold)")
        names = [(str(level), str(series)) for level, series in wide.index]
        return names, pd.DatetimeIndex(wide.columns), wide.to_numpy(dtype="float64")

    @property
    def _holidays(self) -> bool:
        return self.holiday_country != "none" or bool(self.holiday_dates)

    @property
    def _min_train(self) -> int:
        return self.min_train if self.min_train is not None else max(self.n_lags + self.horizon + 4, 2 * self.horizon)

    # -- fitting ---------------------------------------------------------------------------------
    def candidate_forecasts(self, values: np.ndarray, starts: pd.DatetimeIndex) -> dict[str, list[Forecast | None]]:
        """Every model's forecast of every series after ``values`` (a panel ``[n_series, n_periods]`` over
        ``starts``; None where a model does not apply), before any interval calibration."""
        season = effective_season(values.shape[1], SEASON_LENGTHS[self.freq])
        exog = exog_future = None
        if self._holidays:
            grid = starts.append(_future(starts, self.horizon, self.freq))
            known = arima_regressors(grid, self.freq, country=self.holiday_country, extra=tuple(self.holiday_dates))
            exog, exog_future = known[:len(starts)], known[len(starts):]
        out: dict[str, list[Forecast | None]] = {}
        for name in self.models:
            if name == "ensemble":
                continue
            if name == "lightgbm":
                model = GlobalLightGBM(horizon=self.horizon, freq=self.freq, n_lags=self.n_lags,
                                       n_estimators=self.lightgbm_estimators, holiday_country=self.holiday_country,
                                       holiday_dates=tuple(self.holiday_dates), random_state=self.random_state)
                out[name] = list(model.fit(values, starts).predict())
            else:
                out[name] = [local_forecast(name, row, self.horizon, season_length=season,
                                            extra_seasons=EXTRA_SEASONS[self.freq], exog=exog,
                                            exog_future=exog_future) for row in values]
        if "ensemble" in self.models:
            out["ensemble"] = [_mean_forecast([out[m][i] for m in ENSEMBLE_MEMBERS if m in out])
                               for i in range(values.shape[0])]
        return out

    def backtest_cuts(self, n_periods: int) -> list[int]:
        """Where the backtest windows cut a history of ``n_periods`` (each window's forecast starts at that
        period), latest first; the prior-year window last."""
        step = self.backtest_step or self.horizon
        cuts = [n_periods - self.horizon - w * step for w in range(self.backtest_windows)]
        if self.prior_year_window and n_periods - PRIOR_YEAR[self.freq] not in cuts:
            # the same calendar periods a year before the forecast's: the season the future is in (holidays)
            cuts.append(n_periods - PRIOR_YEAR[self.freq])
        return [c for c in cuts if c >= self._min_train]

    def fit(self, panel: pd.DataFrame, *, window_panels: Mapping[pd.Timestamp, pd.DataFrame] | None = None,
            ) -> DemandForecaster:
        """Backtest, choose and forecast (see the class docstring). ``window_panels`` (optional) maps a
        backtest window's cutoff (the ``period_start`` its forecast begins at, see :meth:`backtest_cuts`)
        to the panel that window is scored on instead of ``panel`` (the same period grid; a series it lacks
        has no score in that window): a segment's members as they were at that cutoff, so the backtest
        sees what membership at a cutoff does to the periods after it, as the forecast will."""
        names, starts, values = self._check(panel)
        self.series_ = list(names)
        n_periods = values.shape[1]
        cuts = self.backtest_cuts(n_periods)
        self.skipped_ = {}
        if not cuts:
            need = self._min_train + self.horizon
            for n in names:
                self.skipped_[n] = f"needs at least {need} whole periods of history, has {n_periods}"
            self._empty()
            return self
        rows, errors = [], []
        for window, cut in enumerate(cuts):
            window_values, present = self._window_values(window_panels, starts, cut, names, values)
            kept = np.flatnonzero(present)
            if not len(kept):
                continue
            forecasts = self.candidate_forecasts(window_values[kept, :cut], starts[:cut])
            season = effective_season(cut, SEASON_LENGTHS[self.freq])
            for j, i in enumerate(kept):
                name = names[i]
                actual, insample = window_values[i, cut:cut + self.horizon], window_values[i, :cut]
                for model, per_series in forecasts.items():
                    f = per_series[j]
                    if f is None:
                        continue
                    rows.append({"level": name[0], "series": name[1], "model": model, "window": window, "cutoff": starts[cut],
                                 "mase": mase(actual, f.mean, insample, season), "smape": smape(actual, f.mean),
                                 "mae": float(np.mean(np.abs(actual - f.mean))),
                                 "coverage": coverage(actual, f.lo, f.hi)})
                    errors.append(((name, model), _interval_errors(actual, f)))
        scored = {(r["level"], r["series"]) for r in rows}
        for n in names:
            if rows and n not in scored:
                self.skipped_[n] = "in none of the backtest windows' panels"
        if not rows:
            for n in names:
                self.skipped_[n] = f"none of the models {', '.join(self.models)} applies to {n_periods} periods"
            self._empty()
            return self
        self.backtest_ = pd.DataFrame(rows)
        self.scores_ = self._scores(self.backtest_)
        chosen = self.scores_[self.scores_["chosen"]]
        self.chosen_ = {(lv, s): m for lv, s, m in zip(chosen["level"], chosen["series"], chosen["model"], strict=True)}
        final = self.candidate_forecasts(values, starts)
        self.interval_scale_ = self._interval_scales(errors)
        self.interval_sides_ = self._interval_sides(errors) if self.interval_calibration == "sides" else {}
        self.forecast_ = self._table([n for n in names if n in self.chosen_], starts,
                                     {m: [f for n, f in zip(names, fs, strict=True) if n in self.chosen_]
                                      for m, fs in final.items()})
        self.history_ = (panel.loc[:, list(PANEL_COLUMNS)].sort_values(["level", "series", "period_start"])
                         .reset_index(drop=True))
        return self

    def _window_values(self, window_panels: Mapping[pd.Timestamp, pd.DataFrame] | None, starts: pd.DatetimeIndex,
                       cut: int, names: list[tuple[str, str]], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The values one backtest window is scored on (rows in ``names``' order) and which series it has."""
        if not window_panels or starts[cut] not in window_panels:
            return values, np.ones(len(names), dtype=bool)
        window_names, window_starts, window_matrix = self._check(window_panels[starts[cut]])
        if not window_starts.equals(starts):
            raise DataValidationError(f"the backtest panel of the window cut at {starts[cut]:%Y-%m-%d} has another "
                                      "period grid than the forecast panel", fix="build both over the same periods")
        where = {n: i for i, n in enumerate(window_names)}
        present = np.array([n in where for n in names])
        out = np.zeros_like(values)
        for i, n in enumerate(names):
            if n in where:
                out[i] = window_matrix[where[n]]
        return out, present

    def _scores(self, backtest: pd.DataFrame) -> pd.DataFrame:
        order = {m: i for i, m in enumerate(sorted(self.models, key=lambda m: (m not in BASELINES, 0)))}
        keys = ["level", "series"]
        scores = (backtest.groupby([*keys, "model"], sort=False)
                  .agg(mase=("mase", "mean"), smape=("smape", "mean"), mae=("mae", "mean"),
                       coverage=("coverage", "mean"), windows=("window", "count"))
                  .reset_index())
        scores["rank_key"] = scores["mase"].where(scores["mase"].notna(), np.inf)
        scores["order"] = scores["model"].map(order)
        # MASE where defined; a series whose every MASE is NaN (it never changed) is ranked by MAE
        undefined = scores.groupby(keys)["mase"].transform(lambda s: s.isna().all())
        scores.loc[undefined, "rank_key"] = scores.loc[undefined, "mae"]
        if self.selection == "level":
            # one model for the whole level: the lowest mean MASE over the level's series where it is defined
            defined = scores[~undefined]
            pooled = defined.groupby(["level", "model"])["rank_key"].mean().rename("level_key").reset_index()
            scores = scores.merge(pooled, on=["level", "model"], how="left")
            scores.loc[~undefined, "rank_key"] = scores.loc[~undefined, "level_key"].fillna(np.inf)
            scores = scores.drop(columns="level_key")
        best = scores.sort_values([*keys, "rank_key", "order"]).groupby(keys).head(1).index
        scores["chosen"] = scores.index.isin(best)
        return scores.drop(columns=["rank_key", "order"]).sort_values([*keys, "model"]).reset_index(drop=True)

    def _table(self, names: list[tuple[str, str]], starts: pd.DatetimeIndex,
               final: dict[str, list[Forecast | None]]) -> pd.DataFrame:
        future = _future(starts, self.horizon, self.freq)
        frames = []
        for i, name in enumerate(names):
            model = self.chosen_[name]
            f = final[model][i]
            if f is None:  # the chosen model applied in every window, so it applies to the longer history
                raise DataValidationError(f"model {model} does not apply to series {name[1]!r}", fix="report this")
            scale = self.interval_scale_.get(name, np.ones(self.horizon))
            lo_scale, hi_scale = self.interval_sides_.get(name, (scale, scale))
            lo, hi = f.mean - lo_scale * (f.mean - f.lo), f.mean + hi_scale * (f.hi - f.mean)
            frames.append(pd.DataFrame({"series": name[1], "level": name[0], "period_start": future,
                                        "forecast": f.mean, "lo_80": lo, "hi_80": hi, "model": model}))
        return pd.concat(frames, ignore_index=True).loc[:, list(FORECAST_COLUMNS)]

    def _interval_scales(self, errors: list[tuple[tuple[tuple[str, str], str], np.ndarray]]) -> dict[tuple[str, str], np.ndarray]:
        """Per series, the factors (one per horizon step) that make the chosen model's 80% interval hold 80% of
        the backtest's actual values: a quantile of each miss measured in half-widths of the interval on its
        side (split conformal calibration over the rolling-origin windows; 1 where no finite miss is known).
        Misses against a zero-width interval are infinite and left out."""
        chosen: dict[tuple[str, str], list[np.ndarray]] = {}
        for (key, model), ratios in errors:
            if self.chosen_.get(key) == model:
                chosen.setdefault(key, []).append(np.abs(ratios))
        if self.interval_calibration == "series":
            scales: dict[tuple[str, str], np.ndarray] = {}
            for name in self.series_:
                ratios = np.concatenate(chosen[name]) if name in chosen else np.array([])
                ratios = ratios[np.isfinite(ratios)]
                factor = float(np.quantile(ratios, 0.8, method="higher")) if len(ratios) else 1.0
                scales[name] = np.full(self.horizon, factor)
            return scales
        per_level: dict[str, np.ndarray] = {}
        for level in {name[0] for name in self.series_}:
            windows = [r for name, found in chosen.items() if name[0] == level for r in found]
            per_level[level] = (_conformal_factors(np.vstack(windows), self.horizon) if windows
                                else np.ones(self.horizon))
        return {name: per_level[name[0]] for name in self.series_}

    def _interval_sides(self, errors: list[tuple[tuple[tuple[str, str], str], np.ndarray]],
                        ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """``interval_calibration="sides"``: per series, one factor for the lower and one for the upper
        half-width, each split conformal's finite-sample 90% quantile of the chosen model's backtest misses on
        that side (a miss on the other side counts 0), so the two 10% tails make an 80% interval and the width
        goes where the misses were: a series whose backtest actuals came out above the forecast gets a higher
        upper bound without a lower lower one."""
        sides: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        found: dict[tuple[str, str], list[np.ndarray]] = {}
        for (key, model), ratios in errors:
            if self.chosen_.get(key) == model:
                found.setdefault(key, []).append(ratios)
        tail = 1 - (1 - INTERVAL_LEVEL / 100) / 2
        for name, windows in found.items():
            signed = np.concatenate(windows)
            above = np.where(signed > 0, signed, 0.0)
            below = np.where(signed < 0, -signed, 0.0)
            sides[name] = (np.full(self.horizon, _conformal_quantile(below, tail)),
                           np.full(self.horizon, _conformal_quantile(above, tail)))
        return sides

    def _empty(self) -> None:
        self.backtest_ = pd.DataFrame(columns=["level", "series", "model", "window", "cutoff", "mase", "smape", "mae", "coverage"])
        self.scores_ = pd.DataFrame(columns=["level", "series", "model", "mase", "smape", "mae", "coverage", "windows", "chosen"])
        self.chosen_ = {}
        self.interval_scale_ = {}
        self.interval_sides_ = {}
        self.forecast_ = pd.DataFrame({c: pd.Series(dtype="object") for c in FORECAST_COLUMNS})
        self.history_ = pd.DataFrame(columns=list(PANEL_COLUMNS))

    def predict(self) -> pd.DataFrame:
        """The forecast table (columns :data:`FORECAST_COLUMNS`; one row per series and future period)."""
        check_fitted(self, "forecast_", fix="call fit(panel) first")
        return self.forecast_.copy()


def _future(starts: pd.DatetimeIndex, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The ``horizon`` period starts after ``starts``."""
    return pd.date_range(starts[-1], periods=horizon + 1, freq="W-MON" if freq == "W" else "D")[1:]


def _mean_forecast(members: list[Forecast | None]) -> Forecast | None:
    """The mean of the members' forecasts and bounds (None when no member applies)."""
    present = [f for f in members if f is not None]
    if not present:
        return None
    return Forecast.ordered(np.mean([f.mean for f in present], axis=0), np.mean([f.lo for f in present], axis=0),
                            np.mean([f.hi for f in present], axis=0))


def _conformal_quantile(ratios: np.ndarray, coverage_target: float = 0.8) -> float:
    """Split conformal's finite-sample quantile of the finite ``ratios``: the ``ceil((n + 1) target)``-th
    smallest of ``n`` (the largest when that is past ``n``; 1 when there are none)."""
    finite = np.sort(ratios[np.isfinite(ratios)])
    if not len(finite):
        return 1.0
    rank = min(len(finite), int(np.ceil((len(finite) + 1) * coverage_target)))
    return float(finite[rank - 1])


def _conformal_factors(ratios: np.ndarray, horizon: int) -> np.ndarray:
    """One factor per horizon step from misses ``[n_windows, horizon]``: per step where the step has at least
    :data:`MIN_STEP_ERRORS` finite misses, else pooled over every step."""
    pooled = _conformal_quantile(ratios.ravel())
    factors = np.full(horizon, pooled)
    for step in range(horizon):
        column = ratios[:, step]
        if np.isfinite(column).sum() >= MIN_STEP_ERRORS:
            factors[step] = _conformal_quantile(column)
    return factors


def _interval_errors(actual: np.ndarray, forecast: Forecast) -> np.ndarray:
    """Each actual's distance from the forecast in half-widths of the interval on its side, signed: positive
    above the forecast, negative below (within -1..1: inside)."""
    above = actual >= forecast.mean
    width = np.where(above, forecast.hi - forecast.mean, forecast.mean - forecast.lo)
    gap = np.abs(actual - forecast.mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(width > 0, gap / width, np.where(gap > 0, np.inf, 0.0))
    return np.where(above, size, -size)
