"""Uplift metrics with scikit-uplift's definitions.

Libraries disagree on what "Qini" means (causalml's ``qini_score`` is an
unnormalised area on another scale), so every function here states its
definition and reproduces scikit-uplift (``sklift.metrics``, v0.5) exactly:

* Customers are ranked by predicted uplift, descending, with a stable sort of
  the reversed ascending order (``np.argsort(uplift, kind="mergesort")[::-1]``,
  as sklift does), and curves are evaluated only at the last customer of each
  run of tied scores.
* **Qini curve** at depth ``n``: ``Y_T(n) - Y_C(n) * N_T(n) / N_C(n)``, the
  incremental responders among the top ``n`` (``Y`` = responders, ``N`` = size
  of each group among the top ``n``; the ratio is 0 while ``N_C = 0``).
* **Uplift curve** at depth ``n``: ``(Y_T/N_T - Y_C/N_C) * n``.
* Both curves start at (0, 0). Areas are trapezoidal.
* **qini_auc_score**: ``(A_model - A_random) / (A_perfect - A_random)`` where
  ``A_random`` is the straight line from (0, 0) to the curve's end point and
  the perfect curve ranks treated responders first and control responders last
  (``negative_effect=True``, sklift's default) or, with
  ``negative_effect=False``, jumps straight to the overall incremental count.
* **uplift_auc_score**: same normalisation with the perfect uplift curve
  (score ``2 * (y == t) + summand``, ``summand = y`` if control responders
  outnumber treated non-responders else ``t``).
* **uplift_at_k**: response rate of treated minus control among the top
  ``k`` customers (``strategy="overall"``, ``int(n * k)`` customers when ``k``
  is a fraction) or among the top ``int(k * group size)`` of each group
  separately (``strategy="by_group"``).

All inputs are 1-D: ``y_true`` binary outcome (0/1), ``uplift`` scores (any
real), ``treatment`` binary (1 = treated, 0 = control).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from targetwise.errors import DataValidationError

__all__ = [
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_auc_score",
    "qini_curve",
    "response_rate_by_percentile",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
]

Strategy = Literal["overall", "by_group"]


def _binary(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataValidationError(
            f"{name} must be 1-D, got shape {arr.shape}", fix=f"pass {name} as a 1-D array or Series"
        )
    if arr.dtype.kind not in "biuf":
        raise DataValidationError(
            f"{name} must hold 0/1 numbers, got dtype {arr.dtype}",
            fix=f"encode {name} as 0/1 (1 = treated or responded)",
        )
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise DataValidationError(
            f"{name} must be binary 0/1; {int(bad.sum())} value(s) are not, e.g. {arr[bad][0]!r}",
            fix=f"encode {name} as 0/1",
        )
    return arr.astype(np.float64)


def _validate(
    y_true: ArrayLike, uplift: ArrayLike | None, treatment: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64]]:
    y = _binary(y_true, "y_true")
    t = _binary(treatment, "treatment")
    if len(y) != len(t):
        raise DataValidationError(
            f"y_true has {len(y)} rows but treatment has {len(t)}", fix="pass aligned arrays"
        )
    if t.min() == t.max():
        raise DataValidationError(
            "treatment holds only one group; uplift metrics need both treated (1) and control (0) rows",
            fix="evaluate on a sample containing both groups",
        )
    u = None
    if uplift is not None:
        u = np.asarray(uplift, dtype=np.float64)
        if u.ndim != 1 or len(u) != len(y):
            raise DataValidationError(
                f"uplift must be 1-D with {len(y)} values, got shape {u.shape}",
                fix="pass one predicted uplift per row (for several arms, score one arm at a time)",
            )
        if not np.isfinite(u).all():
            raise DataValidationError(
                f"uplift has {int((~np.isfinite(u)).sum())} NaN/inf value(s)", fix="predict finite scores"
            )
    return y, u, t


def _descending(uplift: NDArray[np.float64]) -> NDArray[np.intp]:
    # sklift's order: stable ascending sort, reversed (ties: later rows first).
    return np.argsort(uplift, kind="mergesort")[::-1]


def _cumulative_counts(
    y: NDArray[np.float64], uplift: NDArray[np.float64], t: NDArray[np.float64]
) -> tuple[NDArray[np.float64], ...]:
    order = _descending(uplift)
    y, uplift, t = y[order], uplift[order], t[order]
    thresholds = np.r_[np.flatnonzero(np.diff(uplift)), uplift.size - 1]
    n_all = (thresholds + 1).astype(np.float64)
    n_t = np.cumsum(t)[thresholds]
    n_c = n_all - n_t
    y_t = np.cumsum(y * t)[thresholds]
    y_c = np.cumsum(y * (1 - t))[thresholds]
    return n_all, n_t, n_c, y_t, y_c


def _safe_div(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _start_at_origin(
    x: NDArray[np.float64], curve: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return np.r_[0.0, x], np.r_[0.0, curve]


def qini_curve(
    y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Qini curve: (number of customers targeted, incremental responders).

    ``Y_T(n) - Y_C(n) * N_T(n) / N_C(n)`` at each distinct score threshold,
    starting at (0, 0). Units: customers on both axes.
    """
    y, u, t = _validate(y_true, uplift, treatment)
    assert u is not None
    n_all, n_t, n_c, y_t, y_c = _cumulative_counts(y, u, t)
    return _start_at_origin(n_all, y_t - y_c * _safe_div(n_t, n_c))


