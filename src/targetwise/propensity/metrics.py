"""Metrics for propensity scores and spend predictions.

Ranking metrics (ROC AUC, PR AUC), probability metrics (Brier score, log
loss), targeting metrics (lift and cumulative gains by decile; precision,
recall and F1 when contacting the top ``contact_rate`` share of customers),
reliability-curve data, and regression metrics (MAE, RMSE, R²).

Ranking convention for deciles and contact rates: rows are sorted by score,
highest first; ties keep input order (stable sort), so shuffle the input if
many scores tie.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from targetwise.errors import ConfigError, DataValidationError

__all__ = [
    "at_contact_rate",
    "classification_metrics",
    "expected_calibration_error",
    "lift_table",
    "regression_metrics",
    "reliability_curve",
]


def _pair(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise DataValidationError(
            f"y_true has {y.size} values but the score has {s.size}", fix="pass one score per labelled row"
        )
    if y.size == 0:
        raise DataValidationError("no rows to evaluate", fix="pass at least one labelled row")
    if np.isnan(s).any():
        raise DataValidationError(
            f"the score has {int(np.isnan(s).sum())} NaN value(s)", fix="score every row before evaluating"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataValidationError("y_true must be 0/1", fix="encode the outcome as 0/1 (1 = event)")
    return y, s


def _ranked(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Labels sorted by score, highest first, ties in input order."""
    return y[np.argsort(-s, kind="stable")]


def _check_rate(contact_rate: float) -> None:
    if not 0.0 < contact_rate <= 1.0:
        raise ConfigError(
            f"contact_rate must be in (0, 1], got {contact_rate}", fix="e.g. 0.1 to contact the top 10 %"
        )


def at_contact_rate(y_true: Any, score: Any, contact_rate: float = 0.1) -> dict[str, float]:
    """Precision, recall and F1 when contacting the top ``ceil(contact_rate * n)`` rows by score.

    >>> at_contact_rate([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 0.5)
    {'contacted': 2.0, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    _check_rate(contact_rate)
    y, s = _pair(y_true, score)
    k = max(1, math.ceil(contact_rate * y.size - 1e-9))
    hits = float(_ranked(y, s)[:k].sum())
    total = float(y.sum())
    precision = hits / k
    recall = hits / total if total > 0 else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if total > 0 and precision + recall > 0 else 0.0
    return {"contacted": float(k), "precision": precision, "recall": recall, "f1": f1}


def lift_table(y_true: Any, score: Any, *, n_bins: int = 10) -> pd.DataFrame:
    """Lift and cumulative gains by score bin (decile by default; bin 1 = highest scores).

    Rows are split into ``n_bins`` groups of (near) equal size by rank
    (``numpy.array_split``: the first groups get the extra rows). Columns:
    ``bin, rows, positives, response_rate, lift`` (rate / overall rate),
    ``cumulative_rows, cumulative_positives, cumulative_gain`` (share of all
    positives captured so far), ``cumulative_lift``, ``min_score, max_score``.
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1, got {n_bins}", fix="use e.g. 10 for deciles")
    y, s = _pair(y_true, score)
    if y.size < n_bins:
        raise DataValidationError(
            f"{y.size} rows cannot fill {n_bins} bins", fix="use fewer bins or more rows"
        )
    order = np.argsort(-s, kind="stable")
    groups = np.array_split(order, n_bins)
    base_rate = y.mean()
    total_pos = y.sum()
    rows = []
    cum_rows = cum_pos = 0.0
    for i, idx in enumerate(groups, start=1):
        pos = float(y[idx].sum())
        cum_rows += idx.size
        cum_pos += pos
        rate = pos / idx.size
        rows.append(
            {
                "bin": i,
                "rows": int(idx.size),
                "positives": int(pos),
                "response_rate": rate,
                "lift": rate / base_rate if base_rate > 0 else float("nan"),
                "cumulative_rows": int(cum_rows),
                "cumulative_positives": int(cum_pos),
                "cumulative_gain": cum_pos / total_pos if total_pos > 0 else float("nan"),
                "cumulative_lift": (cum_pos / cum_rows) / base_rate if base_rate > 0 else float("nan"),
                "min_score": float(s[idx].min()),
                "max_score": float(s[idx].max()),
            }
        )
    return pd.DataFrame(rows)


def reliability_curve(
    y_true: Any, proba: Any, *, n_bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Calibration data: per probability bin, the mean predicted probability and the observed rate.

    ``strategy="quantile"`` makes bins of equal row counts, ``"uniform"`` equal
    widths on [0, 1] (empty bins are dropped). Columns: ``bin, rows,
    mean_predicted, observed_rate, lower, upper`` (bin edges).
    """
    y, p = _pair(y_true, proba)
    if (p < 0).any() or (p > 1).any():
        raise DataValidationError("probabilities must lie in [0, 1]", fix="pass predict_proba(X)[:, 1]")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ConfigError(f"unknown strategy {strategy!r}", fix="use 'quantile' or 'uniform'")
    if edges.size < 2:
        edges = np.array([p.min(), p.max()])
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    rows = []
    for b in range(edges.size - 1):
        mask = which == b
        if not mask.any():
            continue
        rows.append(
            {
                "bin": b + 1,
                "rows": int(mask.sum()),
                "mean_predicted": float(p[mask].mean()),
                "observed_rate": float(y[mask].mean()),
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(y_true: Any, proba: Any, *, n_bins: int = 10) -> float:
    """Row-weighted mean |observed rate - mean predicted| over quantile bins."""
    curve = reliability_curve(y_true, proba, n_bins=n_bins)
    weights = curve["rows"] / curve["rows"].sum()
    return float((weights * (curve["observed_rate"] - curve["mean_predicted"]).abs()).sum())


def classification_metrics(y_true: Any, proba: Any, *, contact_rate: float = 0.1) -> dict[str, float]:
    """All binary metrics for one set of predictions, as a flat dict.

    Keys: ``rows, positive_rate, roc_auc, pr_auc`` (average precision),
    ``brier, log_loss, top_decile_lift, precision_at_k, recall_at_k, f1_at_k``
    (k = the top ``contact_rate`` share). AUCs are NaN when only one class is present.
    """
    y, p = _pair(y_true, proba)
    two_classes = 0 < y.sum() < y.size
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    at_k = at_contact_rate(y, p, contact_rate)
    top_decile = lift_table(y, p, n_bins=10)["lift"].iloc[0] if y.size >= 10 else float("nan")
    return {
        "rows": float(y.size),
        "positive_rate": float(y.mean()),
        "roc_auc": float(skm.roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(skm.average_precision_score(y, p)) if two_classes else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "top_decile_lift": float(top_decile),
        "precision_at_k": at_k["precision"],
        "recall_at_k": at_k["recall"],
        "f1_at_k": at_k["f1"],
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE and RMSE (in the target's unit, e.g. currency or days) and R²."""
    y = np.asarray(y_true, dtype=float).ravel()
    pred = np.asarray(y_pred, dtype=float).ravel()
    if y.shape != pred.shape or y.size == 0:
        raise DataValidationError(
            f"y_true has {y.size} values and y_pred {pred.size}", fix="pass one prediction per row"
        )
    if np.isnan(y).any() or np.isnan(pred).any():
        raise DataValidationError("NaN in the targets or predictions", fix="drop or fill them first")
    resid = y - pred
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "rows": float(y.size),
        "mae": float(np.abs(resid).mean()),
        "rmse": float(np.sqrt((resid**2).mean())),
        "r2": 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
    }
