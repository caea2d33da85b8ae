"""Leakage audit: find feature columns that know the outcome.

A column is flagged, with the reason spelled out, when

1. **it predicts the label suspiciously well alone**: its single-feature ROC
   AUC is at least ``auc_threshold`` (default 0.85: on real marketing data
   honest single features rarely pass 0.70; Bank Marketing's best honest
   column, ``month``, scores 0.65). The AUC is out-of-fold: the column is
   cut into quantile bins (text columns: one bin per level, missing its own
   bin), each bin's smoothed response rate is learned on the other folds and
   used as the score, so U-shaped and other non-monotone links count too;
2. **a value range implies the label**: some bin of at least ``min_support``
   rows has the rarer class of that bin at ``<= purity_tolerance`` (1 %)
   while that class is at least ten times as common overall, and a binomial
   test puts the chance of so few at below 1e-6. This is how
   ``duration <= ~40 s -> no`` in Bank Marketing shows: a call that short is
   an answer, not a predictor;
3. **it is a near-duplicate of the label**: |Pearson correlation| with the
   0/1 label of at least ``correlation_threshold`` (0.95), or an
   out-of-fold AUC of at least 0.99;
4. **it is declared known only after the outcome** (``known_after=[...]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from targetwise.errors import ConfigError, DataValidationError, SchemaError
from targetwise.propensity._tabular import as_binary_target, as_frame, is_categorical

__all__ = ["LeakageReport", "audit_leakage"]

_SMOOTHING = 10.0  # pseudo-rows pulling a bin's rate towards the overall rate


@dataclass
class LeakageReport:
    """``table``: one row per column (sorted, flagged first); ``flagged``: the flagged column names."""

    table: pd.DataFrame
    flagged: list[str] = field(default_factory=list)
    auc_threshold: float = 0.85

    def to_text(self) -> str:
        """Short human-readable summary: one line per flagged column with its reasons."""
        if not self.flagged:
            return f"No leakage suspected in {len(self.table)} column(s)."
        lines = [f"{len(self.flagged)} of {len(self.table)} column(s) look like leakage:"]
        for _, row in self.table[self.table["flagged"]].iterrows():
            lines.append(f"- {row['column']}: {row['reasons']}")
        lines.append("Drop them (or prove they are known before the outcome) before training.")
        return "\n".join(lines)


def _bin_codes(values: pd.Series, edges: np.ndarray | None) -> np.ndarray:
    """Bin index per row; numeric NaN (or a missing level) gets the last code -1 -> its own bin."""
    if edges is None:
        raise AssertionError("edges required for numeric binning")
    x = values.to_numpy(dtype=float)
    codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(edges.size - 2, 0))
    return np.where(np.isnan(x), -1, codes)


def _keys(values: pd.Series, categorical: bool, edges: np.ndarray | None) -> np.ndarray:
    if categorical:
        return values.astype("string").fillna("(missing)").to_numpy(dtype=object)
    return _bin_codes(values, edges)


def _edges(values: pd.Series, n_bins: int) -> np.ndarray:
    x = values.to_numpy(dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.array([0.0, 1.0])
    return np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)))


def _oof_auc(values: pd.Series, y: np.ndarray, categorical: bool, n_bins: int, folds: list) -> float:
    """Out-of-fold AUC of the binned, smoothed response rate of one column."""
    score = np.empty(y.size, dtype=float)
    for train_idx, test_idx in folds:
        train = values.iloc[train_idx]
        edges = None if categorical else _edges(train, n_bins)
        train_keys = _keys(train, categorical, edges)
        prior = y[train_idx].mean()
        table = pd.DataFrame({"k": train_keys, "y": y[train_idx]}).groupby("k")["y"].agg(["sum", "size"])
        rate = (table["sum"] + _SMOOTHING * prior) / (table["size"] + _SMOOTHING)
        test_keys = _keys(values.iloc[test_idx], categorical, edges)
        score[test_idx] = pd.Series(test_keys).map(rate).fillna(prior).to_numpy(dtype=float)
    return float(roc_auc_score(y, score))


def _describe_bin(values: pd.Series, keys: np.ndarray, key: Any, categorical: bool) -> str:
    name = str(values.name)
    if categorical:
        return f"{name} = {key!r}"
    if key == -1:
        return f"{name} missing"
    inside = values.to_numpy(dtype=float)[keys == key]
    lo, hi = float(np.nanmin(inside)), float(np.nanmax(inside))
    return f"{name} = {lo:g}" if lo == hi else f"{name} in [{lo:g}, {hi:g}]"


def _purest_segment(
    values: pd.Series, y: np.ndarray, categorical: bool, n_bins: int, min_support: int
) -> dict[str, Any]:
    """The bin (>= min_support rows) where one class is most depleted relative to its overall share,
    among bins where the depletion is significant (binomial p < 1e-6)."""
    edges = None if categorical else _edges(values, n_bins)
    keys = _keys(values, categorical, edges)
    grouped = pd.DataFrame({"k": keys, "y": y}).groupby("k")["y"].agg(["sum", "size"])
    grouped = grouped[grouped["size"] >= min_support]
    best: dict[str, Any] = {
        "segment": None,
        "segment_rows": 0,
        "segment_share": np.nan,
        "segment_pvalue": 1.0,
    }
    best_ratio = np.inf
    overall = {1: y.mean(), 0: 1 - y.mean()}
    for key, row in grouped.iterrows():
        for cls in (0, 1):
            count = row["sum"] if cls == 1 else row["size"] - row["sum"]
            p_value = float(stats.binom.cdf(count, row["size"], overall[cls]))
            ratio = (count / row["size"]) / overall[cls]
            if p_value < 1e-6 and ratio < best_ratio:
                best_ratio = ratio
                best = {
                    "segment": _describe_bin(values, keys, key, categorical),
                    "segment_rows": int(row["size"]),
                    "segment_share": float(count / row["size"]),
                    "segment_class": cls,
                    "segment_overall_share": float(overall[cls]),
                    "segment_pvalue": p_value,
                }
    return best


def audit_leakage(
    X: Any,
    y: Any,
    *,
    known_after: Sequence[str] | None = None,
    auc_threshold: float = 0.85,
    correlation_threshold: float = 0.95,
    purity_tolerance: float = 0.01,
    min_support: int | None = None,
    n_bins: int = 20,
    n_splits: int = 5,
    random_state: int | None = 0,
) -> LeakageReport:
    """Audit each column of ``X`` for leakage about the binary label ``y``; see the module docstring.

    ``min_support`` defaults to max(50, 0.5 % of rows). Returns a
    :class:`LeakageReport`; ``report.flagged`` lists the columns to drop and
    ``report.table`` has per column: ``single_auc, label_correlation,
    segment`` (the purest value range), ``segment_rows, segment_share``
    (share of the depleted class in it), ``flagged, reasons``.

    >>> report = audit_leakage(X, y, known_after=["refund_amount"])  # doctest: +SKIP
    >>> X = X.drop(columns=report.flagged)                            # doctest: +SKIP
    """
    if not 0.5 < auc_threshold <= 1.0:
        raise ConfigError(f"auc_threshold must be in (0.5, 1], got {auc_threshold}", fix="e.g. 0.85")
    frame = as_frame(X)
    target = as_binary_target(y, n_rows=len(frame))
    n_pos = int(target.sum())
    if min(n_pos, target.size - n_pos) < n_splits:
        raise DataValidationError(
            f"the label has {n_pos} positive and {target.size - n_pos} negative rows",
            fix=f"the audit needs at least {n_splits} of each class",
        )
    declared = list(known_after or [])
    unknown = [c for c in declared if c not in frame.columns]
    if unknown:
        raise SchemaError(f"known_after names column(s) not in X: {unknown}", fix="check the column names")
    support = min_support if min_support is not None else max(50, int(0.005 * target.size))
    folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(frame, target))
    rows = []
    for col in frame.columns:
        values = frame[col]
        categorical = is_categorical(values)
        reasons: list[str] = []
        if col in declared:
            reasons.append("declared known only after the outcome")
        auc = _oof_auc(values, target, categorical, n_bins, folds)
        corr = np.nan
        if not categorical:
            x = values.to_numpy(dtype=float)
            ok = ~np.isnan(x)
            if ok.sum() > 2 and np.std(x[ok]) > 0:
                corr = float(np.corrcoef(x[ok], target[ok])[0, 1])
        if (not np.isnan(corr) and abs(corr) >= correlation_threshold) or auc >= 0.99:
            reasons.append(
                f"near-duplicate of the label (correlation {corr:+.3f}, single-feature AUC {auc:.3f})"
            )
        elif auc >= auc_threshold:
            reasons.append(f"predicts the label alone with AUC {auc:.3f} (threshold {auc_threshold})")
        seg = _purest_segment(values, target, categorical, n_bins, support)
        if (
            seg["segment"] is not None
            and seg["segment_share"] <= purity_tolerance
            and seg["segment_overall_share"] >= 10 * seg["segment_share"]
            and seg["segment_pvalue"] < 1e-6
        ):
            label = "positive" if seg["segment_class"] == 1 else "negative"
            reasons.append(
                f"{seg['segment']} ({seg['segment_rows']:,} rows) almost never has a {label} label "
                f"({seg['segment_share']:.2%} vs {seg['segment_overall_share']:.2%} overall): "
                "a value that implies the outcome, typical of data recorded after it"
            )
        rows.append(
            {
                "column": col,
                "kind": "categorical" if categorical else "numeric",
                "single_auc": auc,
                "label_correlation": corr,
                "segment": seg["segment"],
                "segment_rows": seg["segment_rows"],
                "segment_share": seg["segment_share"],
                "flagged": bool(reasons),
                "reasons": "; ".join(reasons),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["flagged", "single_auc"], ascending=[False, False], ignore_index=True
    )
    return LeakageReport(
        table=table, flagged=table.loc[table["flagged"], "column"].tolist(), auc_threshold=auc_threshold
    )
