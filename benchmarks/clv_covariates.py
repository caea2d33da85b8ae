"""Covariate cases of ``benchmarks/clv.py --covariates`` (kept apart to keep that script short).

Data: ``n`` customers, a channel (web 40 % / app 30 % / store 30 %) and a region (4 levels,
40/30/20/10 %), one-hot against web and the first region: 5 columns, 12 customer groups.
First purchases over 12 weeks, observed to week 39, times on a daily grid (as ``clv.py``).
Planted (Fader & Hardie 2007): ``alpha_i = 4.4 exp(-g1'x)``, ``a_i = 0.8 exp(g2'x)``,
``b_i = 2.4 exp(g3'x)`` with r = 0.25 (BG/NBD); ``alpha_i = 10 exp(-g1'x)``,
``beta_i = 11 exp(-g4'x)``, r = 0.55, s = 0.6 (Pareto/NBD); Gamma-Gamma spend
``v_i = 15 exp(g5'x)``, p = 6.2, q = 3.7 on the BG/NBD sample's repeat buyers.
Recovery: the largest ``abs(estimate - truth) / SE`` over the coefficients and the share within 2 SE.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from targetwise.clv import (
    CovariateBetaGeo,
    CovariateGammaGamma,
    CovariateParetoNBD,
    simulate_beta_geo,
    simulate_pareto_nbd,
)

COLUMNS = ["channel=app", "channel=store", "region=R2", "region=R3", "region=R4"]
G_PURCHASE = np.array([0.5, -0.4, 0.1, -0.2, 0.3])
G_A = np.array([0.6, 0.0, -0.3, 0.2, 0.0])
G_B = np.array([-0.3, 0.4, 0.0, 0.3, -0.2])
G_DEATH = np.array([0.5, -0.5, 0.2, 0.0, -0.3])
G_SPEND = np.array([0.4, -0.3, 0.0, 0.2, 0.1])


def timed_once(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, result


def covariates(n: int, rng: np.random.Generator) -> pd.DataFrame:
    channel = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])
    region = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(
        np.column_stack([channel == 1, channel == 2, region == 1, region == 2, region == 3]).astype(float),
        columns=COLUMNS,
    )


def recovery(model: Any, truth: dict[str, np.ndarray]) -> str:
    summary = model.summary()
    z = []
    for block, gamma in truth.items():
        for name, value in zip(COLUMNS, gamma, strict=True):
            row = summary.loc[f"{block}:{name}"]
            z.append(abs(row["coef"] - value) / row["se(coef)"])
    z_arr = np.array(z)
    return f"max abs(est - truth)/SE {z_arr.max():.2f}; within 2 SE {np.mean(z_arr <= 2):.0%} of {len(z)}"


def pymc_covariate_map(clv: Any, sim: pd.DataFrame, cov: pd.DataFrame) -> dict[str, np.ndarray]:
    data = pd.concat([sim.reset_index(drop=True), cov], axis=1).assign(customer_id=np.arange(len(sim)))
    safe = {c: c.replace("=", "_") for c in COLUMNS}
    data = data.rename(columns=safe)
    model = clv.BetaGeoModel(
        data=data,
        model_config={"purchase_covariate_cols": list(safe.values()), "dropout_covariate_cols": list(safe.values())},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(method="map")
    post = model.idata.posterior
    return {
        "purchase": post["purchase_coefficient_alpha"].values.reshape(-1),
        "dropout_a": post["dropout_coefficient_a"].values.reshape(-1),
        "dropout_b": post["dropout_coefficient_b"].values.reshape(-1),
    }


def covariate_cases(
    sizes: list[int], peer_sizes: list[int], pymc_peer: Callable[[], Any]
) -> list[tuple[str, str, float, float, str]]:
    """Rows for ``print_table``: each size's fits and scoring, the peer at ``peer_sizes``."""
    clv = pymc_peer() if peer_sizes else None
    rows: list[tuple[str, str, float, float, str]] = []
    for n in sizes:
        rows += _cases_at(n, clv if n in peer_sizes else None)
    return rows