def uplift_curve(
    y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Uplift curve: (customers targeted, (rate_T - rate_C) * customers targeted)."""
    y, u, t = _validate(y_true, uplift, treatment)
    assert u is not None
    n_all, n_t, n_c, y_t, y_c = _cumulative_counts(y, u, t)
    return _start_at_origin(n_all, (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * n_all)


def perfect_qini_curve(
    y_true: ArrayLike, treatment: ArrayLike, *, negative_effect: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The best achievable Qini curve for these outcomes (sklift's definition)."""
    y, _, t = _validate(y_true, None, treatment)
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t)
    overall = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0.0, overall, float(len(y))]), np.array([0.0, overall, overall])


def perfect_uplift_curve(
    y_true: ArrayLike, treatment: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The best achievable uplift curve for these outcomes (sklift's definition)."""
    y, _, t = _validate(y_true, None, treatment)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _normalised_area(
    actual: tuple[NDArray[np.float64], NDArray[np.float64]],
    perfect: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> float:
    x_perfect, y_perfect = perfect
    baseline = np.trapezoid([0.0, y_perfect[-1]], [0.0, x_perfect[-1]])
    best = np.trapezoid(y_perfect, x_perfect) - baseline
    if best == 0:
        raise DataValidationError(
            "the perfect curve has zero area above random, so the normalised score is undefined",
            fix="evaluate on a sample with responders in the treated or control group",
        )
    return float((np.trapezoid(actual[1], actual[0]) - baseline) / best)


def qini_auc_score(
    y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, *, negative_effect: bool = True
) -> float:
    """Normalised area under the Qini curve (the "Qini coefficient", sklift's ``qini_auc_score``).

    ``(A_model - A_random) / (A_perfect - A_random)``: 0 for random targeting,
    1 for the perfect ranking; can be negative. Dimensionless.
    """
    y, u, t = _validate(y_true, uplift, treatment)
    return _normalised_area(qini_curve(y, u, t), perfect_qini_curve(y, t, negative_effect=negative_effect))


def uplift_auc_score(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> float:
    """Normalised area under the uplift curve (sklift's ``uplift_auc_score``). Dimensionless."""
    y, u, t = _validate(y_true, uplift, treatment)
    return _normalised_area(uplift_curve(y, u, t), perfect_uplift_curve(y, t))


def _top_count(k: float | int, n: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
        raise DataValidationError(f"k must be a fraction or a count, got {k!r}", fix="pass e.g. k=0.3")
    if isinstance(k, (float, np.floating)):
        if not 0 < k < 1:
            raise DataValidationError(f"k={k} must lie in (0, 1) as a fraction", fix="pass e.g. k=0.3")
        return int(n * k)
    if not 0 < k < n:
        raise DataValidationError(
            f"k={k} must be a count in [1, {n - 1}] for the {name} ({n} rows)", fix="lower k"
        )
    return int(k)


def uplift_at_k(
    y_true: ArrayLike,
    uplift: ArrayLike,
    treatment: ArrayLike,
    *,
    k: float | int = 0.3,
    strategy: Strategy = "overall",
) -> float:
    """Treated minus control response rate among the top-``k`` customers by predicted uplift.

    ``strategy="overall"`` takes the top ``int(n * k)`` customers of the whole
    sample, then compares the two groups inside it; ``"by_group"`` takes the top
    ``int(k * n_group)`` of each group separately. Units: response-rate
    difference (e.g. 0.07 = 7 percentage points).
    """
    y, u, t = _validate(y_true, uplift, treatment)
    assert u is not None
    order = _descending(u)
    y, t = y[order], t[order]
    if strategy == "overall":
        n_top = _top_count(k, len(y), "sample")
        top_y, top_t = y[:n_top], t[:n_top]
        if top_t.min() == top_t.max():
            raise DataValidationError(
                f"the top {n_top} customers hold only one group, so uplift@k is undefined",
                fix="raise k or use strategy='by_group'",
            )
        return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())
    if strategy == "by_group":
        rates = []
        for group in (1, 0):
            group_y = y[t == group]
            n_top = _top_count(k, len(group_y), "group") if isinstance(k, float) else int(k)
            if not 0 < n_top <= len(group_y):
                raise DataValidationError(
                    f"k={k} selects {n_top} of the {len(group_y)} rows of a group", fix="lower k"
                )
            rates.append(group_y[:n_top].mean())
        return float(rates[0] - rates[1])
    raise DataValidationError(
        f"strategy must be 'overall' or 'by_group', got {strategy!r}", fix="pass strategy='overall'"
    )


def response_rate_by_percentile(
    y_true: ArrayLike,
    uplift: ArrayLike,
    treatment: ArrayLike,
    *,
    group: Literal["treatment", "control"],
    strategy: Strategy = "overall",
    bins: int = 10,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Response rate of one group in each of ``bins`` uplift-ranked slices (sklift's definition).

    Returns ``(response_rate, variance, group_size)`` per bin, highest uplift
    first; ``variance = rate * (1 - rate) / size``. ``"overall"`` splits the
    whole ranked sample into equal bins (``np.array_split``), ``"by_group"``
    splits the chosen group's ranked rows.
    """
    y, u, t = _validate(y_true, uplift, treatment)
    assert u is not None
    if group not in ("treatment", "control"):
        raise DataValidationError(
            f"group must be 'treatment' or 'control', got {group!r}", fix="pass group='treatment'"
        )
    if strategy not in ("overall", "by_group"):
        raise DataValidationError(
            f"strategy must be 'overall' or 'by_group', got {strategy!r}", fix="pass strategy='overall'"
        )
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 0 < bins < len(y):
        raise DataValidationError(
            f"bins must be an integer in [1, {len(y) - 1}], got {bins!r}", fix="pass e.g. bins=10"
        )
    flag = 1.0 if group == "treatment" else 0.0
    order = _descending(u)
    y, t = y[order], t[order]
    if strategy == "overall":
        pieces = [
            yb[tb == flag] for yb, tb in zip(np.array_split(y, bins), np.array_split(t, bins), strict=True)
        ]
    else:
        pieces = list(np.array_split(y[t == flag], bins))
    size = np.array([len(p) for p in pieces], dtype=np.int64)
    rate = np.array([p.mean() if len(p) else np.nan for p in pieces])
    variance = rate * (1 - rate) / np.where(size > 0, size, np.nan)
    return rate, variance, size
