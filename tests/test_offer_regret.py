"""Regret curves of the offer bandit on the planted simulator (issue 22: "report regret curves"), the figure the
report's next-best offers section shows.

Known answers: uniform random's expected regret per decision is the oracle's value minus uniform's over the
simulated customers (exact from the planted reward); a learning bandit's regret falls and ends near the cost of
its 10 % uniform holdout (0.1 x uniform's regret) plus what it has not learned yet.
"""

from __future__ import annotations

import numpy as np

from targetwise.engage import OfferSimulator, regret_curves
from targetwise.usecases.offers import offer_regret_curves


def test_uniform_regret_is_the_exact_gap_and_the_bandits_learn() -> None:
    sim = OfferSimulator.planted(n_offers=4, random_state=3)
    curves = regret_curves(sim, random_state=3)
    assert set(curves) == {"thompson", "linucb", "uniform"} and all(len(v) == 10 for v in curves.values())
    X, eligible = sim.customers(200_000, np.random.default_rng(0))
    gap = sim.value(X, sim.oracle(X, eligible)) - sim.value(X, eligible / eligible.sum(axis=1, keepdims=True))
    # 10 rounds x 1,000 customers: the sampling error of the mean regret is well under 0.005
    assert abs(np.mean(curves["uniform"]) - gap) < 0.005
    for method in ("thompson", "linucb"):
        regret = np.asarray(curves[method])
        assert regret[-3:].mean() < regret[:2].mean()  # it learns
        assert (regret < np.asarray(curves["uniform"])).all()  # better than uniform in every round
        assert regret[-3:].mean() < 0.1 * gap + 0.02  # near the holdout's cost at the end


def test_the_curves_are_seeded() -> None:
    assert offer_regret_curves(4, random_state=1) == offer_regret_curves(4, random_state=1)
    assert offer_regret_curves(4, random_state=1) != offer_regret_curves(4, random_state=2)
    assert len(offer_regret_curves(1)["uniform"]) == 10  # a one-offer catalogue is simulated with two
