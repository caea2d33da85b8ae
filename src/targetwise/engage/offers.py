"""Next-best offer: a contextual bandit with one ridge-regression reward model per offer.

Each offer ``k`` has its own linear model of the reward given the customer's features ``x`` (a
"disjoint" linear bandit): ``A_k = ridge * I + sum x x'`` and ``b_k = sum reward * x`` over the logged
decisions of that offer, so ``theta_k = A_k^-1 b_k`` is the ridge estimate and ``A_k^-1`` its
posterior shape. Features are standardised with the mean and spread of the first batch seen (kept in
``feature_mean_`` / ``feature_scale_``) and an intercept is added.

Two ways to choose among a customer's eligible offers:

* ``method="thompson"`` (linear Thompson sampling): draw ``theta_k ~ N(theta_k, exploration^2 A_k^-1)``
  and take the best draw. The probability of each offer being the best draw is estimated by
  ``n_draws`` Monte Carlo draws; the decision is then *sampled from that estimate*, so the logged
  propensity is the exact probability with which the offer was chosen, not an approximation of it.
* ``method="linucb"``: the highest upper bound ``x' theta_k + exploration * sqrt(x' A_k^-1 x)``
  (ties to the first offer), a deterministic choice.

Either way a share ``holdout`` of the decisions is uniform random over the eligible offers. The logged
``propensity`` is the probability of the chosen offer under the whole logging policy,
``holdout / n_eligible + (1 - holdout) * p_policy``, so off-policy evaluation can use every row; the
``holdout`` flag marks the rows that were uniform (among them each offer had ``1 / n_eligible``).

Example
-------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 2)); offer = rng.integers(0, 2, 400)
>>> reward = (offer == (X[:, 0] > 0)).astype(float)  # offer 1 pays for x0 > 0, offer 0 otherwise
>>> policy = OfferBandit(method="linucb", holdout=0.0).fit(X, offer, reward)
>>> policy.decide(np.array([[2.0, 0.0], [-2.0, 0.0]])).offer.tolist()
[1, 0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from targetwise._fitted import check_fitted
from targetwise.errors import DataValidationError

__all__ = ["METHODS", "OfferBandit", "OfferDecisions"]

METHODS = ("thompson", "linucb")


@dataclass(frozen=True)
class OfferDecisions:
    """One decision per row: the chosen offer (label), its logged propensity, whether it was a uniform
    holdout decision, and the full probability over offers (rows sum to 1 over the eligible ones)."""

    offer: np.ndarray
    propensity: np.ndarray
    holdout: np.ndarray
    probabilities: np.ndarray
    offers: tuple[Any, ...]


def _as_matrix(X: Any, name: str = "X") -> np.ndarray:
    matrix = np.asarray(X, dtype=float)
    if matrix.ndim != 2:
        raise DataValidationError(f"{name} must be a 2-d array of features, got {matrix.ndim} dimension(s)",
                                  fix="pass one row per customer and one column per feature")
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataValidationError(
            f"{name} has {int(bad.sum()):,} missing or infinite value(s), the first at row {row}, column {col}",
            fix="fill or drop missing features before fitting or deciding",
        )
    return matrix


def eligible_matrix(eligible: Any, n_rows: int, n_offers: int) -> np.ndarray:
    """The boolean (rows, offers) eligibility matrix, every offer eligible when ``eligible`` is None;
    refuses a row with no eligible offer."""
    if eligible is None:
        return np.ones((n_rows, n_offers), dtype=bool)
    mask = np.asarray(eligible, dtype=bool)
    if mask.shape != (n_rows, n_offers):
        raise DataValidationError(f"eligible_mask has shape {mask.shape}, expected {(n_rows, n_offers)}",
                                  fix="pass one row per customer and one column per offer, in offers_ order")
    empty = np.flatnonzero(~mask.any(axis=1))
    if empty.size:
        raise DataValidationError(f"{empty.size:,} row(s) have no eligible offer, the first is row {empty[0]}",
                                  fix="leave customers without an eligible offer out before deciding")
    return mask


class OfferBandit(BaseEstimator):
    """Linear Thompson sampling or LinUCB over offers, with a uniform holdout (see the module docstring).

    Parameters
    ----------
    method:
        ``"thompson"`` or ``"linucb"``.
    ridge:
        Prior precision of every coefficient (the ridge penalty), > 0.
    exploration:
        Thompson: the posterior's scale (about the reward's noise sd); LinUCB: the bound's width.
    holdout:
        Share of decisions made uniformly at random over the eligible offers, in [0, 1].
    n_draws:
        Thompson: Monte Carlo draws per decision batch for the choice probabilities.
    offers:
        The offer labels in a fixed order; ``None`` takes the sorted labels of the first fit.
    importance_weighting:
        Weigh each logged reward by ``1 / propensity`` when fitting (corrects for a logging policy
        that chose by features the model lacks); off by default (the ridge fit is unbiased when the
        logging policy chose by ``X`` alone).
    random_state:
        Seed of every draw (decisions, holdout, Thompson samples).
    """

    def __init__(
        self,
        *,
        method: str = "thompson",
        ridge: float = 1.0,
        exploration: float = 0.5,
        holdout: float = 0.1,
        n_draws: int = 200,
        offers: tuple[Any, ...] | list[Any] | None = None,
        importance_weighting: bool = False,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.ridge = ridge
        self.exploration = exploration
        self.holdout = holdout
        self.n_draws = n_draws
        self.offers = offers
        self.importance_weighting = importance_weighting
        self.random_state = random_state

    # -- learning -------------------------------------------------------------------------------
    def fit(self, X: Any, offer: Any, reward: Any, propensity: Any = None) -> OfferBandit:
        """Fit from logged decisions: features ``X`` (rows, features), the offer shown, its reward and
        (optionally) its logging propensity. Forgets any earlier fit."""
        for name in ("coef_", "precision_", "moment_", "n_decisions_", "feature_mean_", "feature_scale_",
                     "offers_", "_rng"):
            if hasattr(self, name):
                delattr(self, name)
        return self.partial_fit(X, offer, reward, propensity)

    def partial_fit(self, X: Any, offer: Any, reward: Any, propensity: Any = None) -> OfferBandit:
        """Add newly observed rewards to the sufficient statistics (first call: as :meth:`fit`)."""
        self._check_params()
        matrix = _as_matrix(X)
        offer = np.asarray(offer)
        reward = np.asarray(reward, dtype=float)
        n = matrix.shape[0]
        if offer.shape != (n,) or reward.shape != (n,):
            raise DataValidationError(
                f"X has {n:,} rows but offer has {offer.shape} and reward {reward.shape}",
                fix="pass one offer and one reward per row of X",
            )
        if not np.isfinite(reward).all():
            raise DataValidationError(f"{int((~np.isfinite(reward)).sum()):,} reward(s) are missing or infinite",
                                      fix="fit only on decisions whose reward has been observed")
        weight = np.ones(n)
        if propensity is not None:
            propensity = np.asarray(propensity, dtype=float)
            if propensity.shape != (n,) or not ((propensity > 0) & (propensity <= 1)).all():
                raise DataValidationError("propensity must be one value in (0, 1] per row",
                                          fix="log the probability with which each offer was chosen")
            if self.importance_weighting:
                weight = 1.0 / propensity
        if not hasattr(self, "offers_"):
            self._start(matrix, offer)
        index = self._offer_index(offer)
        design = self._design(matrix)
        for k in range(len(self.offers_)):
            rows = index == k
            if rows.any():
                xs, w = design[rows], weight[rows]
                self.precision_[k] += (xs * w[:, None]).T @ xs
                self.moment_[k] += xs.T @ (w * reward[rows])
                self.n_decisions_[k] += int(rows.sum())
        self.coef_ = np.linalg.solve(self.precision_, self.moment_[..., None])[..., 0]
        return self

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise DataValidationError(f"unknown method {self.method!r}", fix=f"use one of: {', '.join(METHODS)}")
        if not self.ridge > 0 or not self.exploration >= 0:
            raise DataValidationError(f"ridge must be > 0 and exploration >= 0, got {self.ridge!r}, {self.exploration!r}",
                                      fix="use a positive ridge and a non-negative exploration")
        if not 0 <= self.holdout <= 1:
            raise DataValidationError(f"holdout must be a share in [0, 1], got {self.holdout!r}",
                                      fix="use e.g. 0.1 for 10 % uniform-random decisions")
        if int(self.n_draws) < 1:
            raise DataValidationError(f"n_draws must be >= 1, got {self.n_draws!r}", fix="use e.g. 200")

    def _start(self, matrix: np.ndarray, offer: np.ndarray) -> None:
        labels = tuple(self.offers) if self.offers is not None else tuple(np.unique(offer).tolist())
        if len(labels) < 1 or len(set(labels)) != len(labels):
            raise DataValidationError(f"offers must be distinct and at least one, got {labels!r}",
                                      fix="list each offer once")
        self.offers_ = labels
        self.feature_mean_ = matrix.mean(axis=0) if matrix.shape[0] else np.zeros(matrix.shape[1])
        scale = matrix.std(axis=0) if matrix.shape[0] else np.ones(matrix.shape[1])
        self.feature_scale_ = np.where(scale > 0, scale, 1.0)
        d = matrix.shape[1] + 1
        self.precision_ = np.tile(self.ridge * np.eye(d), (len(labels), 1, 1))
        self.moment_ = np.zeros((len(labels), d))
        self.n_decisions_ = np.zeros(len(labels), dtype=np.int64)
        self._rng = np.random.default_rng(self.random_state)

    def _offer_index(self, offer: np.ndarray) -> np.ndarray:
        position = {label: k for k, label in enumerate(self.offers_)}
        unknown = [o for o in dict.fromkeys(offer.tolist()) if o not in position]
        if unknown:
            raise DataValidationError(f"{len(unknown)} unknown offer(s), e.g. {unknown[0]!r}",
                                      fix=f"use the offers the policy was started with: {list(self.offers_)}")
        return np.array([position[o] for o in offer.tolist()], dtype=np.int64)

    def _design(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.shape[1] != self.feature_mean_.size:
            raise DataValidationError(f"X has {matrix.shape[1]} feature(s), the policy was fitted on "
                                      f"{self.feature_mean_.size}", fix="pass the same feature columns")
        scaled = (matrix - self.feature_mean_) / self.feature_scale_
        return np.column_stack([np.ones(matrix.shape[0]), scaled])

    # -- deciding -------------------------------------------------------------------------------
    def expected_reward(self, X: Any) -> np.ndarray:
        """The fitted mean reward of every offer for every row, (rows, offers)."""
        check_fitted(self, "coef_", fix="call fit(X, offer, reward) first")
        return self._design(_as_matrix(X)) @ self.coef_.T

    def policy_probabilities(self, X: Any, eligible_mask: Any = None) -> np.ndarray:
        """The probability of each offer under the *learned* policy alone (no holdout), (rows, offers):
        Thompson's chance of being the best draw, or LinUCB's one-hot choice. Advances the random state."""
        check_fitted(self, "coef_", fix="call fit(X, offer, reward) first")
        design = self._design(_as_matrix(X))
        mask = eligible_matrix(eligible_mask, design.shape[0], len(self.offers_))
        if self.method == "linucb":
            covariance = np.linalg.inv(self.precision_)
            width = np.sqrt(np.einsum("nd,kde,ne->nk", design, covariance, design))
            score = design @ self.coef_.T + self.exploration * width
            return _one_hot(np.where(mask, score, -np.inf).argmax(axis=1), mask.shape[1])
        return self._thompson_probabilities(design, mask)

    def _thompson_probabilities(self, design: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n_offers, d = self.coef_.shape
        draws = int(self.n_draws)
        # draws of every offer's coefficients, shared by the rows: theta = coef + exploration * L z
        chol = np.linalg.cholesky(np.linalg.inv(self.precision_))
        z = self._rng.standard_normal((draws, n_offers, d))
        theta = self.coef_[None] + self.exploration * np.einsum("kde,ske->skd", chol, z)
        counts = np.zeros(mask.shape)
        for start in range(0, design.shape[0], 4096):  # bounded memory: rows x draws x offers per batch
            rows = slice(start, start + 4096)
            score = np.einsum("nd,skd->nsk", design[rows], theta)
            score = np.where(mask[rows][:, None, :], score, -np.inf)
            best = score.argmax(axis=2)
            counts[rows] = np.stack([(best == k).sum(axis=1) for k in range(n_offers)], axis=1)
        return counts / draws

    def decide(self, X: Any, eligible_mask: Any = None) -> OfferDecisions:
        """Choose one eligible offer per row and log its propensity (see the module docstring).

        The draws come from the estimator's generator (seeded by ``random_state`` at the first fit), so
        the same fit and the same calls give the same decisions.
        """
        check_fitted(self, "coef_", fix="call fit(X, offer, reward) first")
        matrix = _as_matrix(X)
        mask = eligible_matrix(eligible_mask, matrix.shape[0], len(self.offers_))
        learned = self.policy_probabilities(matrix, mask)
        uniform = mask / mask.sum(axis=1, keepdims=True)
        probabilities = self.holdout * uniform + (1 - self.holdout) * learned
        holdout = self._rng.random(matrix.shape[0]) < self.holdout
        source = np.where(holdout[:, None], uniform, learned)
        chosen = _sample_rows(self._rng, source)
        labels = np.asarray(self.offers_, dtype=object)[chosen]
        return OfferDecisions(
            offer=labels,
            propensity=probabilities[np.arange(chosen.size), chosen],
            holdout=holdout,
            probabilities=probabilities,
            offers=self.offers_,
        )


def _one_hot(index: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((index.size, width))
    out[np.arange(index.size), index] = 1.0
    return out


def _sample_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row; a zero-probability column is never drawn."""
    cum = probabilities.cumsum(axis=1)
    u = rng.random((probabilities.shape[0], 1)) * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probabilities.shape[1] - 1)
