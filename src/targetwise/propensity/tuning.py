"""Bounded tuning and importance-based feature selection, as meta-estimators.

Both wrap an estimator and do their work inside ``fit`` on the rows they are
given. Put them in :func:`compare_models` or :func:`backtest` and the search
and the selection run on each training fold only (nested validation): the
test fold is never seen.

* :class:`BudgetedSearch`: successive halving with a wall-clock budget.
  ``max_candidates`` random configurations are scored by inner stratified
  CV ROC AUC on a small stratified subsample; the best ``1/eta`` go on to a
  subsample ``eta`` times larger, until one is left or the full data is
  reached. When ``time_budget_s`` runs out the search stops and the best
  configuration of the largest completed round wins
  (``budget_exhausted_ = True``). The clock is checked before each
  evaluation, so the search can overrun the budget by one evaluation. The final refit on all rows is not counted
  in the budget.
* :class:`ImportanceSelector`: fits the estimator, keeps the most important
  features until their importances sum to ``cumulative_importance``, refits
  on those.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import ParameterSampler, StratifiedKFold, train_test_split

from targetwise._fitted import check_fitted
from targetwise.errors import ConfigError, ModelError
from targetwise.propensity._tabular import as_binary_target, as_frame

__all__ = ["BudgetedSearch", "ImportanceSelector", "default_search_space"]


def default_search_space(model: str = "lightgbm") -> dict[str, list[Any]]:
    """A modest search space for :class:`PropensityClassifier` parameters."""
    if model == "lightgbm":
        return {
            "n_estimators": [100, 200, 300, 500],
            "learning_rate": [0.02, 0.03, 0.05, 0.1],
            "num_leaves": [7, 15, 31, 63],
            "min_child_samples": [20, 50, 100, 200],
            "colsample_bytree": [0.5, 0.7, 0.9],
            "reg_lambda": [0.0, 1.0, 5.0],
        }
    if model in ("logistic", "linear_svm"):
        return {"C": [0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]}
    if model == "tree":
        return {"max_depth": [3, 4, 5, 6, 8, 10], "min_samples_leaf": [10, 20, 50, 100, 200]}
    raise ConfigError(f"no default search space for {model!r}", fix="pass param_distributions explicitly")


def _inner_auc(estimator: Any, X: pd.DataFrame, y: np.ndarray, cv: int, seed: int) -> float:
    scores = []
    for train_idx, test_idx in StratifiedKFold(cv, shuffle=True, random_state=seed).split(X, y):
        model = clone(estimator).fit(X.iloc[train_idx], y[train_idx])
        scores.append(roc_auc_score(y[test_idx], model.predict_proba(X.iloc[test_idx])[:, 1]))
    return float(np.mean(scores))


class BudgetedSearch(ClassifierMixin, BaseEstimator):
    """Successive-halving random search under a wall-clock budget (see the module docstring).

    Parameters
    ----------
    estimator : an unfitted classifier (e.g. ``PropensityClassifier()``).
    param_distributions : ``{param: list or scipy distribution}``; None uses
        :func:`default_search_space` for the estimator's ``model``.
    time_budget_s : wall-clock seconds for the search.
    max_candidates : configurations sampled in the first round.
    eta : halving factor (keep ``1/eta`` of candidates, grow rows ``eta`` times).
    min_rows : rows in the first round's subsample (at least).
    cv : inner folds. random_state : seed for sampling, subsamples and folds.

    Attributes: ``best_params_``, ``best_score_`` (inner CV AUC), ``best_estimator_``,
    ``results_`` (one row per evaluation), ``budget_exhausted_``, ``search_seconds_``.
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Mapping[str, Any] | None = None,
        *,
        time_budget_s: float = 60.0,
        max_candidates: int = 12,
        eta: int = 3,
        min_rows: int = 2000,
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.time_budget_s = time_budget_s
        self.max_candidates = max_candidates
        self.eta = eta
        self.min_rows = min_rows
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> BudgetedSearch:
        """Search on ``(X, y)`` only, then refit the best configuration on all of it."""
        if self.time_budget_s <= 0 or self.max_candidates < 1 or self.eta < 2 or self.cv < 2:
            raise ConfigError(
                f"time_budget_s={self.time_budget_s}, max_candidates={self.max_candidates}, "
                f"eta={self.eta}, cv={self.cv}",
                fix="use a positive budget, max_candidates >= 1, eta >= 2 and cv >= 2",
            )
        frame = as_frame(X)
        target = as_binary_target(y, n_rows=len(frame))
        space = self.param_distributions
        if space is None:
            space = default_search_space(getattr(self.estimator, "model", "lightgbm"))
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        n_iter = self.max_candidates
        if all(isinstance(v, list | tuple) for v in space.values()):
            n_iter = min(n_iter, math.prod(len(v) for v in space.values()))  # a small grid: each once
        candidates = list(ParameterSampler(dict(space), n_iter=n_iter, random_state=seed))
        n = len(frame)
        n_rounds = max(1, math.ceil(math.log(len(candidates), self.eta)) + 1) if len(candidates) > 1 else 1
        start = time.perf_counter()
        records: list[dict[str, Any]] = []
        alive = list(range(len(candidates)))
        best_round_scores: dict[int, float] = {}
        self.budget_exhausted_ = False
        for round_no in range(n_rounds):
            rows = (
                n
                if round_no == n_rounds - 1
                else min(n, max(self.min_rows, n // self.eta ** (n_rounds - 1 - round_no)))
            )
            if rows < n:
                idx, _ = train_test_split(
                    np.arange(n), train_size=rows, stratify=target, random_state=seed + round_no
                )
            else:
                idx = np.arange(n)
            scores: dict[int, float] = {}
            for cand in alive:
                if time.perf_counter() - start > self.time_budget_s:
                    self.budget_exhausted_ = True
                    break
                t0 = time.perf_counter()
                model = clone(self.estimator).set_params(**candidates[cand])
                score = _inner_auc(model, frame.iloc[idx], target[idx], self.cv, seed)
                scores[cand] = score
                records.append(
                    {
                        "candidate": cand,
                        "round": round_no,
                        "rows": len(idx),
                        "params": repr(candidates[cand]),
                        "roc_auc": score,
                        "seconds": time.perf_counter() - t0,
                    }
                )
            if scores:
                best_round_scores = scores
            if self.budget_exhausted_ or len(alive) == 1:
                break
            keep = max(1, math.ceil(len(alive) / self.eta))
            alive = sorted(scores, key=lambda c: -scores[c])[:keep]
        if not best_round_scores:
            raise ModelError(
                f"the time budget of {self.time_budget_s} s ended before a single candidate was scored",
                fix="raise time_budget_s or lower min_rows",
            )
        best = max(best_round_scores, key=lambda c: best_round_scores[c])
        self.search_seconds_ = time.perf_counter() - start
        self.best_params_ = dict(candidates[best])
        self.best_score_ = best_round_scores[best]
        self.results_ = pd.DataFrame(records)
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(frame, target)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_fitted(self, "best_estimator_", fix="call fit(X, y) first")
        return self.best_estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    @property
    def feature_importances_(self) -> np.ndarray:
        check_fitted(self, "best_estimator_", fix="call fit(X, y) first")
        return self.best_estimator_.feature_importances_


class ImportanceSelector(ClassifierMixin, BaseEstimator):
    """Keep the most important features up to ``cumulative_importance`` of the total, refit on them.

    Importances are the wrapped estimator's ``feature_importances_`` from a fit
    on the rows passed to ``fit`` (training data only). Attributes:
    ``selected_features_``, ``dropped_features_``, ``importance_`` (table),
    ``estimator_`` (refitted on the selected features).
    """

    def __init__(self, estimator: Any, *, cumulative_importance: float = 0.95, min_features: int = 1) -> None:
        self.estimator = estimator
        self.cumulative_importance = cumulative_importance
        self.min_features = min_features

    def fit(self, X: Any, y: Any) -> ImportanceSelector:
        if not 0.0 < self.cumulative_importance <= 1.0 or self.min_features < 1:
            raise ConfigError(
                f"cumulative_importance={self.cumulative_importance}, min_features={self.min_features}",
                fix="use cumulative_importance in (0, 1] and min_features >= 1",
            )
        frame = as_frame(X)
        target = as_binary_target(y, n_rows=len(frame))
        first = clone(self.estimator).fit(frame, target)
        importance = np.asarray(first.feature_importances_, dtype=float)
        table = pd.DataFrame({"feature": list(frame.columns), "importance": importance})
        table = table.sort_values("importance", ascending=False, kind="stable", ignore_index=True)
        total = table["importance"].sum()
        table["cumulative"] = table["importance"].cumsum() / total if total > 0 else 1.0
        # smallest prefix whose cumulative share reaches the threshold
        reach = int(np.searchsorted(table["cumulative"].to_numpy(), self.cumulative_importance - 1e-12) + 1)
        n_keep = min(len(table), max(self.min_features, reach))
        table["selected"] = np.arange(len(table)) < n_keep
        self.importance_ = table
        self.selected_features_ = table.loc[table["selected"], "feature"].tolist()
        self.dropped_features_ = table.loc[~table["selected"], "feature"].tolist()
        self.estimator_ = clone(self.estimator).fit(frame[self.selected_features_], target)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_fitted(self, "estimator_", fix="call fit(X, y) first")
        frame = as_frame(X, feature_names=list(self.feature_names_in_))
        return self.estimator_.predict_proba(frame[self.selected_features_])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Importances of the refitted model over all input columns (dropped ones are 0)."""
        check_fitted(self, "estimator_", fix="call fit(X, y) first")
        refit = pd.Series(self.estimator_.feature_importances_, index=self.selected_features_)
        return refit.reindex(list(self.feature_names_in_), fill_value=0.0).to_numpy(dtype=float)
