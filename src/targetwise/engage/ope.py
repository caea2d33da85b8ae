"""Off-policy evaluation: the value of a candidate offer policy estimated from another policy's logs.

A log row ``i`` is a customer's features ``x_i``, the offer ``a_i`` the logging policy chose with
probability ``p_i`` (its logged propensity) and the reward ``r_i``. A candidate policy is given as its
probability of every offer for every row, ``pi[i, k]`` (a deterministic policy is one-hot). With the
importance weight ``w_i = pi[i, a_i] / p_i``:

* inverse propensity weighting:   ``IPW = mean(w_i r_i)`` (unbiased, high variance);
* self-normalised IPW:            ``SNIPW = sum(w_i r_i) / sum(w_i)`` (slightly biased, steadier);
* doubly robust:                  ``DR = mean(sum_k pi[i, k] q[i, k] + w_i (r_i - q[i, a_i]))`` with a
  reward model ``q`` (ridge regression per offer, cross-fitted: each row's ``q`` comes from a model that
  did not see it), unbiased when either the propensities or the reward model are right.

Intervals are percentile bootstraps over log rows (``n_bootstrap`` resamples, seeded; the cross-fitted
``q`` is kept fixed). The logging policy's own value is the mean logged reward (on-policy), and uniform
random over the eligible offers is evaluated like any candidate.

Example (a tiny log, the numbers by hand)
-----------------------------------------
>>> reward = np.array([1.0, 0.0, 1.0]); propensity = np.array([0.5, 0.5, 0.25])
>>> target = np.array([1.0, 0.0, 0.5])  # the candidate's probability of each logged offer
>>> float(ipw_value(reward, propensity, target))  # (2 + 0 + 2) / 3
1.3333333333333333
>>> float(snipw_value(reward, propensity, target))  # (2 + 0 + 2) / (2 + 0 + 2)
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from targetwise.errors import DataValidationError

__all__ = [
    "ESTIMATORS",
    "PolicyValue",
    "cross_fitted_rewards",
    "dr_value",
    "evaluate_policies",
    "ipw_value",
    "snipw_value",
]

ESTIMATORS = ("ipw", "snipw", "dr")


@dataclass(frozen=True)
class PolicyValue:
    """One policy's estimated mean reward per decision by one estimator, with its bootstrap interval."""

    policy: str
    estimator: str
    value: float
    low: float
    high: float
    n_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ipw_value(reward: np.ndarray, propensity: np.ndarray, target_logged: np.ndarray) -> float:
    """``mean(pi(a_i) / p_i * r_i)``; ``target_logged`` is the candidate's probability of each logged offer."""
    return float(np.mean(target_logged / propensity * reward))


def snipw_value(reward: np.ndarray, propensity: np.ndarray, target_logged: np.ndarray) -> float:
    """``sum(w_i r_i) / sum(w_i)``; 0 when the candidate never takes a logged offer (no weight at all)."""
    weight = target_logged / propensity
    total = float(weight.sum())
    return float((weight * reward).sum() / total) if total > 0 else 0.0


def dr_value(
    reward: np.ndarray, propensity: np.ndarray, target: np.ndarray, logged: np.ndarray, predicted: np.ndarray
) -> float:
    """Doubly robust: ``mean(sum_k pi[i, k] q[i, k] + w_i (r_i - q[i, a_i]))``; ``logged`` holds the
    offer index of each row, ``target`` and ``predicted`` are (rows, offers)."""
    rows = np.arange(logged.size)
    weight = target[rows, logged] / propensity
    direct = (target * predicted).sum(axis=1)
    return float(np.mean(direct + weight * (reward - predicted[rows, logged])))


def cross_fitted_rewards(
    X: np.ndarray,
    logged: np.ndarray,
    reward: np.ndarray,
    *,
    n_offers: int,
    n_folds: int = 5,
    ridge: float = 1.0,
    random_state: int | None = 0,
) -> np.ndarray:
    """Each row's predicted reward of every offer, (rows, offers), from ridge models per offer fitted on
    the other folds (standardised features plus an intercept; the intercept is not penalised)."""
    n = X.shape[0]
    folds = np.random.default_rng(random_state).permutation(n) % max(1, min(n_folds, n))
    design = np.column_stack([np.ones(n), (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)])
    penalty = ridge * np.eye(design.shape[1])
    penalty[0, 0] = 1e-9
    predicted = np.zeros((n, n_offers))
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        if not train.any():  # one row: nothing to learn from
            train = test
        for k in range(n_offers):
            rows = train & (logged == k)
            if not rows.any():
                predicted[test, k] = float(reward[train].mean())
                continue
            xs = design[rows]
            coef = np.linalg.solve(xs.T @ xs + penalty, xs.T @ reward[rows])
            predicted[test, k] = design[test] @ coef
    return predicted


