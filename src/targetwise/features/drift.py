"""Drift between two runs: population stability index, segment changes, metric decay. No I/O.

**Population stability index** of one variable, the previous run's values ``expected`` and this run's
``actual``:

1. bins: the previous run's deciles (``n_bins`` - 1 quantile edges ``q_1 <= ... <= q_9``, duplicates
   dropped, so a variable with few distinct values gets fewer bins); bin ``i`` is ``(q_i, q_{i+1}]``,
   the first ``(-inf, q_1]`` and the last ``(q_9, +inf)``; missing values (NaN) are one more bin;
2. shares: ``e_i`` and ``a_i``, the fraction of each run's values in bin ``i``; a share of 0 (an
   empty bin) is replaced by ``epsilon`` (default 1e-4), so the logarithm is finite;
3. ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)``.

PSI is 0 for identical distributions and grows with the shift; the usual reading (and the run
config's defaults) is below 0.1 stable, 0.1 to 0.25 a moderate shift (warn), 0.25 or more a large
shift (alert). Example: deciles of 0..99 put 10% in each bin; if this run's values all fall in the
top bin, ``a = (eps x 9, 1)`` and PSI = 9 x (1e-4 - 0.1) ln(1e-4 / 0.1) + (1 - 0.1) ln(1 / 0.1) =
6.21 + 2.07 = 8.28.

**Segment change share**: among the customers in both runs, the fraction whose segment differs.

**Metric decay**: each model's out-of-time metric now against the previous run's; a breach is a drop
of a higher-is-better metric (ROC AUC, R²) or a rise of a lower-is-better one (MAE, relative error)
by more than the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from targetwise.errors import DataValidationError

__all__ = ["MetricChange", "Psi", "decile_edges", "metric_change", "psi", "psi_level", "segment_change_share"]

Level = Literal["ok", "warn", "alert"]


@dataclass(frozen=True)
class Psi:
    """One variable's PSI and the bin shares behind it (``expected``: previous run, ``actual``: this run)."""

    value: float
    edges: tuple[float, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]


def _finite_values(values: np.ndarray | pd.Series | list[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise DataValidationError(f"{name} must be one-dimensional, got shape {arr.shape}", fix="pass one column")
    if np.isinf(arr).any():
        raise DataValidationError(f"{name} holds infinite values", fix="replace them (or leave them missing) first")
    return arr


def decile_edges(expected: np.ndarray | pd.Series | list[float], *, n_bins: int = 10) -> np.ndarray:
    """The inner bin edges: the previous run's quantiles at 1/n, ..., (n-1)/n, duplicates dropped."""
    if n_bins < 2:
        raise DataValidationError(f"n_bins must be at least 2, got {n_bins}", fix="use 10 (deciles)")
    arr = _finite_values(expected, "expected")
    present = arr[~np.isnan(arr)]
    if present.size == 0:
        return np.array([], dtype=float)
    return np.unique(np.quantile(present, np.arange(1, n_bins) / n_bins))


def _shares(arr: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin ``(edge_{i-1}, edge_i]`` plus a last bin for NaN."""
    missing = np.isnan(arr)
    counts = np.bincount(np.searchsorted(edges, arr[~missing], side="left"), minlength=edges.size + 1).astype(float)
    counts = np.append(counts, float(missing.sum()))
    return counts / arr.size


def psi(
    expected: np.ndarray | pd.Series | list[float],
    actual: np.ndarray | pd.Series | list[float],
    *,
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> Psi:
    """Population stability index of ``actual`` (this run) against ``expected`` (the previous run).

    >>> round(psi(list(range(100)), list(range(100))).value, 12)
    0.0
    """
    if not 0 < epsilon < 1:
        raise DataValidationError(f"epsilon must be in (0, 1), got {epsilon}", fix="use 1e-4")
    before = _finite_values(expected, "expected")
    after = _finite_values(actual, "actual")
    if before.size == 0 or after.size == 0:
        raise DataValidationError(
            f"PSI needs values in both runs (previous {before.size}, this {after.size})",
            fix="compare runs that both scored customers",
        )
    edges = decile_edges(before, n_bins=n_bins)
    e, a = _shares(before, edges), _shares(after, edges)
    keep = (e > 0) | (a > 0)  # a bin empty in both runs (e.g. no missing values) adds nothing
    e_eps, a_eps = np.maximum(e[keep], epsilon), np.maximum(a[keep], epsilon)
    value = float(np.sum((a_eps - e_eps) * np.log(a_eps / e_eps)))
    return Psi(value, tuple(float(x) for x in edges), tuple(float(x) for x in e), tuple(float(x) for x in a))


def psi_level(value: float, *, warn: float, alert: float) -> Level:
    """``alert`` at or above ``alert``, ``warn`` at or above ``warn``, else ``ok``."""
    if value >= alert:
        return "alert"
    return "warn" if value >= warn else "ok"


def segment_change_share(previous: Mapping[str, str] | pd.Series, current: Mapping[str, str] | pd.Series) -> tuple[float, int]:
    """(share of customers in both runs whose segment changed, how many customers are in both).

    ``previous`` and ``current`` map customer id to segment. No customer in common: (nan, 0).
    """
    before = pd.Series(previous, dtype=object)
    after = pd.Series(current, dtype=object)
    both = before.index.intersection(after.index)
    if len(both) == 0:
        return float("nan"), 0
    changed = (before.loc[both].astype(str).to_numpy() != after.loc[both].astype(str).to_numpy()).sum()
    return float(changed) / len(both), len(both)


#: out-of-time metrics and their direction: True when higher is better
METRIC_DIRECTIONS: dict[str, bool] = {"roc_auc": True, "pr_auc": True, "r2": True, "mae": False, "rmse": False,
                                      "relative_error": False}


@dataclass(frozen=True)
class MetricChange:
    """One model metric in the previous run and this one; ``worse_by`` > 0 means it got worse."""

    model: str
    metric: str
    previous: float
    current: float
    worse_by: float
    breach: bool


def metric_change(model: str, metric: str, previous: float, current: float, *, threshold: float) -> MetricChange:
    """Compare one metric; a breach when it got worse by more than ``threshold`` (absolute, the metric's unit)."""
    if metric not in METRIC_DIRECTIONS:
        raise DataValidationError(f"unknown metric {metric!r}", fix=f"one of {', '.join(METRIC_DIRECTIONS)}")
    worse_by = (previous - current) if METRIC_DIRECTIONS[metric] else (current - previous)
    return MetricChange(model, metric, float(previous), float(current), float(worse_by),
                        bool(np.isfinite(worse_by) and worse_by > threshold))
