"""Next-best offer benchmark (issue 22): OPE accuracy over seeds and the learned policy's share of the
oracle's gain over uniform random, ours next to mabwiser (LinTS, LinUCB) where it is installed.

In the planted simulator (targetwise.engage.OfferSimulator: 5 features, 4 offers, ~80 % eligible):

* OPE: a logging policy (Thompson, 10 % holdout, warmed on 500 uniform decisions) logs ``--log`` decisions;
  the candidate is a greedy LinUCB fitted on an independent log. IPW, SNIPW and DR of the candidate and
  of uniform are compared with their exact values; the table gives the median relative error and the
  share of seeds within 10 %.
* Learning: 500 uniform decisions, then ``--rounds`` rounds of ``--batch`` customers, learning from each
  round's rewards; the final greedy policy's exact value on 20,000 fresh customers as a share of the
  oracle's gain over uniform: ``(learned - uniform) / (oracle - uniform)``.
* Regret curves: regret per decision round by round (the oracle's expected reward minus the policy's) of
  Thompson, LinUCB and uniform, mean over the seeds, from ``usecases.offers.offer_regret_curves`` (the curve
  the report's next-best offers section draws); the plot is written to ``--regret-png``.

    .venv/bin/python benchmarks/offers.py --seeds 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

from targetwise.engage import OfferBandit, OfferSimulator, evaluate_policies, simulate_rounds


def _uniform_log(sim: OfferSimulator, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    X, eligible = sim.customers(n, rng)
    p = eligible / eligible.sum(axis=1, keepdims=True)
    offer = np.array([rng.choice(sim.n_offers, p=row) for row in p])
    return X, offer, sim.rewards(X, offer, rng)


def ope_accuracy(seed: int, n_log: int) -> dict[str, float]:
    sim = OfferSimulator.planted(random_state=seed)
    rng = np.random.default_rng(1000 + seed)
    offers = tuple(range(sim.n_offers))
    logger = OfferBandit(holdout=0.1, offers=offers, random_state=seed).fit(*_uniform_log(sim, 500, rng))
    candidate = OfferBandit(method="linucb", holdout=0.0, exploration=0.0, offers=offers).fit(
        *_uniform_log(sim, 2000, rng))
    X, eligible = sim.customers(n_log, rng)
    decisions = logger.decide(X, eligible)
    logged = decisions.offer.astype(int)
    reward = sim.rewards(X, logged, rng)
    target = candidate.policy_probabilities(X, eligible)
    values = evaluate_policies(X, logged, reward, decisions.propensity, {"candidate": target},
                               eligible_mask=eligible, n_offers=sim.n_offers, n_bootstrap=50, random_state=seed)
    truth = {"candidate": sim.value(X, target), "uniform": sim.value(X, eligible / eligible.sum(1, keepdims=True))}
    return {f"{v.policy}/{v.estimator}": abs(v.value - truth[v.policy]) / truth[v.policy]
            for v in values if v.policy in truth}


def _ours(method: str, seed: int, sim: OfferSimulator, warm: tuple[np.ndarray, ...], rounds: int, batch: int):
    policy = OfferBandit(method=method, holdout=0.1, offers=tuple(range(sim.n_offers)), random_state=seed).fit(*warm)

    def decide(X, eligible):
        d = policy.decide(X, eligible)
        return d.offer.astype(int), d.propensity

    def learn(X, offer, reward, propensity):
        policy.partial_fit(X, offer, reward, propensity)

    simulate_rounds(sim, decide, learn, n_rounds=rounds, batch=batch, random_state=seed)
    return lambda X, eligible: policy.policy_probabilities(X, eligible)


def _with_intercept(X: np.ndarray) -> np.ndarray:
    """mabwiser's linear policies fit no intercept: a constant column gives them the offers' base rates."""
    return np.column_stack([np.ones(X.shape[0]), X])


def _mabwiser(kind: str, seed: int, sim: OfferSimulator, warm: tuple[np.ndarray, ...], rounds: int, batch: int):
    from mabwiser.mab import MAB, LearningPolicy

    learning = LearningPolicy.LinTS(alpha=0.5) if kind == "LinTS" else LearningPolicy.LinUCB(alpha=0.5)
    arms = list(range(sim.n_offers))
    mab = MAB(arms=arms, learning_policy=learning, seed=seed)
    mab.fit(decisions=warm[1].tolist(), rewards=warm[2], contexts=_with_intercept(warm[0]))
    rng = np.random.default_rng(seed)

    def greedy(X, eligible):
        expect = mab.predict_expectations(_with_intercept(X))
        expect = [expect] if isinstance(expect, dict) else expect
        score = np.array([[e[a] for a in arms] for e in expect])
        best = np.where(eligible, score, -np.inf).argmax(axis=1)
        out = np.zeros(eligible.shape)
        out[np.arange(best.size), best] = 1.0
        return out

    for _ in range(rounds):  # mabwiser has no eligibility: its best eligible expectation (10 % uniform)
        X, eligible = sim.customers(batch, rng)
        chosen = greedy(X, eligible).argmax(axis=1)
        explore = rng.random(batch) < 0.1
        uniform = np.array([rng.choice(np.flatnonzero(row)) for row in eligible])
        offer = np.where(explore, uniform, chosen)
        mab.partial_fit(decisions=offer.tolist(), rewards=sim.rewards(X, offer, rng), contexts=_with_intercept(X))
    return greedy


def oracle_share(seed: int, rounds: int, batch: int, peers: list[str]) -> dict[str, tuple[float, float]]:
    sim = OfferSimulator.planted(random_state=seed)
    warm = _uniform_log(sim, 500, np.random.default_rng(100 + seed))
    X, eligible = sim.customers(20_000, np.random.default_rng(999))
    uniform = sim.value(X, eligible / eligible.sum(axis=1, keepdims=True))
    oracle = sim.value(X, sim.oracle(X, eligible))
    out = {}
    makers = {"ours thompson": lambda: _ours("thompson", seed, sim, warm, rounds, batch),
              "ours linucb": lambda: _ours("linucb", seed, sim, warm, rounds, batch)}
    for peer in peers:
        makers[f"mabwiser {peer}"] = lambda peer=peer: _mabwiser(peer, seed, sim, warm, rounds, batch)
    for name, make in makers.items():
        started = time.perf_counter()
        policy = make()
        out[name] = ((sim.value(X, policy(X, eligible)) - uniform) / (oracle - uniform), time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--log", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--regret-only", action="store_true", help="only the regret curves")
    parser.add_argument("--regret-png", default=str(Path(__file__).resolve().parent / "results" / "offers_regret.png"))
    args = parser.parse_args()
    try:
        import mabwiser  # noqa: F401

        peers = ["LinTS", "LinUCB"]
    except ImportError:
        peers = []
    print(f"Machine: {describe()}\n")
    if args.regret_only:
        regret_table(args.seeds, Path(args.regret_png))
        return 0
    errors = [ope_accuracy(seed, args.log) for seed in range(args.seeds)]
    print(f"OPE accuracy over {args.seeds} seeds, {args.log:,} logged decisions each (relative error vs exact value)\n")
    print("| policy / estimator | median relative error | share of seeds within 10% |")
    print("|---|---|---|")
    for key in errors[0]:
        values = np.array([e[key] for e in errors])
        print(f"| {key} | {np.median(values):.1%} | {(values <= 0.1).mean():.0%} |")
    shares = [oracle_share(seed, args.rounds, args.batch, peers) for seed in range(args.seeds)]
    print(f"\nLearned policy's share of the oracle's gain over uniform, {args.rounds} rounds of {args.batch:,} "
          f"after 500 uniform decisions ({args.seeds} seeds)\n")
    print("| policy | median share | min share | seeds >= 90% | seconds per seed |")
    print("|---|---|---|---|---|")
    for name in shares[0]:
        share = np.array([s[name][0] for s in shares])
        secs = np.mean([s[name][1] for s in shares])
        print(f"| {name} | {np.median(share):.1%} | {share.min():.1%} | {(share >= 0.9).mean():.0%} | {secs:.2f} |")
    regret_table(args.seeds, Path(args.regret_png))
    return 0


def regret_table(seeds: int, png: Path) -> None:
    from targetwise.reports.figures import save_png
    from targetwise.reports.offers import plot_regret
    from targetwise.usecases.offers import offer_regret_curves

    runs = [offer_regret_curves(4, random_state=seed) for seed in range(seeds)]
    mean = {name: np.mean([r[name] for r in runs], axis=0) for name in runs[0]}
    rounds = len(mean["uniform"])
    print(f"\nRegret per decision by round (oracle minus policy, expected reward), mean over {seeds} seeds; "
          "500 uniform decisions, then rounds of 1,000, 10 % holdout\n")
    print("| policy | " + " | ".join(str(r + 1) for r in range(rounds)) + " |")
    print("|---|" + "---|" * rounds)
    for name, values in mean.items():
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    ax = plot_regret({name: list(values) for name, values in mean.items()})
    save_png(ax.figure, png)
    print(f"\nplot: {png}")


if __name__ == "__main__":
    raise SystemExit(main())
