"""Use case: customer lifetime value (BG/NBD or Pareto/NBD + Gamma-Gamma) and the checks behind it.

One function, :func:`fit_clv`, for the run stage (days, 365-day horizon, 10 % a year by
default, from the run config) and ``targetwise clv`` (the user's unit and horizon): the
time unit and the horizon are parameters, never implied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, ModelError
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.usecases._common import Notes, collect_warnings
from targetwise.usecases.features import AsOf, features_at

__all__ = [
    "TIME_UNIT_DAYS",
    "ClvChecks",
    "ClvResult",
    "calibration_holdout_split",
    "clv_checks",
    "clv_workspace",
    "fit_clv",
    "per_unit_discount",
    "tracking_data",
]

TIME_UNIT_DAYS = {"D": 1, "W": 7}
CLV_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper")


@dataclass
class ClvResult:
    """Per-customer CLV (columns :data:`CLV_COLUMNS`) and the fitted models."""

    table: pd.DataFrame
    transaction_model: Any
    spend_model: Any
    horizon: float
    time_unit: str
    discount_rate: float
    repeat_buyers: int
    notes: Notes = field(default_factory=Notes)

    def params(self) -> dict[str, Any]:
        return {
            "transaction_model": type(self.transaction_model).__name__,
            "params": dict(self.transaction_model.params_),
            "spend_params": dict(self.spend_model.params_),
            "log_likelihood": float(self.transaction_model.log_likelihood_),
        }


def per_unit_discount(annual_rate: float, time_unit: str) -> float:
    """The discount rate per day or week equivalent to ``annual_rate`` a year."""
    return (1 + annual_rate) ** (TIME_UNIT_DAYS[time_unit] / 365) - 1


def _check(time_unit: str, model: str) -> None:
    if time_unit not in TIME_UNIT_DAYS:
        raise ConfigError(f"unknown time unit {time_unit!r}", fix="use D (days) or W (weeks)")
    if model not in ("bgnbd", "paretonbd"):
        raise ConfigError(f"unknown CLV model {model!r}", fix="use bgnbd or paretonbd")


def fit_clv(
    features: pd.DataFrame,
    *,
    horizon: float,
    time_unit: str,
    discount_rate: float = 0.0,
    interval: float | None = 0.8,
    n_draws: int = 200,
    model: str = "bgnbd",
    penalizer_coef: float = 0.0,
    spend_penalizer_coef: float = 0.0,
    random_state: int = 0,
) -> ClvResult:
    """CLV over ``horizon`` time units, discounted at ``discount_rate`` per unit.

    ``features`` are BTYD features computed in ``time_unit`` (``btyd_frequency``,
    ``btyd_recency``, ``btyd_T``, ``btyd_monetary_value``). Without a usable
    interval (e.g. a singular information matrix on a tiny shop) the point values
    stay and the notes say why.
    """
    from targetwise.clv import BetaGeo, GammaGamma, ParetoNBD, customer_lifetime_value

    _check(time_unit, model)
    f = features
    freq, rec, T = (f[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = f["btyd_monetary_value"].to_numpy(dtype=float)
    repeat = (freq > 0) & (money > 0)
    spend_input = np.where(repeat, money, 0.0)
    notes = Notes()
    with collect_warnings(notes):
        cls = BetaGeo if model == "bgnbd" else ParetoNBD
        trans = cls(penalizer_coef=penalizer_coef).fit(freq, rec, T)
        spend = GammaGamma(penalizer_coef=spend_penalizer_coef).fit(freq[repeat], money[repeat])
        kwargs: dict[str, Any] = dict(
            horizon=horizon, discount_rate=discount_rate, time_unit=time_unit, n_draws=n_draws,
            random_state=random_state,
        )
        if time_unit == "D":
            kwargs["step"] = 7.0  # weekly discounting steps on a daily clock
        try:
            value = customer_lifetime_value(trans, spend, freq, rec, T, spend_input, interval=interval, **kwargs)
        except ModelError as exc:
            if interval is None:
                raise
            notes.add(f"no CLV intervals: {exc.message}")
            value = customer_lifetime_value(trans, spend, freq, rec, T, spend_input, interval=None, **kwargs)
    table = pd.DataFrame({"customer_id": f["customer_id"].to_numpy(), "p_alive": trans.prob_alive(freq, rec, T)})
    for col in ("expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper"):
        table[col] = value[col].to_numpy() if col in value.columns else np.nan
    return ClvResult(
        table=table, transaction_model=trans, spend_model=spend, horizon=float(horizon), time_unit=time_unit,
        discount_rate=float(discount_rate), repeat_buyers=int(repeat.sum()), notes=notes,
    )


def clv_workspace(
    ws: Workspace,
    as_of: AsOf,
    *,
    horizon: float,
    time_unit: str = "W",
    discount_rate: float = 0.0,
    interval: float | None = 0.8,
    model: str = "bgnbd",
    random_state: int = 0,
) -> ClvResult:
    """``targetwise clv``: features in ``time_unit`` at ``as_of`` (objectors left out), then :func:`fit_clv`."""
    _check(time_unit, model)
    with open_model_data(ws) as data:
        features = features_at(data, as_of, time_unit=time_unit)
    return fit_clv(
        features, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate, interval=interval,
        model=model, random_state=random_state,
    )


# -- checks: calibration vs holdout, tracking ---------------------------------------------


def calibration_holdout_split(data: ModelData, cutoff: AsOf, end: AsOf, *, time_unit: str = "W") -> pd.DataFrame:
    """BTYD summary at ``cutoff`` plus ``holdout_frequency``: purchase days in [cutoff, end).

    Purchases are collapsed per day, like the calibration frequency, so the two are
    comparable (lifetimes' calibration_and_holdout_data with freq='D').
    """
    cut, stop = pd.Timestamp(cutoff), pd.Timestamp(end)
    if stop <= cut:
        raise ConfigError(f"holdout end {stop.date()} must be after the cutoff {cut.date()}", fix="swap the dates")
    summary = features_at(data, cut, time_unit=time_unit)
    frame = summary.merge(data.holdout_frequency(cut, stop), on="customer_id", how="left")
    frame["holdout_frequency"] = frame["holdout_frequency"].fillna(0).astype(int)
    frame.attrs["holdout_duration"] = (stop - cut).days / TIME_UNIT_DAYS[time_unit]
    return frame


def tracking_data(data: ModelData, as_of: AsOf, *, unit_days: int = 7) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Repeat purchases per period (all customers) and each customer's first purchase time.

    Purchases are collapsed per customer-day; time is measured in periods of
    ``unit_days`` from the first purchase in the data. Used by the tracking plot.
    """
    days = data.purchase_days(before=as_of)
    origin = pd.Timestamp(days["day"].min())
    t = (pd.to_datetime(days["day"]) - origin).dt.days.to_numpy() / unit_days
    days = days.assign(t=t).sort_values(["customer_id", "t"], kind="stable")
    first = days.groupby("customer_id", sort=False)["t"].transform("min")
    repeat_t = days.loc[days["t"] > first, "t"].to_numpy()
    n_periods = int(np.ceil((pd.Timestamp(as_of) - origin).days / unit_days))
    per_period = np.bincount(np.clip(np.ceil(repeat_t).astype(int) - 1, 0, None), minlength=n_periods)[:n_periods]
    first_times = days.groupby("customer_id")["t"].min().to_numpy()
    return per_period.astype(float), first_times, origin


@dataclass
class ClvChecks:
    """BG/NBD fitted in weeks before a calibration cutoff, checked against the weeks after it."""

    model: Any
    cutoff: pd.Timestamp
    holdout_weeks: int
    calibration_holdout: pd.DataFrame
    tracking: pd.DataFrame
    calibration_end_period: float
    arrays: tuple[Any, ...]
    holdout_actual: float
    holdout_predicted: float


def clv_checks(data: ModelData, as_of: AsOf, *, holdout_weeks: int | None = None) -> ClvChecks:
    from targetwise.clv import BetaGeo, calibration_holdout_table, tracking_table

    end = pd.Timestamp(as_of)
    first = data.first_ordered_at()
    if first is None:
        raise ModelError("no transactions to check CLV against", fix="ingest transactions first")
    span_weeks = (end - first).days / 7
    weeks = holdout_weeks or int(max(4, min(26, span_weeks // 3)))
    cutoff = (end - pd.Timedelta(weeks=weeks)).normalize()
    cal = calibration_holdout_split(data, cutoff, end, time_unit="W")
    f, r, T = (cal[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    model = BetaGeo().fit(f, r, T)
    holdout = cal["holdout_frequency"].to_numpy(dtype=float)
    table = calibration_holdout_table(model, f, r, T, holdout, holdout_duration=cal.attrs["holdout_duration"])
    per_period, first_times, origin = tracking_data(data, end, unit_days=7)
    cal_end = (cutoff - origin).days / 7
    # customers acquired before the calibration cutoff only (the model has not seen later cohorts)
    acquired = first_times[first_times < cal_end]
    return ClvChecks(
        model=model,
        cutoff=cutoff,
        holdout_weeks=weeks,
        calibration_holdout=pd.DataFrame(table),
        tracking=pd.DataFrame(tracking_table(model, per_period, acquired)),
        calibration_end_period=cal_end,
        arrays=(f, r, T, holdout, cal.attrs["holdout_duration"], per_period, acquired),
        holdout_actual=float(holdout.sum()),
        holdout_predicted=float(model.expected_purchases(cal.attrs["holdout_duration"], f, r, T).sum()),
    )
