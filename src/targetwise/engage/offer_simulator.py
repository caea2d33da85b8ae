"""A simulator of offer rewards with a planted reward function, for validating bandits and OPE.

Customers have standard-normal features ``X`` (rows, ``n_features``) and each is eligible for every
offer with probability ``eligible_share`` (at least one offer always). The planted expected reward of
offer ``k`` for customer ``x`` is linear and clipped into ``[0.01, 0.99]``::

    mu(x, k) = clip(base_k + x' weight_k, 0.01, 0.99)

so the *true* value of any policy ``pi`` (rows, offers) over the simulated customers is exact:
``mean_i sum_k pi[i, k] mu(x_i, k)``, with no sampling. The oracle takes the eligible offer of the
highest ``mu``. Rewards are Bernoulli(``mu``) (a click or a conversion).

Example
-------
>>> sim = OfferSimulator.planted(n_features=3, n_offers=4, random_state=0)
>>> X, eligible = sim.customers(1000, np.random.default_rng(1))
>>> sim.value(X, sim.oracle(X, eligible)) > sim.value(X, eligible / eligible.sum(axis=1, keepdims=True))
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["OfferSimulator", "RoundRecord", "regret_curves", "simulate_rounds"]


@dataclass(frozen=True)
class OfferSimulator:
    """Planted linear rewards (see the module docstring): ``base`` (offers,), ``weight`` (features, offers)."""

    base: np.ndarray
    weight: np.ndarray
    eligible_share: float = 0.8

    @classmethod
    def planted(
        cls, *, n_features: int = 5, n_offers: int = 4, effect: float = 0.06, eligible_share: float = 0.8,
        random_state: int | None = 0,
    ) -> OfferSimulator:
        """Offers with base rates 0.15-0.35 and feature effects of sd ``effect`` per feature."""
        rng = np.random.default_rng(random_state)
        return cls(base=rng.uniform(0.15, 0.35, n_offers), weight=rng.normal(0, effect, (n_features, n_offers)),
                   eligible_share=eligible_share)

    @property
    def n_offers(self) -> int:
        return int(self.base.size)

    def customers(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` customers' features and eligibility (rows, offers), every row with an eligible offer."""
        X = rng.standard_normal((n, self.weight.shape[0]))
        eligible = rng.random((n, self.n_offers)) < self.eligible_share
        none = ~eligible.any(axis=1)
        eligible[np.flatnonzero(none), rng.integers(0, self.n_offers, int(none.sum()))] = True
        return X, eligible

    def expected_reward(self, X: np.ndarray) -> np.ndarray:
        """The planted mean reward of every offer for every row, (rows, offers)."""
        return np.clip(self.base + X @ self.weight, 0.01, 0.99)

    def value(self, X: np.ndarray, probabilities: np.ndarray) -> float:
        """The exact expected reward per decision of a policy over these customers."""
        return float((probabilities * self.expected_reward(X)).sum(axis=1).mean())

    def oracle(self, X: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """The best eligible offer per row, one-hot (rows, offers)."""
        score = np.where(eligible, self.expected_reward(X), -np.inf)
        out = np.zeros(eligible.shape)
        out[np.arange(X.shape[0]), score.argmax(axis=1)] = 1.0
        return out

    def rewards(self, X: np.ndarray, offer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Bernoulli rewards of the offers shown (offer index per row)."""
        mu = self.expected_reward(X)[np.arange(X.shape[0]), offer]
        return (rng.random(offer.size) < mu).astype(float)


@dataclass(frozen=True)
class RoundRecord:
    """One simulated round: the decisions made, the reward earned and the regret against the oracle."""

    round: int
    decisions: int
    reward: float
    expected_reward: float
    oracle_reward: float

    @property
    def regret(self) -> float:
        return self.oracle_reward - self.expected_reward


def simulate_rounds(
    simulator: OfferSimulator,
    decide: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    learn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None],
    *,
    n_rounds: int,
    batch: int,
    random_state: int | None = 0,
) -> list[RoundRecord]:
    """Rounds of: fresh customers arrive, ``decide(X, eligible) -> (offer index, propensity)``, rewards
    are drawn, ``learn(X, offer, reward, propensity)``. Returns what each round earned and its regret."""
    rng = np.random.default_rng(random_state)
    records = []
    for r in range(n_rounds):
        X, eligible = simulator.customers(batch, rng)
        offer, propensity = decide(X, eligible)
        reward = simulator.rewards(X, offer, rng)
        mu = simulator.expected_reward(X)
        oracle = float(np.where(eligible, mu, -np.inf).max(axis=1).mean())
        records.append(RoundRecord(r, batch, float(reward.sum()), float(mu[np.arange(batch), offer].mean()), oracle))
        learn(X, offer, reward, propensity)
    return records


def regret_curves(
    simulator: OfferSimulator,
    methods: tuple[str, ...] = ("thompson", "linucb"),
    *,
    warm: int = 500,
    n_rounds: int = 10,
    batch: int = 1000,
    holdout: float = 0.1,
    random_state: int = 0,
) -> dict[str, list[float]]:
    """Regret per decision, round by round (the oracle's expected reward minus the policy's), of the bandit
    with each of ``methods`` and of uniform random over the eligible offers: the bandit starts from ``warm``
    uniform decisions, then decides a fresh ``batch`` of customers per round (``holdout`` of them uniform)
    and learns from their rewards. Every policy meets the same customers in the same rounds."""
    from targetwise.engage.offers import OfferBandit, _sample_rows

    offers = tuple(range(simulator.n_offers))
    rng = np.random.default_rng(10_000 + random_state)
    X, eligible = simulator.customers(warm, rng)
    p = eligible / eligible.sum(axis=1, keepdims=True)
    first = _sample_rows(rng, p)
    warm_log = (X, first, simulator.rewards(X, first, rng), p[np.arange(warm), first])
    curves: dict[str, list[float]] = {}
    for method in methods:
        bandit = OfferBandit(method=method, holdout=holdout, offers=offers, random_state=random_state).fit(*warm_log)

        def decide(X: np.ndarray, eligible: np.ndarray, bandit: OfferBandit = bandit) -> tuple[np.ndarray, np.ndarray]:
            made = bandit.decide(X, eligible)
            return made.offer.astype(int), made.propensity

        def learn(X: np.ndarray, offer: np.ndarray, reward: np.ndarray, propensity: np.ndarray,
                  bandit: OfferBandit = bandit) -> None:
            bandit.partial_fit(X, offer, reward, propensity)

        rounds = simulate_rounds(simulator, decide, learn, n_rounds=n_rounds, batch=batch, random_state=random_state)
        curves[method] = [r.regret for r in rounds]
    pick = np.random.default_rng(20_000 + random_state)

    def uniform(X: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = eligible / eligible.sum(axis=1, keepdims=True)
        offer = _sample_rows(pick, q)
        return offer, q[np.arange(X.shape[0]), offer]

    rounds = simulate_rounds(simulator, uniform, lambda *_: None, n_rounds=n_rounds, batch=batch,
                             random_state=random_state)
    curves["uniform"] = [r.regret for r in rounds]
    return curves

