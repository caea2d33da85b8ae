"""Use case: CLV with time-invariant covariates (part of the CLV use case, ``clv.covariates``).

:func:`clv_covariate_table` builds the one-hot covariates from the customers' attributes
(``acquisition_channel``, ``first_order_category``, ``region``: :mod:`targetwise.io.clv_attributes`)
or from categorical feature columns, aligned to the feature rows; :func:`fit_clv_covariates`
fits BG/NBD (or Pareto/NBD) and Gamma-Gamma with those covariates on the purchase, dropout
and spend processes and scores CLV per covariate group. :func:`targetwise.usecases.clv.fit_clv`
calls it when covariates are given, so the run stage and ``targetwise clv`` share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, ConvergenceError, ModelError
from targetwise.io.clv_attributes import CLV_ATTRIBUTES, customer_attributes
from targetwise.io.modeldata import ModelData
from targetwise.usecases._common import Notes, collect_warnings

__all__ = ["MAX_FEATURE_LEVELS", "clv_covariate_table", "coefficient_rows", "fit_clv_covariates", "plain_model"]

#: a feature with more distinct values than this is not a category (CLV covariates are one-hot)
MAX_FEATURE_LEVELS = 30


def clv_covariate_table(
    data: ModelData, as_of: Any, features: pd.DataFrame, names: Sequence[str], *, min_customers: int = 50
) -> tuple[pd.DataFrame, Notes]:
    """One-hot covariates, one row per row of ``features`` (objectors are not in ``data``)."""
    from targetwise.clv import one_hot_covariates

    frame = features[["customer_id"]].copy()
    wanted_attributes = [n for n in names if n in CLV_ATTRIBUTES]
    if wanted_attributes:
        attributes = customer_attributes(data, before=as_of)
        frame = frame.merge(attributes[["customer_id", *wanted_attributes]], on="customer_id", how="left")
    for name in names:
        if name in CLV_ATTRIBUTES:
            continue
        if name not in features.columns:
            raise ConfigError(
                f"clv.covariates names {name!r}, which is neither a customer attribute ({', '.join(CLV_ATTRIBUTES)}) "
                "nor a feature column",
                fix="use acquisition_channel, first_order_category, region or a categorical feature such as top_category",
            )
        column = features[name]
        n_levels = int(column.nunique(dropna=False))
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype) and (
            n_levels > MAX_FEATURE_LEVELS
        ):
            raise ConfigError(
                f"clv.covariates: feature {name!r} is numeric with {n_levels} distinct values; CLV covariates are "
                f"categories (one-hot, at most {MAX_FEATURE_LEVELS} levels)",
                fix="choose a categorical feature or attribute, or bin the feature upstream into a few named levels",
            )
        frame[name] = column.to_numpy()
    covariates, notes = one_hot_covariates(frame, list(names), min_customers=min_customers)
    covariates.index = features.index
    return covariates, Notes(f"covariates: {n}" for n in notes)


def coefficient_rows(model: Any) -> list[dict[str, Any]]:
    """``summary()`` of a covariate model as records: parameter, coef, se, 95 % bounds (None for NaN)."""

    def clean(value: float) -> float | None:
        return None if not np.isfinite(value) else float(value)

    return [
        {"parameter": name, "coef": clean(row["coef"]), "se": clean(row["se(coef)"]),
         "lower_95": clean(row["lower 95% bound"]), "upper_95": clean(row["upper 95% bound"])}
        for name, row in model.summary().iterrows()
    ]


def plain_model(model: Any) -> Any:
    """A covariate model's plain model at the reference (all covariates 0); a plain model as it is."""
    if not hasattr(model, "group_models"):
        return model
    reference = pd.DataFrame(np.zeros((1, len(model.covariate_names_))), columns=model.covariate_names_)
    return model.group_models(reference)[0][0]


