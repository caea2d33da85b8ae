"""Use case: customer lifetime value (BG/NBD or Pareto/NBD + Gamma-Gamma) and the checks behind it.

One function, :func:`fit_clv`, for the run stage (days, 365-day horizon, 10 % a year by
default, from the run config) and ``targetwise clv`` (the user's unit and horizon): the
time unit and the horizon are parameters, never implied.

At the edge of the parameter space (a small shop where nobody lapses: BG/NBD's ``a → 0``
or ``b → ∞``; identical spend levels: Gamma-Gamma's ``q → ∞``) a fit stops with a
ConvergenceError. :func:`fit_clv` then refits with the ``retry_penalizers`` in turn
(``clv.retry_penalizers``), and, when the edge the fit ran to is the one where nobody
lapses, also fits the no-dropout NBD purchase model (:class:`targetwise.clv.NBD`, that
edge of BG/NBD and Pareto/NBD), keeping whichever of the converged models fits the data
best (AIC, on the unpenalised likelihood). The notes say which model was used and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, ConvergenceError, ModelError
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.usecases._common import Notes, collect_warnings
from targetwise.usecases.features import AsOf, features_at

__all__ = [
    "MODEL_LABELS",
    "TIME_UNIT_DAYS",
    "ClvChecks",
    "ClvResult",
    "calibration_holdout_split",
    "clv_checks",
    "clv_workspace",
    "expected_lapses",
    "fit_clv",
    "fit_spend_model",
    "fit_transaction_model",
    "per_unit_discount",
    "score_clv",
    "tracking_data",
]

TIME_UNIT_DAYS = {"D": 1, "W": 7}
#: model class name -> (key in run outputs, name a marketer reads)
MODEL_LABELS = {
    "BetaGeo": ("beta_geo", "BG/NBD"),
    "ParetoNBD": ("pareto_nbd", "Pareto/NBD"),
    "NBD": ("nbd", "NBD (no dropout)"),
    "GammaGamma": ("gamma_gamma", "Gamma-Gamma"),
    "CovariateBetaGeo": ("beta_geo", "BG/NBD with covariates"),
    "CovariateParetoNBD": ("pareto_nbd", "Pareto/NBD with covariates"),
    "CovariateGammaGamma": ("gamma_gamma", "Gamma-Gamma with covariates"),
}
#: penalties tried in turn when a fit stops at the edge of its parameter space (RunConfig.clv.retry_penalizers)
RETRY_PENALIZERS = (0.001, 0.01)
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
        """The fitted parameters; with covariates also ``covariates``: every parameter with its standard error."""
        out = {
            "transaction_model": type(self.transaction_model).__name__,
            "params": dict(self.transaction_model.params_),
            "spend_params": dict(self.spend_model.params_),
            "log_likelihood": float(self.transaction_model.log_likelihood_),
        }
        if hasattr(self.transaction_model, "coefficients_"):
            from targetwise.usecases.clv_covariates import coefficient_rows

            out["covariates"] = {
                "names": list(self.transaction_model.covariate_names_),
                "transaction": coefficient_rows(self.transaction_model),
                "spend": coefficient_rows(self.spend_model),
            }
        return out


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
    retry_penalizers: Sequence[float] = RETRY_PENALIZERS,
    no_dropout_fallback: bool = True,
    random_state: int = 0,
    covariates: pd.DataFrame | None = None,
) -> ClvResult:
    """CLV over ``horizon`` time units, discounted at ``discount_rate`` per unit.

    ``features`` are BTYD features computed in ``time_unit`` (``btyd_frequency``,
    ``btyd_recency``, ``btyd_T``, ``btyd_monetary_value``). Without a usable
    interval (e.g. a singular information matrix on a tiny shop) the point values
    stay and the notes say why. A fit at the edge of its parameter space is refitted
    with ``retry_penalizers`` or replaced by the no-dropout NBD (module docstring).
    ``covariates`` (one row per feature row, numeric columns, e.g. from
    :func:`~targetwise.usecases.clv_covariates.clv_covariate_table`) switch to the covariate
    models (:func:`~targetwise.usecases.clv_covariates.fit_clv_covariates`; penalised refits, no
    NBD fallback); a table without columns is the plain fit.
    """
    _check(time_unit, model)
    if covariates is not None and covariates.shape[1] > 0:
        from targetwise.usecases.clv_covariates import fit_clv_covariates

        return fit_clv_covariates(  # type: ignore[no-any-return]
            features, covariates, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
            interval=interval, n_draws=n_draws, model=model, penalizer_coef=penalizer_coef,
            spend_penalizer_coef=spend_penalizer_coef, retry_penalizers=retry_penalizers, random_state=random_state,
        )
    f = features
    freq, rec, T = (f[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = f["btyd_monetary_value"].to_numpy(dtype=float)
    repeat = (freq > 0) & (money > 0)
    notes = Notes()
    trans = fit_transaction_model(
        freq, rec, T, model=model, penalizer_coef=penalizer_coef, retry_penalizers=retry_penalizers,
        no_dropout_fallback=no_dropout_fallback, notes=notes,
    )
    spend = fit_spend_model(
        freq[repeat], money[repeat], penalizer_coef=spend_penalizer_coef, retry_penalizers=retry_penalizers,
        notes=notes,
    )
    table = score_clv(
        trans, spend, f, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate, interval=interval,
        n_draws=n_draws, random_state=random_state, notes=notes,
    )
    return ClvResult(
        table=table, transaction_model=trans, spend_model=spend, horizon=float(horizon), time_unit=time_unit,
        discount_rate=float(discount_rate), repeat_buyers=int(repeat.sum()), notes=notes,
    )


def score_clv(
    trans: Any,
    spend: Any,
    features: pd.DataFrame,
    *,
    horizon: float,
    time_unit: str,
    discount_rate: float,
    interval: float | None,
    n_draws: int,
    random_state: int,
    notes: Notes | None = None,
) -> pd.DataFrame:
    """The CLV table (P(alive), expected purchases and spend, CLV and its interval) of the customers in
    ``features`` with fitted models: what :func:`fit_clv` writes, and what ``targetwise rescore`` recomputes
    for the customers with new lines (the interval's parameter draws come from ``random_state`` alone, so a
    customer's values do not depend on who else is scored)."""
    from targetwise.clv import customer_lifetime_value

    notes = notes if notes is not None else Notes()
    f = features
    freq, rec, T = (f[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = f["btyd_monetary_value"].to_numpy(dtype=float)
    spend_input = np.where((freq > 0) & (money > 0), money, 0.0)
    with collect_warnings(notes):
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
    return table


# -- fits at the edge of the parameter space ----------------------------------------------

_CONFIG_FIX = (
    "set clv.penalizer_coef / clv.spend_penalizer_coef in the run config (e.g. --set clv.penalizer_coef=0.01), "
    "add more values to clv.retry_penalizers, or check that the shop has enough repeat buyers"
)


@dataclass
class _Candidate:
    model: Any
    label: str
    notes: Notes


def _attempt(fit: Callable[[], Any], label: str) -> _Candidate | ConvergenceError | ModelError:
    """One fit, its warnings kept apart (a candidate that is not chosen leaves no notes)."""
    notes = Notes()
    try:
        with collect_warnings(notes):
            return _Candidate(fit(), label, notes)
    except (ConvergenceError, ModelError) as exc:
        return exc


def _aic(model: Any) -> float:
    return 2.0 * len(model.params_) - 2.0 * float(model.log_likelihood_)


def _short(params: dict[str, float]) -> str:
    return ", ".join(f"{k} = {v:.3g}" for k, v in params.items())


def expected_lapses(params: dict[str, float], model: str, frequency: np.ndarray, T: np.ndarray) -> float | None:
    """How many customers a BG/NBD (``bgnbd``) or Pareto/NBD fit with ``params`` says lapsed (None: unknown).

    BG/NBD: a dropout chance of ``a/(a+b)`` after each repeat purchase; Pareto/NBD: a death
    rate of ``s/β`` per time unit over each customer's ``T``. Below one customer the fit is at
    the edge where nobody lapses, which is the no-dropout NBD.
    """
    if model == "bgnbd" and {"a", "b"} <= params.keys():
        return float(params["a"] / (params["a"] + params["b"]) * np.sum(frequency))
    if model == "paretonbd" and {"s", "beta"} <= params.keys():
        return float(params["s"] / params["beta"] * np.sum(T))
    return None


def fit_transaction_model(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    *,
    model: str = "bgnbd",
    penalizer_coef: float = 0.0,
    retry_penalizers: Sequence[float] = RETRY_PENALIZERS,
    no_dropout_fallback: bool = True,
    notes: Notes | None = None,
) -> Any:
    """BG/NBD (or Pareto/NBD) at ``penalizer_coef``; at the edge of the parameter space, the best refit.

    A fit that stops at the edge (ConvergenceError) is refitted with each of
    ``retry_penalizers`` above ``penalizer_coef`` (the first that converges). When the edge
    is the one where nobody lapses (fewer than one expected lapsed customer: a stopped or a
    converged fit alike, since which of the two the optimiser reaches there is chance), the
    no-dropout :class:`~targetwise.clv.NBD` is fitted too. The candidate with the lowest AIC
    is returned and ``notes`` say so. Without a converged candidate the first error is
    raised, its fix naming the run config.
    """
    from targetwise.clv import NBD, BetaGeo, ParetoNBD

    notes = Notes() if notes is None else notes
    cls = BetaGeo if model == "bgnbd" else ParetoNBD
    name = MODEL_LABELS[cls.__name__][1]
    first = _attempt(lambda: cls(penalizer_coef=penalizer_coef).fit(frequency, recency, T), name)
    if isinstance(first, ModelError) and not isinstance(first, ConvergenceError):
        raise first
    stopped = isinstance(first, ConvergenceError)
    params = (first.details.get("params") or {}) if isinstance(first, ConvergenceError) else first.model.params_
    lapses = expected_lapses(params, model, frequency, T)
    nobody_lapses = lapses is not None and lapses < 1.0
    if not stopped and not (no_dropout_fallback and nobody_lapses):
        assert isinstance(first, _Candidate)
        notes.extend(n for n in first.notes if n not in notes)
        return first.model
    candidates: list[_Candidate] = [] if stopped else [first]  # type: ignore[list-item]
    if stopped:
        for coef in sorted(c for c in retry_penalizers if c > penalizer_coef):
            refit = _attempt(lambda c=coef: cls(penalizer_coef=c).fit(frequency, recency, T),
                             f"{name} refitted with penalizer_coef {coef:g} (clv.retry_penalizers)")
            if isinstance(refit, _Candidate):
                candidates.append(refit)
                break
    if no_dropout_fallback and nobody_lapses:
        nbd = _attempt(lambda: NBD(penalizer_coef=penalizer_coef).fit(frequency, recency, T),
                       "fallback: the no-dropout NBD purchase model (P(alive) = 1 for every customer)")
        if isinstance(nbd, _Candidate):
            candidates.append(nbd)
    verb = "stopped at the edge of its parameter space" if stopped else "converged to the edge of its parameter space"
    why = f"{name} {verb} ({_short(params)})"
    if nobody_lapses:
        why += f": nobody lapses (an expected {lapses:.2g} lapsed customers)"
    if not candidates:
        assert isinstance(first, ConvergenceError)
        tried = ", ".join(f"{c:g}" for c in sorted(retry_penalizers) if c > penalizer_coef) or "none"
        raise ConvergenceError(
            f"{why}; refits with penalizer_coef {tried}"
            + (" and the no-dropout NBD" if no_dropout_fallback and nobody_lapses else "") + " did not converge either",
            fix=_CONFIG_FIX, details=first.details,
        )
    best = min(candidates, key=lambda c: _aic(c.model))
    if best is not first:
        notes.add(f"{why}; {best.label}: {_short(best.model.params_)}")
    notes.extend(n for n in best.notes if n not in notes)
    return best.model


def fit_spend_model(
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    *,
    penalizer_coef: float = 0.0,
    retry_penalizers: Sequence[float] = RETRY_PENALIZERS,
    notes: Notes | None = None,
) -> Any:
    """Gamma-Gamma on repeat buyers at ``penalizer_coef``; at the edge, refitted with ``retry_penalizers``.

    A fit counts only with a defined mean spend (q > 1). The first that converges is
    returned and ``notes`` say which penalty; without one the first error is raised.
    """
    from targetwise.clv import GammaGamma

    notes = Notes() if notes is None else notes

    def fit(coef: float) -> Any:
        spend = GammaGamma(penalizer_coef=coef).fit(frequency, monetary_value)
        if spend.params_["q"] <= 1.0:  # the mean spend p v / (q - 1) is undefined: no usable fit either
            raise ConvergenceError(
                f"Gamma-Gamma fitted q = {spend.params_['q']:.4g} <= 1, where the mean spend is undefined",
                fix=_CONFIG_FIX, details={"params": dict(spend.params_)},
            )
        return spend

    first = _attempt(lambda: fit(penalizer_coef), "Gamma-Gamma")
    if isinstance(first, _Candidate):
        notes.extend(n for n in first.notes if n not in notes)
        return first.model
    if not isinstance(first, ConvergenceError):
        raise first
    edge = _short(first.details.get("params") or {}) or first.message
    for coef in sorted(c for c in retry_penalizers if c > penalizer_coef):
        refit = _attempt(lambda c=coef: fit(c), f"Gamma-Gamma refitted with penalizer_coef {coef:g} (clv.retry_penalizers)")
        if isinstance(refit, _Candidate):
            notes.add(f"Gamma-Gamma stopped at the edge of its parameter space ({edge}); {refit.label}: "
                      f"{_short(refit.model.params_)}")
            notes.extend(n for n in refit.notes if n not in notes)
            return refit.model
    tried = ", ".join(f"{c:g}" for c in sorted(retry_penalizers) if c > penalizer_coef)
    raise ConvergenceError(
        f"Gamma-Gamma stopped at the edge of its parameter space ({edge})"
        + (f"; refits with penalizer_coef {tried} did not converge either" if tried else ""),
        fix=_CONFIG_FIX, details=first.details,
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
    covariates: Sequence[str] = (),
    covariate_min_customers: int = 50,
) -> ClvResult:
    """``targetwise clv``: features in ``time_unit`` at ``as_of`` (objectors left out), then :func:`fit_clv`;
    ``covariates`` name customer attributes or categorical features (one-hot, ``clv.covariates``)."""
    from targetwise.usecases.clv_covariates import clv_covariate_table

    _check(time_unit, model)
    notes = Notes()
    table = None
    with open_model_data(ws) as data:
        features = features_at(data, as_of, time_unit=time_unit)
        if covariates:
            table, notes = clv_covariate_table(data, as_of, features, covariates, min_customers=covariate_min_customers)
    result = fit_clv(
        features, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate, interval=interval,
        model=model, random_state=random_state, covariates=table,
    )
    result.notes[:0] = [n for n in notes if n not in result.notes]
    return result


# -- checks: calibration vs holdout, tracking ---------------------------------------------


def calibration_holdout_split(data: ModelData, cutoff: AsOf, end: AsOf, *, time_unit: str = "W") -> pd.DataFrame:
    """BTYD summary at ``cutoff`` plus ``holdout_frequency``: purchase periods of ``time_unit`` in [cutoff, end).

    Purchases are collapsed per period of ``time_unit`` (days, or Monday-to-Sunday weeks),
    like the calibration frequency, so the two are comparable (lifetimes'
    calibration_and_holdout_data with the same freq).
    """
    cut, stop = pd.Timestamp(cutoff), pd.Timestamp(end)
    if stop <= cut:
        raise ConfigError(f"holdout end {stop.date()} must be after the cutoff {cut.date()}", fix="swap the dates")
    summary = features_at(data, cut, time_unit=time_unit)
    frame = summary.merge(data.holdout_frequency(cut, stop, time_unit=time_unit), on="customer_id", how="left")
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
    notes: Notes = field(default_factory=Notes)


def clv_checks(
    data: ModelData,
    as_of: AsOf,
    *,
    holdout_weeks: int | None = None,
    penalizer_coef: float = 0.0,
    retry_penalizers: Sequence[float] = RETRY_PENALIZERS,
    no_dropout_fallback: bool = True,
) -> ClvChecks:
    """The calibration fit (in weeks, before the holdout) and its checks; at the edge, refitted as :func:`fit_clv` does."""
    from targetwise.clv import calibration_holdout_table, tracking_table

    end = pd.Timestamp(as_of)
    first = data.first_ordered_at()
    if first is None:
        raise ModelError("no transactions to check CLV against", fix="ingest transactions first")
    span_weeks = (end - first).days / 7
    weeks = holdout_weeks or int(max(4, min(26, span_weeks // 3)))
    cutoff = (end - pd.Timedelta(weeks=weeks)).normalize()
    cal = calibration_holdout_split(data, cutoff, end, time_unit="W")
    f, r, T = (cal[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    notes = Notes()
    model = fit_transaction_model(
        f, r, T, penalizer_coef=penalizer_coef, retry_penalizers=retry_penalizers,
        no_dropout_fallback=no_dropout_fallback, notes=notes,
    )
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
        notes=Notes(f"calibration check: {n}" for n in notes),
    )