def _estimates(
    reward: np.ndarray, propensity: np.ndarray, target: np.ndarray, logged: np.ndarray, predicted: np.ndarray
) -> dict[str, float]:
    target_logged = target[np.arange(logged.size), logged]
    return {
        "ipw": ipw_value(reward, propensity, target_logged),
        "snipw": snipw_value(reward, propensity, target_logged),
        "dr": dr_value(reward, propensity, target, logged, predicted),
    }


def evaluate_policies(
    X: Any,
    logged: Any,
    reward: Any,
    propensity: Any,
    candidates: Mapping[str, Any],
    *,
    eligible_mask: Any = None,
    n_offers: int | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    n_folds: int = 5,
    ridge: float = 1.0,
    random_state: int | None = 0,
) -> list[PolicyValue]:
    """IPW, SNIPW and DR values of each candidate (name -> (rows, offers) probabilities) and of uniform
    random over the eligible offers, plus the logging policy's on-policy mean, with bootstrap intervals.

    ``logged`` is each row's offer index (0 .. n_offers - 1). Rows are log rows with an observed reward.
    """
    reward = np.asarray(reward, dtype=float)
    propensity = np.asarray(propensity, dtype=float)
    logged = np.asarray(logged, dtype=np.int64)
    matrix = np.asarray(X, dtype=float)
    n = reward.size
    if n == 0:
        raise DataValidationError("no logged decision has a reward yet", fix="record rewards before evaluating")
    if logged.shape != (n,) or propensity.shape != (n,) or matrix.shape[0] != n:
        raise DataValidationError(
            f"the log's columns differ in length: X {matrix.shape[0]}, offer {logged.shape}, reward {n}, "
            f"propensity {propensity.shape}", fix="pass one value per logged decision")
    if not ((propensity > 0) & (propensity <= 1)).all():
        bad = int((~((propensity > 0) & (propensity <= 1))).sum())
        raise DataValidationError(f"{bad:,} logged propensit(ies) outside (0, 1]",
                                  fix="log the probability with which each offer was chosen")
    width = int(n_offers if n_offers is not None else logged.max() + 1)
    if logged.min() < 0 or logged.max() >= width:
        raise DataValidationError(f"logged offer indices must be 0..{width - 1}", fix="index offers in one order")
    mask = np.ones((n, width), bool) if eligible_mask is None else np.asarray(eligible_mask, dtype=bool)
    policies = {name: np.asarray(p, dtype=float) for name, p in candidates.items()}
    policies["uniform"] = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    for name, p in policies.items():
        if p.shape != (n, width) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6) or (p < 0).any():
            raise DataValidationError(f"policy {name!r} must give (rows, offers) probabilities summing to 1 per row",
                                      fix="pass one probability per offer for every logged row")
    predicted = cross_fitted_rewards(matrix, logged, reward, n_offers=width, n_folds=n_folds, ridge=ridge,
                                     random_state=random_state)
    rng = np.random.default_rng(random_state)
    samples = rng.integers(0, n, size=(n_bootstrap, n))
    tail = (1 - confidence) / 2
    out: list[PolicyValue] = []

    def interval(values: np.ndarray) -> tuple[float, float]:
        if values.size == 0:
            return float("nan"), float("nan")
        return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))

    mean_draws = np.array([reward[s].mean() for s in samples])
    out.append(PolicyValue("logging", "on_policy", float(reward.mean()), *interval(mean_draws), n))
    for name, target in policies.items():
        point = _estimates(reward, propensity, target, logged, predicted)
        draws = [_estimates(reward[s], propensity[s], target[s], logged[s], predicted[s]) for s in samples]
        for estimator in ESTIMATORS:
            low, high = interval(np.array([d[estimator] for d in draws]))
            out.append(PolicyValue(name, estimator, point[estimator], low, high, n))
    return out
