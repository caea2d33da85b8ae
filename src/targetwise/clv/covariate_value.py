"""One-hot covariates for the CLV models and CLV from covariate fits.

:func:`one_hot_covariates` turns categorical customer attributes (acquisition channel,
first-order category, region, ...) into 0/1 columns named ``column=level``. The most common
level of each attribute is the reference (no column: its customers have all-zero
covariates, so ``params_`` are that level's parameters and each coefficient is a level's
difference from it, on the log scale of the parameter). A missing value is a level of its
own, ``(missing)``; levels with fewer than ``min_customers`` customers are pooled into
``(other)`` (a level with a handful of customers has no estimable coefficient). Both are
reported in the returned notes, never done silently.

:func:`customer_lifetime_value_with_covariates` is :func:`customer_lifetime_value` applied per
distinct covariate row, with the plain models :meth:`group_models` builds (each carries its
row's parameters and their covariance, so the intervals are the same draws from the
asymptotic normal as without covariates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from targetwise.clv._base import validate_rfm
from targetwise.clv.covariates import (
    CovariateBetaGeo,
    CovariateGammaGamma,
    CovariateParetoNBD,
    CovariateWarning,
)
from targetwise.clv.value import customer_lifetime_value
from targetwise.errors import DataValidationError

__all__ = ["MISSING_LEVEL", "OTHER_LEVEL", "customer_lifetime_value_with_covariates", "one_hot_covariates"]

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"


def one_hot_covariates(
    frame: pd.DataFrame, columns: Sequence[str], *, min_customers: int = 50
) -> tuple[pd.DataFrame, list[str]]:
    """0/1 columns ``column=level`` for each categorical ``column`` (reference: its most common level).

    Returns the covariate table (index of ``frame``) and notes saying each reference level and
    what was pooled. Example: ``one_hot_covariates(customers, ["acquisition_channel"])`` gives
    ``acquisition_channel=app`` and ``acquisition_channel=store`` when ``web`` is the most common.
    """
    if min_customers < 1:
        raise DataValidationError(f"min_customers must be >= 1, got {min_customers}", fix="use e.g. 50")
    out: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for column in columns:
        if column not in frame.columns:
            raise DataValidationError(
                f"covariate {column!r} is not a column of the table (it has {list(frame.columns)[:12]})",
                fix="name a column of the customer table",
            )
        levels = frame[column].astype("string").fillna(MISSING_LEVEL).astype(object)
        counts = levels.value_counts()
        small = [str(v) for v, c in counts.items() if c < min_customers]
        if small and len(small) < len(counts):
            levels = levels.where(~levels.isin(small), OTHER_LEVEL)
            notes.append(
                f"{column}: {len(small)} level(s) with fewer than {min_customers} customers pooled into "
                f"{OTHER_LEVEL} ({', '.join(sorted(small)[:5])}{', ...' if len(small) > 5 else ''})"
            )
        counts = levels.value_counts()
        if len(counts) < 2:
            notes.append(f"{column}: one level only ({counts.index[0]!s}), so it cannot explain differences; left out")
            continue
        # most common first; ties broken by name so the reference does not depend on row order
        ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
        reference = str(ordered[0][0])
        notes.append(f"{column}: reference level {reference} ({int(ordered[0][1])} customers)")
        for level, _count in ordered[1:]:
            out[f"{column}={level}"] = (levels == level).to_numpy(dtype=np.float64)
    return pd.DataFrame(out, index=frame.index), notes


def customer_lifetime_value_with_covariates(
    transaction_model: CovariateBetaGeo | CovariateParetoNBD,
    spend_model: CovariateGammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    covariates: pd.DataFrame,
    spend_covariates: pd.DataFrame | None = None,
    *,
    random_state: int | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """CLV per customer from covariate fits: :func:`customer_lifetime_value` per covariate group.

    ``covariates`` are the transaction model's (one row per customer), ``spend_covariates``
    the spend model's (default: the same table). ``kwargs`` are
    :func:`customer_lifetime_value`'s (``horizon``, ``discount_rate``, ``interval``, ...);
    each group's draws are seeded from ``random_state`` and the group's position. A group whose
    draws cannot all be evaluated gets no interval (NaN), counted in a :class:`CovariateWarning`.
    """
    x, t_x, big_t = validate_rfm(frequency, recency, T)
    money = np.asarray(monetary_value, dtype=np.float64)
    spend_covariates = covariates if spend_covariates is None else spend_covariates
    trans_models, trans_codes = transaction_model.group_models(covariates)
    spend_models, spend_codes = spend_model.group_models(spend_covariates)
    if trans_codes.shape[0] != x.shape[0] or spend_codes.shape[0] != x.shape[0]:
        raise DataValidationError(
            f"covariates have {trans_codes.shape[0]} and {spend_codes.shape[0]} rows for {x.shape[0]} customers",
            fix="pass one covariate row per customer",
        )
    pair = trans_codes.astype(np.int64) * len(spend_models) + spend_codes
    pairs, group = np.unique(pair, return_inverse=True)
    parts = []
    no_interval = no_interval_groups = 0
    seeds = np.random.SeedSequence(random_state).spawn(len(pairs)) if random_state is not None else [None] * len(pairs)
    for g, key in enumerate(pairs):
        member = np.flatnonzero(group.ravel() == g)
        frame = customer_lifetime_value(
            trans_models[key // len(spend_models)], spend_models[key % len(spend_models)],
            x[member], t_x[member], big_t[member], money[member],
            random_state=None if seeds[g] is None else np.random.default_rng(seeds[g]), **kwargs,
        )
        if "clv_lower" in frame.columns:
            unusable = ~(np.isfinite(frame["clv_lower"]) & np.isfinite(frame["clv_upper"]))
            if unusable.any():
                # draws of a weakly identified group's parameters outside the range the formulas can evaluate
                frame.loc[:, ["clv_lower", "clv_upper"]] = np.nan
                no_interval += len(member)
                no_interval_groups += 1
        parts.append(frame.set_axis(member))
    attrs = dict(parts[0].attrs)
    result = pd.concat(parts).sort_index()
    result.attrs = attrs | {"model": type(transaction_model).__name__, "covariate_groups": len(pairs)}
    if no_interval:
        warnings.warn(
            f"no CLV interval for {no_interval} customer(s) in {no_interval_groups} covariate group(s): their "
            "parameter draws (weakly identified coefficients) left the range the CLV formulas can evaluate",
            CovariateWarning,
            stacklevel=2,
        )
    if isinstance(frequency, pd.Series):
        result.index = frequency.index
    return result
