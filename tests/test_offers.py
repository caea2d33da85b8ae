"""Next-best offer bandit (issue 22): the ridge statistics by hand, propensities that are probabilities over
the eligible offers only, seeded decisions, learning from new rewards, and in a simulator with planted
rewards the learned policy reaching >= 90 % of the oracle's gain over uniform random."""

from __future__ import annotations

import numpy as np
import pytest

from targetwise.engage import OfferBandit, OfferSimulator, simulate_rounds
from targetwise.errors import DataValidationError, NotFittedError


def _uniform_log(sim: OfferSimulator, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    X, eligible = sim.customers(n, rng)
    offer = np.array([rng.choice(np.flatnonzero(row)) for row in eligible])
    return X, offer, sim.rewards(X, offer, rng), 1.0 / eligible.sum(axis=1)


def test_the_ridge_statistics_equal_the_hand_computed_ones() -> None:
    X = np.array([[1.0], [3.0], [5.0], [7.0]])  # mean 4, sd sqrt(5)
    offer = np.array(["a", "b", "a", "b"])
    reward = np.array([1.0, 0.0, 0.5, 1.0])
    policy = OfferBandit(ridge=2.0).fit(X, offer, reward)
    z = (X[:, 0] - 4.0) / np.sqrt(5.0)
    design = np.column_stack([np.ones(4), z])
    for k, label in enumerate(("a", "b")):
        rows = offer == label
        A = 2.0 * np.eye(2) + design[rows].T @ design[rows]
        assert policy.coef_[k] == pytest.approx(np.linalg.solve(A, design[rows].T @ reward[rows]))
    assert policy.offers_ == ("a", "b") and policy.n_decisions_.tolist() == [2, 2]


def test_partial_fit_adds_up_to_one_fit_of_the_same_rows() -> None:
    rng = np.random.default_rng(0)
    sim = OfferSimulator.planted(random_state=0)
    first, second, third = (_uniform_log(sim, 200, rng) for _ in range(3))
    stepwise = OfferBandit(offers=tuple(range(4))).fit(*first).partial_fit(*second).partial_fit(*third)
    joined = tuple(np.concatenate([b, c]) for b, c in zip(second, third, strict=True))
    at_once = OfferBandit(offers=tuple(range(4))).fit(*first).partial_fit(*joined)
    assert stepwise.coef_ == pytest.approx(at_once.coef_)
    assert stepwise.n_decisions_.tolist() == at_once.n_decisions_.tolist() == [
        int((np.concatenate([first[1], second[1], third[1]]) == k).sum()) for k in range(4)
    ]


@pytest.mark.parametrize("method", ["thompson", "linucb"])
def test_propensities_are_probabilities_over_the_eligible_offers(method: str) -> None:
    rng = np.random.default_rng(1)
    sim = OfferSimulator.planted(random_state=1, eligible_share=0.5)
    policy = OfferBandit(method=method, holdout=0.2, offers=tuple(range(4)), random_state=4)
    policy.fit(*_uniform_log(sim, 500, rng))
    X, eligible = sim.customers(3000, rng)
    decisions = policy.decide(X, eligible)
    chosen = decisions.offer.astype(int)
    assert decisions.probabilities.sum(axis=1) == pytest.approx(np.ones(3000))
    assert (decisions.probabilities[~eligible] == 0).all()
    assert eligible[np.arange(3000), chosen].all()  # an ineligible offer is never picked
    assert decisions.propensity == pytest.approx(decisions.probabilities[np.arange(3000), chosen])
    # every eligible offer keeps at least the holdout's share: 0.2 / n_eligible
    floor = 0.2 / eligible.sum(axis=1)
    assert (decisions.probabilities[eligible] >= np.repeat(floor, eligible.sum(axis=1)) - 1e-12).all()
    assert abs(decisions.holdout.mean() - 0.2) < 0.03
    if method == "linucb":  # deterministic choice outside the holdout: it has the propensity 0.8 + 0.2 / n
        rows = ~decisions.holdout
        best = decisions.probabilities[rows].argmax(axis=1)
        assert (chosen[rows] == best).all()
        assert decisions.propensity[rows] == pytest.approx(0.8 + floor[rows])


def test_thompson_propensities_match_the_choice_frequencies() -> None:
    """The decision is drawn from the logged probabilities: repeated over one customer, the offers come up
    as often as their propensity says."""
    rng = np.random.default_rng(2)
    sim = OfferSimulator.planted(random_state=2)
    policy = OfferBandit(holdout=0.0, exploration=2.0, offers=tuple(range(4)), n_draws=400, random_state=0)
    policy.fit(*_uniform_log(sim, 200, rng))
    X = np.repeat(sim.customers(1, rng)[0], 4000, axis=0)
    decisions = policy.decide(X)  # one set of draws per call: every row has the same probabilities
    assert decisions.probabilities == pytest.approx(np.tile(decisions.probabilities[0], (4000, 1)))
    assert decisions.probabilities[0].max() < 0.9  # the test means something: the choice is random
    share = np.bincount(decisions.offer.astype(int), minlength=4) / 4000
    assert share == pytest.approx(decisions.probabilities[0], abs=0.03)


def test_same_random_state_gives_the_same_decisions() -> None:
    rng = np.random.default_rng(3)
    sim = OfferSimulator.planted(random_state=3)
    log = _uniform_log(sim, 300, rng)
    X, eligible = sim.customers(500, rng)
    runs = [OfferBandit(random_state=11).fit(*log).decide(X, eligible) for _ in range(2)]
    other = OfferBandit(random_state=12).fit(*log).decide(X, eligible)
    assert runs[0].offer.tolist() == runs[1].offer.tolist()
    assert runs[0].propensity.tolist() == runs[1].propensity.tolist()
    assert runs[0].offer.tolist() != other.offer.tolist()


def _learn_in_rounds(policy: OfferBandit, sim: OfferSimulator, seed: int) -> list:
    def decide(X: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        decisions = policy.decide(X, eligible)
        return decisions.offer.astype(int), decisions.propensity

    def learn(X: np.ndarray, offer: np.ndarray, reward: np.ndarray, propensity: np.ndarray) -> None:
        policy.partial_fit(X, offer, reward, propensity)

    return simulate_rounds(sim, decide, learn, n_rounds=10, batch=1000, random_state=seed)


@pytest.mark.parametrize("method", ["thompson", "linucb"])
def test_the_learned_policy_reaches_ninety_percent_of_the_oracle_gain(method: str) -> None:
    """10 rounds of 1,000 customers after 500 uniform decisions, learning from each round's rewards; the
    policy's true value (planted rewards, no holdout) over 20,000 fresh customers."""
    for seed in range(3):
        sim = OfferSimulator.planted(random_state=seed)
        policy = OfferBandit(method=method, holdout=0.1, offers=tuple(range(4)), random_state=seed)
        policy.fit(*_uniform_log(sim, 500, np.random.default_rng(100 + seed)))
        rounds = _learn_in_rounds(policy, sim, seed)
        assert rounds[-1].regret < rounds[0].regret  # it learned
        X, eligible = sim.customers(20_000, np.random.default_rng(999))
        uniform = sim.value(X, eligible / eligible.sum(axis=1, keepdims=True))
        oracle = sim.value(X, sim.oracle(X, eligible))
        learned = sim.value(X, policy.policy_probabilities(X, eligible))
        assert (learned - uniform) / (oracle - uniform) >= 0.9, (seed, learned, uniform, oracle)


def test_bad_input_is_refused() -> None:
    X = np.zeros((3, 2))
    with pytest.raises(NotFittedError, match="not fitted"):
        OfferBandit().decide(X)
    policy = OfferBandit(offers=("a", "b")).fit(X, ["a", "b", "a"], [1.0, 0.0, 1.0])
    with pytest.raises(DataValidationError, match="no eligible offer"):
        policy.decide(X, [[True, False], [False, False], [True, True]])
    with pytest.raises(DataValidationError, match="unknown offer"):
        policy.partial_fit(X, ["a", "c", "a"], [1.0, 0.0, 1.0])
    with pytest.raises(DataValidationError, match="holdout must be a share"):
        OfferBandit(holdout=1.5).fit(X, ["a", "b", "a"], [1.0, 0.0, 1.0])
    with pytest.raises(DataValidationError, match="missing or infinite"):
        policy.decide(np.array([[0.0, np.nan]]))
