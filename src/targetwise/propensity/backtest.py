"""Validation: every model on the same folds, and out-of-time backtests over rolling cutoffs.

* :func:`compare_models` — cross-validation for a plain tabular table
  (stratified k-fold by default, or any splitter such as
  :func:`time_ordered_split`); every model sees exactly the same folds.
* :func:`backtest` — the default for customer snapshots. A snapshot table
  stacks one feature row per customer per cutoff date, with a label observed
  over ``(cutoff, cutoff + horizon_days]``. For a test cutoff ``T`` a model
  may only be trained on snapshots whose label window has *closed* by ``T``:
  ``cutoff + horizon_days <= T``. A later training cutoff would use outcomes
  that happen after ``T`` — information a model deployed at ``T`` cannot
  have — and its label window would overlap the test window. Such training
  cutoffs are refused, not silently dropped.

Model specs: a name (``"lightgbm"``, ``"logistic"``, ``"tree"``,
``"linear_svm"``) becomes a :class:`PropensityClassifier`; any estimator with
``fit``/``predict_proba`` (e.g. a :class:`BudgetedSearch`,
:class:`RecencyRuleModel`) is cloned per fold, so tuning and feature
selection inside it never see the test fold.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from targetwise.errors import ConfigError, DataValidationError, SchemaError
from targetwise.propensity._tabular import as_binary_target, as_frame
from targetwise.propensity.classifier import MODEL_NAMES, PropensityClassifier
from targetwise.propensity.metrics import classification_metrics

__all__ = ["BacktestResult", "backtest", "compare_models", "resolve_models", "time_ordered_split"]

Split = tuple[np.ndarray, np.ndarray]


def resolve_models(
    models: Sequence[Any] | Mapping[str, Any], *, random_state: int | None = 0, n_jobs: int = 2
) -> dict[str, Any]:
    """Turn names/estimators into ``{label: unfitted estimator}``."""
    items = models.items() if isinstance(models, Mapping) else ((None, m) for m in models)
    resolved: dict[str, Any] = {}
    for label, spec in items:
        if isinstance(spec, str):
            if spec not in MODEL_NAMES:
                raise ConfigError(f"unknown model {spec!r}", fix=f"use one of {', '.join(MODEL_NAMES)}")
            estimator: Any = PropensityClassifier(spec, random_state=random_state, n_jobs=n_jobs)
            name = label or spec
        elif hasattr(spec, "fit") and hasattr(spec, "predict_proba"):
            estimator = spec
            name = label or type(spec).__name__
        else:
            raise ConfigError(
                f"model spec {spec!r} is neither a model name nor an estimator with fit/predict_proba",
                fix=f"use one of {', '.join(MODEL_NAMES)} or an estimator instance",
            )
        if name in resolved:
            raise ConfigError(
                f"two models are labelled {name!r}", fix="pass a dict {label: model} with unique labels"
            )
        resolved[name] = estimator
    if not resolved:
        raise ConfigError("no models to evaluate", fix="pass at least one model name or estimator")
    return resolved


def time_ordered_split(n_rows: int, *, test_fraction: float = 0.2) -> list[Split]:
    """One split: the first ``1 - test_fraction`` of rows train, the rest test (rows must be in time order)."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}", fix="e.g. 0.2")
    n_test = max(1, round(n_rows * test_fraction))
    idx = np.arange(n_rows)
    return [(idx[: n_rows - n_test], idx[n_rows - n_test :])]


def _splits(cv: Any, X: pd.DataFrame, y: np.ndarray, random_state: int | None) -> list[Split]:
    if isinstance(cv, int):
        if cv < 2:
            raise ConfigError(f"cv must be >= 2 folds, got {cv}", fix="use e.g. cv=5")
        splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
        return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y)]
    if hasattr(cv, "split"):
        return [(np.asarray(a), np.asarray(b)) for a, b in cv.split(X, y)]
    if isinstance(cv, Iterable):
        return [(np.asarray(a), np.asarray(b)) for a, b in cv]
    raise ConfigError(
        f"cannot use cv={cv!r}", fix="pass an int, a scikit-learn splitter or (train, test) index pairs"
    )


