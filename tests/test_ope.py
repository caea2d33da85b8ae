"""Off-policy evaluation (issue 22): IPW, SNIPW and DR by hand on a tiny log, and within 10 % of the exact
value of the evaluated policy in a simulator with planted rewards in >= 90 % of seeds."""

from __future__ import annotations

import numpy as np
import pytest

from targetwise.engage import OfferBandit, OfferSimulator, evaluate_policies
from targetwise.engage.ope import cross_fitted_rewards, dr_value, ipw_value, snipw_value
from targetwise.errors import DataValidationError

# A tiny log of 5 decisions over 2 offers: the logged offer, its propensity, the reward, the candidate's
# probability of each offer and a reward model's prediction of each offer.
LOGGED = np.array([0, 1, 1, 0, 1])
PROPENSITY = np.array([0.5, 0.25, 0.5, 0.8, 0.5])
REWARD = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
TARGET = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [0.2, 0.8]])
PREDICTED = np.array([[0.6, 0.2], [0.4, 0.5], [0.1, 0.3], [0.5, 0.5], [0.2, 0.7]])


def test_ipw_snipw_dr_equal_hand_computed_values() -> None:
    # weights pi(a_i) / p_i: 1/0.5, 0.5/0.25, 1/0.5, 1/0.8, 0.8/0.5 = 2, 2, 2, 1.25, 1.6
    # weighted rewards: 2, 2, 0, 0, 1.6 -> sum 5.6
    target_logged = TARGET[np.arange(5), LOGGED]
    assert ipw_value(REWARD, PROPENSITY, target_logged) == pytest.approx(5.6 / 5)
    assert snipw_value(REWARD, PROPENSITY, target_logged) == pytest.approx(5.6 / (2 + 2 + 2 + 1.25 + 1.6))
    # DR per row: sum_k pi q + w (r - q_a)
    # row 1: 0.6 + 2 (1 - 0.6) = 1.4;  row 2: 0.45 + 2 (1 - 0.5) = 1.45;  row 3: 0.3 + 2 (0 - 0.3) = -0.3
    # row 4: 0.5 + 1.25 (0 - 0.5) = -0.125;  row 5: 0.04 + 0.56 + 1.6 (1 - 0.7) = 1.08
    expected = (1.4 + 1.45 - 0.3 - 0.125 + 1.08) / 5
    assert dr_value(REWARD, PROPENSITY, TARGET, LOGGED, PREDICTED) == pytest.approx(expected)


def test_dr_with_a_perfect_reward_model_is_the_direct_value() -> None:
    """When q predicts every logged reward exactly, the correction vanishes: DR = mean sum_k pi q."""
    predicted = PREDICTED.copy()
    predicted[np.arange(5), LOGGED] = REWARD
    assert dr_value(REWARD, PROPENSITY, TARGET, LOGGED, predicted) == pytest.approx((TARGET * predicted).sum(1).mean())


def test_the_logging_policy_and_uniform_on_a_uniform_log() -> None:
    """Logged uniformly (propensity 1/2), uniform's weights are all 1: IPW = SNIPW = the mean reward, which
    is also the logging policy's on-policy value; the intervals hold the point estimate."""
    X = np.arange(10.0)[:, None]
    logged = np.array([0, 1] * 5)
    reward = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1], dtype=float)
    values = evaluate_policies(X, logged, reward, np.full(10, 0.5), {}, n_offers=2, n_bootstrap=100, random_state=3)
    by = {(v.policy, v.estimator): v for v in values}
    assert by["logging", "on_policy"].value == pytest.approx(0.6)
    assert by["uniform", "ipw"].value == pytest.approx(0.6)
    assert by["uniform", "snipw"].value == pytest.approx(0.6)
    for v in values:
        assert v.low <= v.value <= v.high and v.n_rows == 10
    again = evaluate_policies(X, logged, reward, np.full(10, 0.5), {}, n_offers=2, n_bootstrap=100, random_state=3)
    assert [v.to_dict() for v in again] == [v.to_dict() for v in values]


def test_cross_fitting_never_predicts_a_row_from_itself() -> None:
    """With one fold per row (leave-one-out) and a huge ridge, each row's prediction of its own offer is
    the mean reward of the *other* rows of that offer (the unpenalised intercept)."""
    X = np.zeros((4, 1))
    logged = np.array([0, 0, 0, 1])
    reward = np.array([1.0, 0.0, 0.0, 1.0])
    predicted = cross_fitted_rewards(X, logged, reward, n_offers=2, n_folds=4, ridge=1e9, random_state=0)
    assert predicted[:3, 0] == pytest.approx([0.0, 0.5, 0.5])
    # offer 1's only row has no other row of offer 1: the mean reward of the other rows instead
    assert predicted[3, 1] == pytest.approx(1 / 3)


def test_bad_logs_are_refused() -> None:
    X = np.zeros((2, 1))
    with pytest.raises(DataValidationError, match="propensit"):
        evaluate_policies(X, [0, 1], [1.0, 0.0], [0.5, 0.0], {}, n_offers=2)
    with pytest.raises(DataValidationError, match="summing to 1"):
        evaluate_policies(X, [0, 1], [1.0, 0.0], [0.5, 0.5], {"bad": [[1.0, 1.0], [0.0, 1.0]]}, n_offers=2)


def _log(seed: int, n: int = 4000) -> tuple[OfferSimulator, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            np.ndarray, OfferBandit]:
    """A Thompson logging policy (20 % uniform holdout) warmed up on 300 uniform decisions, then n logged."""
    sim = OfferSimulator.planted(random_state=seed)
    rng = np.random.default_rng(1000 + seed)
    X0, e0 = sim.customers(300, rng)
    a0 = np.array([rng.choice(np.flatnonzero(row)) for row in e0])
    logging = OfferBandit(holdout=0.2, offers=tuple(range(sim.n_offers)), n_draws=100, random_state=seed)
    logging.fit(X0, a0, sim.rewards(X0, a0, rng))
    X, eligible = sim.customers(n, rng)
    decisions = logging.decide(X, eligible)
    logged = decisions.offer.astype(np.int64)
    return sim, X, eligible, logged, sim.rewards(X, logged, rng), decisions.propensity, logging


def test_ope_is_within_ten_percent_of_the_true_value_in_ninety_percent_of_seeds() -> None:
    """The evaluated policy: LinUCB fitted on the log itself (what `offers evaluate` does with a learned
    candidate), its true value exact from the planted rewards over the logged customers."""
    hits = {"ipw": 0, "snipw": 0, "dr": 0}
    seeds = range(20)
    for seed in seeds:
        sim, X, eligible, logged, reward, propensity, _ = _log(seed)
        candidate = OfferBandit(method="linucb", exploration=0.0, offers=tuple(range(sim.n_offers)))
        target = candidate.fit(X, logged, reward).policy_probabilities(X, eligible)
        true_value = sim.value(X, target)
        values = evaluate_policies(X, logged, reward, propensity, {"candidate": target}, eligible_mask=eligible,
                                   n_offers=sim.n_offers, n_bootstrap=10, random_state=seed)
        for v in values:
            if v.policy == "candidate":
                hits[v.estimator] += abs(v.value - true_value) / true_value <= 0.10
        uniform = eligible / eligible.sum(axis=1, keepdims=True)
        assert true_value > sim.value(X, uniform)  # the candidate is worth evaluating
    for estimator, n in hits.items():
        assert n >= 0.9 * len(seeds), (estimator, n)