def _cases_at(n: int, clv: Any) -> list[tuple[str, str, float, float, str]]:
    rows: list[tuple[str, str, float, float, str]] = []
    rng = np.random.default_rng(n)
    cov = covariates(n, rng)
    x = cov.to_numpy()
    T = (273 - rng.integers(0, 84, n)) / 7
    sim = simulate_beta_geo(
        n, r=0.25, alpha=4.4 * np.exp(-x @ G_PURCHASE), a=0.8 * np.exp(x @ G_A), b=2.4 * np.exp(x @ G_B),
        T=T, time_resolution=1 / 7, random_state=rng,
    )
    f, r, t = (sim[c].to_numpy() for c in ("frequency", "recency", "T"))
    wall, cpu, bg = timed_once(lambda: CovariateBetaGeo().fit(f, r, t, cov))
    truth_bg = {"purchase": G_PURCHASE, "dropout_a": G_A, "dropout_b": G_B}
    rows.append((f"fit BG/NBD + 5 covariates {n:,}", "targetwise", wall, cpu,
                 f"{bg.n_groups_} groups, {bg.n_iter_} iterations; {recovery(bg, truth_bg)}"))
    wall, cpu, _ = timed_once(lambda: (bg.expected_purchases(39, f, r, t, cov), bg.prob_alive(f, r, t, cov)))
    rows.append((f"score BG/NBD + covariates {n:,} (E[X(39)] + P(alive))", "targetwise", wall, cpu, ""))

    repeat = f > 0
    nu = rng.gamma(3.7, 1.0 / (15.0 * np.exp(x[repeat] @ G_SPEND)))
    spend = rng.gamma(6.2 * f[repeat], 1.0 / (f[repeat] * nu))
    wall, cpu, gg = timed_once(lambda: CovariateGammaGamma().fit(f[repeat], spend, cov[repeat]))
    rows.append((f"fit Gamma-Gamma + 5 covariates {n:,} ({int(repeat.sum()):,} repeat buyers)", "targetwise",
                 wall, cpu, recovery(gg, {"spend": G_SPEND})))

    sim_p = simulate_pareto_nbd(
        n, r=0.55, alpha=10.0 * np.exp(-x @ G_PURCHASE), s=0.6, beta=11.0 * np.exp(-x @ G_DEATH), T=T,
        time_resolution=1 / 7, random_state=rng,
    )
    wall, cpu, pn = timed_once(
        lambda: CovariateParetoNBD().fit(sim_p["frequency"], sim_p["recency"], sim_p["T"], cov)
    )
    rows.append((f"fit Pareto/NBD + 5 covariates {n:,}", "targetwise", wall, cpu,
                 f"{pn.n_iter_} iterations; {recovery(pn, {'purchase': G_PURCHASE, 'dropout': G_DEATH})}"))

    if clv is not None:
        try:
            wall, cpu, peer = timed_once(lambda: pymc_covariate_map(clv, sim, cov))
        except Exception as exc:  # the peer's failure is a result to report, not a crash
            rows.append((f"fit BG/NBD + 5 covariates {n:,}", "pymc-marketing MAP", float("nan"), float("nan"),
                         f"failed: {type(exc).__name__}: {str(exc)[:120]}"))
        else:
            ours = np.concatenate([list(bg.coefficients_[k].values()) for k in truth_bg])
            theirs = np.concatenate([peer[k] for k in truth_bg])
            truth = np.concatenate(list(truth_bg.values()))
            rows.append((f"fit BG/NBD + 5 covariates {n:,}", "pymc-marketing MAP", wall, cpu,
                         f"max abs(coef - targetwise) {np.max(np.abs(theirs - ours)):.3f}; max abs(coef - truth) "
                         f"{np.max(np.abs(theirs - truth)):.3f} (ours {np.max(np.abs(ours - truth)):.3f})"))
    return rows