def _evaluate(
    estimator: Any, X_train: Any, y_train: Any, X_test: Any, y_test: Any, contact_rate: float
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit a clone on the training part; metrics and P(y=1) on the test part."""
    model = clone(estimator)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    proba = model.predict_proba(X_test)[:, 1]
    row: dict[str, Any] = dict(classification_metrics(y_test, proba, contact_rate=contact_rate))
    row["fit_seconds"] = fit_seconds
    # what happened inside the training fold, reported next to the metrics
    if hasattr(model, "best_params_"):
        row["best_params"] = repr(model.best_params_)
    if hasattr(model, "selected_features_"):
        row["n_features_used"] = len(model.selected_features_)
    if getattr(model, "fallback_reason_", None):
        row["fallback"] = str(model.model_used_)
    return row, proba


def compare_models(
    X: Any,
    y: Any,
    models: Sequence[Any] | Mapping[str, Any] = ("lightgbm", "logistic", "tree"),
    *,
    cv: Any = 5,
    contact_rate: float = 0.1,
    random_state: int | None = 0,
    n_jobs: int = 2,
    per_fold: bool = False,
) -> pd.DataFrame:
    """Cross-validate several models on the same folds; one row per model.

    Returns the mean of each metric over folds (see
    :func:`classification_metrics`), ``roc_auc_std`` and ``pr_auc_std``
    (fold-to-fold standard deviation), ``fit_seconds`` (mean per fold) and
    ``folds``; sorted by ROC AUC. With ``per_fold=True`` returns one row per
    (model, fold) instead.
    """
    frame = as_frame(X)
    target = as_binary_target(y, n_rows=len(frame))
    estimators = resolve_models(models, random_state=random_state, n_jobs=n_jobs)
    folds = _splits(cv, frame, target, random_state)
    rows = []
    for fold, (train_idx, test_idx) in enumerate(folds):
        for name, estimator in estimators.items():
            row, _ = _evaluate(
                estimator,
                frame.iloc[train_idx],
                target[train_idx],
                frame.iloc[test_idx],
                target[test_idx],
                contact_rate,
            )
            rows.append({"model": name, "fold": fold, **row})
    long = pd.DataFrame(rows)
    if per_fold:
        return long
    metric_cols = [c for c in long.select_dtypes("number").columns if c != "fold"]
    summary = long.groupby("model", sort=False)[metric_cols].mean()
    summary["roc_auc_std"] = long.groupby("model", sort=False)["roc_auc"].std(ddof=1)
    summary["pr_auc_std"] = long.groupby("model", sort=False)["pr_auc"].std(ddof=1)
    summary["folds"] = len(folds)
    return summary.sort_values("roc_auc", ascending=False, kind="stable")  # ties keep the models' order


@dataclass
class BacktestResult:
    """Out-of-time results: ``metrics`` (one row per test cutoff x model) and ``predictions``."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    horizon_days: int

    def summary(self) -> pd.DataFrame:
        """Mean metrics per model over the test cutoffs, sorted by ROC AUC."""
        cols = list(self.metrics.select_dtypes("number").columns)
        out = self.metrics.groupby("model", sort=False)[cols].mean()
        out["test_cutoffs"] = self.metrics.groupby("model", sort=False).size()
        return out.sort_values("roc_auc", ascending=False, kind="stable")


def _as_cutoffs(values: Any) -> list[pd.Timestamp]:
    return sorted(pd.Timestamp(v) for v in values)


def backtest(
    snapshots: pd.DataFrame,
    *,
    label_col: str,
    feature_cols: Sequence[str],
    horizon_days: int,
    cutoff_col: str = "cutoff",
    test_cutoffs: Sequence[Any] | None = None,
    n_test_cutoffs: int = 1,
    train_cutoffs: Sequence[Any] | None = None,
    models: Sequence[Any] | Mapping[str, Any] = ("lightgbm", "logistic"),
    id_col: str | None = None,
    contact_rate: float = 0.1,
    random_state: int | None = 0,
    n_jobs: int = 2,
) -> BacktestResult:
    """Out-of-time evaluation on a stacked snapshot table (one row per customer per cutoff).

    For each test cutoff ``T`` (``test_cutoffs``, or the last ``n_test_cutoffs``
    distinct cutoffs) the models train on the snapshots at ``train_cutoffs``
    (default: every cutoff with ``cutoff + horizon_days <= T``, an expanding
    window) and are scored on the snapshot at ``T``. An explicit training
    cutoff whose label window has not closed by ``T`` raises
    :class:`DataValidationError`.
    """
    if not isinstance(snapshots, pd.DataFrame):
        raise DataValidationError(
            f"snapshots must be a pandas DataFrame, got {type(snapshots).__name__}",
            fix="stack the feature snapshots into one DataFrame with a cutoff column",
        )
    needed = [cutoff_col, label_col, *feature_cols, *([id_col] if id_col else [])]
    missing = [c for c in needed if c not in snapshots.columns]
    if missing:
        raise SchemaError(
            f"snapshot table lacks column(s) {missing}", fix="check cutoff_col, label_col and feature_cols"
        )
    if label_col in feature_cols or cutoff_col in feature_cols:
        raise ConfigError(
            "the label or the cutoff column is listed among the features",
            fix=f"remove {label_col!r} / {cutoff_col!r} from feature_cols",
        )
    if horizon_days < 1:
        raise ConfigError(
            f"horizon_days must be >= 1, got {horizon_days}", fix="pass the label window length in days"
        )
    cutoffs = pd.to_datetime(snapshots[cutoff_col])
    if cutoffs.isna().any():
        raise DataValidationError(
            f"{int(cutoffs.isna().sum())} snapshot rows have no cutoff", fix="fill the cutoff column"
        )
    distinct = _as_cutoffs(cutoffs.unique())
    horizon = pd.Timedelta(days=horizon_days)
    if test_cutoffs is None:
        if not 1 <= n_test_cutoffs < len(distinct):
            raise ConfigError(
                f"n_test_cutoffs={n_test_cutoffs} with {len(distinct)} distinct cutoffs",
                fix="need at least one earlier cutoff to train on; add snapshots or lower n_test_cutoffs",
            )
        tests = distinct[-n_test_cutoffs:]
    else:
        tests = _as_cutoffs(test_cutoffs)
        unknown = [t for t in tests if t not in set(distinct)]
        if unknown:
            raise DataValidationError(
                f"test cutoff(s) {unknown} have no snapshot rows", fix=f"use cutoffs among {distinct}"
            )
    estimators = resolve_models(models, random_state=random_state, n_jobs=n_jobs)
    target_all = as_binary_target(snapshots[label_col], n_rows=len(snapshots))
    metric_rows: list[dict[str, Any]] = []
    prediction_parts: list[pd.DataFrame] = []
    for test_cutoff in tests:
        if train_cutoffs is None:
            train_set = [c for c in distinct if c + horizon <= test_cutoff]
        else:
            train_set = _as_cutoffs(train_cutoffs)
            overlapping = [c for c in train_set if c + horizon > test_cutoff]
            if overlapping:
                raise DataValidationError(
                    f"training cutoff(s) {[str(c.date()) for c in overlapping]} have label windows of "
                    f"{horizon_days} days that end after the test cutoff {test_cutoff.date()}: their labels "
                    "use outcomes a model deployed at the test cutoff cannot know (label overlap leakage)",
                    fix=f"train only on cutoffs on or before {(test_cutoff - horizon).date()}",
                )
        if not train_set:
            raise DataValidationError(
                f"no training cutoff has a closed label window before the test cutoff {test_cutoff.date()}",
                fix=f"add snapshots at or before {(test_cutoff - horizon).date()} or test a later cutoff",
            )
        train_mask = cutoffs.isin(train_set).to_numpy()
        test_mask = (cutoffs == test_cutoff).to_numpy()
        X_train = snapshots.loc[train_mask, list(feature_cols)]
        X_test = snapshots.loc[test_mask, list(feature_cols)]
        for name, estimator in estimators.items():
            row, proba = _evaluate(
                estimator, X_train, target_all[train_mask], X_test, target_all[test_mask], contact_rate
            )
            part = pd.DataFrame(
                {
                    "model": name,
                    "test_cutoff": test_cutoff,
                    "row": np.flatnonzero(test_mask),
                    "label": target_all[test_mask],
                    "score": proba,
                }
            )
            if id_col is not None:
                part.insert(2, id_col, snapshots.loc[test_mask, id_col].to_numpy())
            prediction_parts.append(part)
            metric_rows.append(
                {
                    "model": name,
                    "test_cutoff": test_cutoff,
                    "first_train_cutoff": min(train_set),
                    "last_train_cutoff": max(train_set),
                    "train_rows": int(train_mask.sum()),
                    **row,
                }
            )
    metrics = pd.DataFrame(metric_rows)
    predictions = pd.concat(prediction_parts, ignore_index=True) if prediction_parts else pd.DataFrame()
    return BacktestResult(metrics=metrics, predictions=predictions, horizon_days=horizon_days)
