"""Metrics for value-based uplift: Qini and uplift curves on revenue (or margin), and the profit curve.

The definitions are scikit-uplift's (:mod:`targetwise.uplift.metrics`) with the binary response
replaced by a continuous outcome ``y`` (currency per customer over the window after the send):

* **value Qini curve** at depth ``n``: ``Y_T(n) - Y_C(n) * N_T(n) / N_C(n)`` with ``Y`` the *sum of
  the outcome* of each group among the top ``n`` by predicted effect: the incremental revenue among
  the treated of the top ``n`` (currency). Same ranking and tie rule as the binary curves.
* **value uplift curve**: ``(mean_T(n) - mean_C(n)) * n``: the incremental revenue had all top ``n``
  been treated (currency).
* **value_qini_auc_score**: ``(A_model - A_random) / (A_perfect - A_random)``, the perfect ranking
  putting treated customers by outcome first and control customers by outcome last (the continuous
  analogue of sklift's ``negative_effect=True``). 0 = random, 1 = perfect; dimensionless.
* **value_uplift_at_k**: treated minus control mean outcome among the top ``k`` (currency per customer).
* **profit curve**: ``(mean_T(n) - mean_C(n)) * n - sum of the contact costs of the top n``, the
  incremental margin of contacting the top ``n`` minus what contacting them costs; costs may differ
  by customer (a discount's cost scales with the basket).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from targetwise.errors import DataValidationError
from targetwise.uplift.metrics import (
    _binary,
    _cumulative_counts,
    _descending,
    _normalised_area,
    _safe_div,
    _top_count,
)

__all__ = ["profit_curve", "value_qini_auc_score", "value_qini_curve", "value_uplift_at_k", "value_uplift_curve"]

Curve = tuple[NDArray[np.float64], NDArray[np.float64]]


def _finite(values: ArrayLike, name: str, n: int | None = None) -> NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise DataValidationError(
            f"{name} must be 1-D{'' if n is None else f' with {n} values'}, got shape {arr.shape}",
            fix=f"pass one {name} per customer",
        )
    if arr.dtype.kind not in "biuf":
        raise DataValidationError(f"{name} must be numeric, got dtype {arr.dtype}", fix=f"pass {name} as numbers")
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise DataValidationError(
            f"{name} has {int((~np.isfinite(out)).sum())} NaN/inf value(s)", fix=f"pass finite {name} values"
        )
    return out


def _validate(
    y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    y = _finite(y_true, "y_true")
    t = _binary(treatment, "treatment")
    if len(t) != len(y):
        raise DataValidationError(f"y_true has {len(y)} rows but treatment has {len(t)}", fix="pass aligned arrays")
    if t.min() == t.max():
        raise DataValidationError(
            "treatment holds only one group; uplift metrics need both treated (1) and control (0) rows",
            fix="evaluate on a sample containing both groups",
        )
    return y, _finite(uplift, "uplift", len(y)), t


def value_qini_curve(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> Curve:
    """(customers targeted, incremental revenue among the treated of them), starting at (0, 0)."""
    y, u, t = _validate(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative_counts(y, u, t)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * _safe_div(n_t, n_c)]


def value_uplift_curve(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> Curve:
    """(customers targeted, (mean_T - mean_C) * customers targeted), starting at (0, 0)."""
    y, u, t = _validate(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative_counts(y, u, t)
    return np.r_[0.0, n_all], np.r_[0.0, (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * n_all]


def value_qini_auc_score(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> float:
    """Normalised area under the value Qini curve (0 random, 1 perfect; can be negative)."""
    y, u, t = _validate(y_true, uplift, treatment)
    perfect = value_qini_curve(y, y * t - y * (1 - t), t)
    return _normalised_area(value_qini_curve(y, u, t), perfect)


def value_uplift_at_k(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, *, k: float | int = 0.3) -> float:
    """Treated minus control mean outcome among the top ``k`` by predicted effect (currency per customer)."""
    y, u, t = _validate(y_true, uplift, treatment)
    order = _descending(u)
    n_top = _top_count(k, len(y), "sample")
    top_y, top_t = y[order][:n_top], t[order][:n_top]
    if top_t.min() == top_t.max():
        raise DataValidationError(
            f"the top {n_top} customers hold only one group, so uplift@k is undefined", fix="raise k"
        )
    return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())


def profit_curve(
    y_margin: ArrayLike, score: ArrayLike, treatment: ArrayLike, *, contact_cost: float | ArrayLike = 0.0
) -> pd.DataFrame:
    """Observed incremental profit of contacting the top ``n`` by ``score``, at each distinct score.

    Columns: ``depth`` (customers), ``incremental_margin`` (``(mean_T - mean_C) * depth``),
    ``cost`` (sum of the top ``depth`` customers' contact costs), ``profit`` (the difference); the
    first row is depth 0. ``y_margin``: margin per customer over the window (currency);
    ``contact_cost``: one cost for everyone or one per customer (>= 0).
    """
    y, u, t = _validate(y_margin, score, treatment)
    if np.ndim(contact_cost) == 0:
        costs = np.full(len(y), float(contact_cost))  # type: ignore[arg-type]
    else:
        costs = _finite(contact_cost, "contact_cost", len(y))
    if (costs < 0).any():
        raise DataValidationError(
            f"contact_cost has {int((costs < 0).sum())} negative value(s)", fix="pass costs of 0 or more"
        )
    n_all, n_t, n_c, y_t, y_c = _cumulative_counts(y, u, t)
    order = _descending(u)
    thresholds = (n_all - 1).astype(np.intp)
    cost = np.cumsum(costs[order])[thresholds]
    margin = (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * n_all
    return pd.DataFrame({
        "depth": np.r_[0, n_all].astype(np.int64), "incremental_margin": np.r_[0.0, margin],
        "cost": np.r_[0.0, cost], "profit": np.r_[0.0, margin - cost],
    })  # fmt: skip