def _first_converging(fits: Sequence[tuple[float, Any]], label: str, notes: Notes) -> Any:
    """The first of ``(penalizer, fit)`` that converges (a note when it is not the first)."""
    first_error: ConvergenceError | None = None
    for coef, fit in fits:
        try:
            with collect_warnings(notes):
                model = fit()
        except ConvergenceError as exc:
            first_error = first_error or exc
            continue
        if first_error is not None:
            notes.add(f"{label} stopped at the edge of its parameter space; refitted with penalizer_coef {coef:g} "
                      "(clv.retry_penalizers)")
        return model
    assert first_error is not None
    raise ConvergenceError(
        f"{label} did not converge with any penalty tried ({first_error.message})",
        fix="leave clv.covariates empty, pool rare levels (clv.covariate_min_customers), or raise clv.penalizer_coef",
        details=first_error.details,
    )


def fit_clv_covariates(
    features: pd.DataFrame,
    covariates: pd.DataFrame,
    *,
    horizon: float,
    time_unit: str,
    discount_rate: float = 0.0,
    interval: float | None = 0.8,
    n_draws: int = 200,
    model: str = "bgnbd",
    penalizer_coef: float = 0.0,
    spend_penalizer_coef: float = 0.0,
    retry_penalizers: Sequence[float] = (),
    random_state: int = 0,
    notes: Notes | None = None,
) -> Any:
    """:func:`targetwise.usecases.clv.fit_clv` with covariates on purchase, dropout and spend."""
    from targetwise.clv import (
        CovariateBetaGeo,
        CovariateGammaGamma,
        CovariateParetoNBD,
        customer_lifetime_value_with_covariates,
    )
    from targetwise.usecases.clv import ClvResult

    notes = Notes() if notes is None else notes
    freq, rec, T = (features[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = features["btyd_monetary_value"].to_numpy(dtype=float)
    repeat = (freq > 0) & (money > 0)
    spend_input = np.where(repeat, money, 0.0)
    cls = CovariateBetaGeo if model == "bgnbd" else CovariateParetoNBD
    label = "BG/NBD with covariates" if model == "bgnbd" else "Pareto/NBD with covariates"

    def penalties(start: float) -> list[float]:
        return [start, *sorted(c for c in retry_penalizers if c > start)]

    trans = _first_converging(
        [(c, lambda c=c: cls(penalizer_coef=c).fit(freq, rec, T, covariates)) for c in penalties(penalizer_coef)],
        label, notes,
    )
    spend_cov = covariates.loc[repeat]
    spend = _first_converging(
        [(c, lambda c=c: CovariateGammaGamma(penalizer_coef=c).fit(freq[repeat], money[repeat], spend_cov))
         for c in penalties(spend_penalizer_coef)],
        "Gamma-Gamma with covariates", notes,
    )
    if spend.params_["q"] <= 1.0:
        raise ModelError(
            f"Gamma-Gamma with covariates fitted q = {spend.params_['q']:.4g} <= 1, where the mean spend is undefined",
            fix="leave clv.covariates empty or raise clv.spend_penalizer_coef",
        )
    kwargs: dict[str, Any] = dict(horizon=horizon, discount_rate=discount_rate, time_unit=time_unit, n_draws=n_draws)
    if time_unit == "D":
        kwargs["step"] = 7.0  # weekly discounting steps on a daily clock, as without covariates
    args = (trans, spend, freq, rec, T, spend_input, covariates)
    with collect_warnings(notes):
        try:
            value = customer_lifetime_value_with_covariates(*args, interval=interval, random_state=random_state, **kwargs)
        except ModelError as exc:
            if interval is None:
                raise
            notes.add(f"no CLV intervals: {exc.message}")
            value = customer_lifetime_value_with_covariates(*args, interval=None, random_state=random_state, **kwargs)
    table = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(),
                          "p_alive": trans.prob_alive(freq, rec, T, covariates)})
    for col in ("expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper"):
        table[col] = value[col].to_numpy() if col in value.columns else np.nan
    notes.add(f"covariates: {trans.n_groups_} customer groups; coefficients with standard errors in the CLV params")
    return ClvResult(
        table=table, transaction_model=trans, spend_model=spend, horizon=float(horizon), time_unit=time_unit,
        discount_rate=float(discount_rate), repeat_buyers=int(repeat.sum()), notes=notes,
    )
