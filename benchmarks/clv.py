"""Benchmark: CLV model fitting and scoring, targetwise vs lifetimes and pymc-marketing (MAP).

Cases (times are the median of ``--repeat`` runs, wall clock, one process):

* ``fit BG/NBD CDNOW``: the 2,357-customer CDNOW calibration summary (weeks).
* ``fit BG/NBD 1M``: one million customers drawn from BG/NBD at the CDNOW parameters
  (first purchases spread over 12 weeks, observed to week 39, times recorded by day,
  as a transaction log records them), checking every library recovers the same parameters.
* ``score 1M``: conditional expected purchases (next 39 weeks) + P(alive) for the 1M customers.
* ``fit Pareto/NBD CDNOW``, ``fit Pareto/NBD 1M``, ``fit Gamma-Gamma CDNOW``.
* ``--covariates``: BG/NBD, Pareto/NBD and Gamma-Gamma with covariates (Fader & Hardie 2007) at
  100k and 1M customers (``--covariate-sizes``): a channel (3 levels) and a region (4 levels),
  one-hot, 12 customer groups, planted coefficients on purchase, dropout and spend; time and
  recovery (largest |estimate - truth| / SE, and the share within 2 SE); pymc-marketing's
  BetaGeoModel with covariates (MAP) side by side at the sizes in ``--peer-sizes``.

Peers run in the same process when importable (install them in a separate venv, e.g.
``/work/bench-venvs/clv``, with targetwise's ``src`` on the path); otherwise they are
reported as not installed. Usage::

    /work/bench-venvs/clv/bin/python benchmarks/clv.py [--repeat 5] [--n-customers 1000000] [--skip-slow-peers]
    /work/bench-venvs/clv/bin/python benchmarks/clv.py --covariates [--covariate-sizes 100000 1000000]
    .venv/bin/python benchmarks/clv.py            # targetwise only
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from targetwise.clv import BetaGeo, GammaGamma, ParetoNBD, simulate_beta_geo, simulate_pareto_nbd  # noqa: E402

DATASETS = Path(os.environ.get("TARGETWISE_DATASETS", ROOT.parent / "shared" / "datasets"))
BG_TRUTH = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
PNBD_TRUTH = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.669}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall seconds over ``repeat`` runs; the median process CPU seconds go to LAST_CPU."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    wall = statistics.median(times)
    LAST_CPU[0] = statistics.median(cpu)
    return wall, result


LAST_CPU = [float("nan")]


def cohort(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (273 - rng.integers(0, 84, n)) / 7  # weeks, on a daily grid


def machine() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.platform()} | {platform.processor() or platform.machine()} | cores {os.cpu_count()} | "
        f"python {platform.python_version()} | numpy {np.__version__} | commit {commit} | load(1m) {load:.1f}"
    )


def max_rel_diff(params: dict[str, float], reference: dict[str, float]) -> float:
    return max(abs(params[k] - reference[k]) / abs(reference[k]) for k in reference)


def lifetimes_peer() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes
        return lifetimes
    except Exception as exc:
        print(f"lifetimes not installed or not importable ({type(exc).__name__}: {exc})")
        return None


def pymc_peer() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pymc_marketing import clv
        return clv
    except Exception as exc:
        print(f"pymc-marketing not installed or not importable ({type(exc).__name__}: {exc})")
        return None


def pymc_map(model_cls: Any, frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, float]:
    data = pd.DataFrame(
        {
            "customer_id": np.arange(len(frame)),
            "frequency": frame["frequency"],
            "recency": frame["recency"],
            "T": frame["T"],
        }
    )
    model = model_cls(data=data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            method="map", progressbar=False
        ) if "progressbar" in model.fit.__code__.co_varnames else model.fit(method="map")
    posterior = model.idata.posterior
    return {k: float(posterior[k].values.ravel()[0]) for k in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n-customers", type=int, default=1_000_000)
    parser.add_argument("--skip-slow-peers", action="store_true", help="skip peers' 1M fits")
    parser.add_argument("--covariates", action="store_true", help="only the covariate cases")
    parser.add_argument("--covariate-sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[100_000])
    args = parser.parse_args()
    print(machine())
    if args.covariates:
        from clv_covariates import covariate_cases

        print_table(covariate_cases(args.covariate_sizes, args.peer_sizes, pymc_peer))
        return
    rows: list[tuple[str, str, float, float, str]] = []

    cdnow_path = DATASETS / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
    summary = pd.read_csv(cdnow_path).rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )
    f, r, big_t = summary["frequency"], summary["recency"], summary["T"]
    repeat_buyers = summary[summary["frequency"] > 0]
    n = args.n_customers
    sim = simulate_beta_geo(n, **BG_TRUTH, T=cohort(n, 1), time_resolution=1 / 7, random_state=2)
    sf, sr, st = (sim[c].to_numpy() for c in ("frequency", "recency", "T"))
    sim_p = simulate_pareto_nbd(n, **PNBD_TRUTH, T=cohort(n, 3), time_resolution=1 / 7, random_state=4)

    # ---- targetwise
    t, bgf = timed(lambda: BetaGeo().fit(f, r, big_t), args.repeat)
    rows.append(
        (
            "fit BG/NBD CDNOW",
            "targetwise",
            t,
            LAST_CPU[0],
            f"LL {bgf.log_likelihood_:.2f}, params {fmt(bgf.params_)}",
        )
    )
    reference_bg = bgf.params_
    t, big = timed(lambda: BetaGeo().fit(sf, sr, st), max(1, args.repeat // 2))
    rows.append(
        (
            f"fit BG/NBD {n:,}",
            "targetwise",
            t,
            LAST_CPU[0],
            f"params {fmt(big.params_)}; max rel diff to truth {max_rel_diff(big.params_, BG_TRUTH):.3f}",
        )
    )
    big_bg_params = big.params_
    t, _ = timed(lambda: (big.expected_purchases(39, sf, sr, st), big.prob_alive(sf, sr, st)), args.repeat)
    rows.append((f"score {n:,} (conditional E[X(39)] + P(alive))", "targetwise", t, LAST_CPU[0], ""))
    t, pnbd = timed(lambda: ParetoNBD().fit(f, r, big_t), args.repeat)
    rows.append(
        (
            "fit Pareto/NBD CDNOW",
            "targetwise",
            t,
            LAST_CPU[0],
            f"LL {pnbd.log_likelihood_:.2f}, params {fmt(pnbd.params_)}",
        )
    )
    t, big_p = timed(lambda: ParetoNBD().fit(sim_p["frequency"], sim_p["recency"], sim_p["T"]), 1)
    rows.append(
        (
            f"fit Pareto/NBD {n:,}",
            "targetwise",
            t,
            LAST_CPU[0],
            f"params {fmt(big_p.params_)}; max rel diff to truth {max_rel_diff(big_p.params_, PNBD_TRUTH):.3f}",
        )
    )
    t, ggf = timed(
        lambda: GammaGamma().fit(repeat_buyers["frequency"], repeat_buyers["monetary_value"]), args.repeat
    )
    rows.append(
        (
            "fit Gamma-Gamma CDNOW",
            "targetwise",
            t,
            LAST_CPU[0],
            f"LL {ggf.log_likelihood_:.2f}, params {fmt(ggf.params_)}",
        )
    )

    # ---- lifetimes
    lifetimes = lifetimes_peer()
    if lifetimes is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, lbg = timed(lambda: lifetimes.BetaGeoFitter().fit(f, r, big_t), args.repeat)
            rows.append(
                (
                    "fit BG/NBD CDNOW",
                    "lifetimes",
                    t,
                    LAST_CPU[0],
                    f"max rel diff to targetwise {max_rel_diff(dict(lbg.params_), reference_bg):.1e}",
                )
            )
            if not args.skip_slow_peers:
                t, lbig = timed(lambda: lifetimes.BetaGeoFitter().fit(sf, sr, st), 1)
                rows.append(
                    (
                        f"fit BG/NBD {n:,}",
                        "lifetimes",
                        t,
                        LAST_CPU[0],
                        f"max rel diff to targetwise {max_rel_diff(dict(lbig.params_), big_bg_params):.1e}",
                    )
                )
            scorer = lifetimes.BetaGeoFitter()
            scorer.params_ = pd.Series(big_bg_params)
            t, _ = timed(
                lambda: (
                    scorer.conditional_expected_number_of_purchases_up_to_time(39, sf, sr, st),
                    scorer.conditional_probability_alive(sf, sr, st),
                ),
                args.repeat,
            )
            rows.append((f"score {n:,} (conditional E[X(39)] + P(alive))", "lifetimes", t, LAST_CPU[0], ""))
            t, lp = timed(lambda: lifetimes.ParetoNBDFitter().fit(f, r, big_t), max(1, args.repeat // 2))
            rows.append(
                (
                    "fit Pareto/NBD CDNOW",
                    "lifetimes",
                    t,
                    LAST_CPU[0],
                    f"max rel diff to targetwise {max_rel_diff(dict(lp.params_), pnbd.params_):.1e}",
                )
            )
            t, lg = timed(
                lambda: lifetimes.GammaGammaFitter().fit(
                    repeat_buyers["frequency"], repeat_buyers["monetary_value"]
                ),
                args.repeat,
            )
            rows.append(
                (
                    "fit Gamma-Gamma CDNOW",
                    "lifetimes",
                    t,
                    LAST_CPU[0],
                    f"max rel diff to targetwise {max_rel_diff(dict(lg.params_), ggf.params_):.1e}",
                )
            )

    # ---- pymc-marketing (MAP, default priors; includes graph compilation as a user sees it)
    clv = pymc_peer()
    if clv is not None:
        t, params = timed(lambda: pymc_map(clv.BetaGeoModel, summary, ("r", "alpha", "a", "b")), 1)
        rows.append(
            (
                "fit BG/NBD CDNOW",
                "pymc-marketing MAP",
                t,
                LAST_CPU[0],
                f"max rel diff to targetwise {max_rel_diff(params, reference_bg):.1e}",
            )
        )
        if not args.skip_slow_peers:
            t, params = timed(lambda: pymc_map(clv.BetaGeoModel, sim, ("r", "alpha", "a", "b")), 1)
            rows.append(
                (
                    f"fit BG/NBD {n:,}",
                    "pymc-marketing MAP",
                    t,
                    LAST_CPU[0],
                    f"max rel diff to targetwise {max_rel_diff(params, big_bg_params):.1e}",
                )
            )

    print_table(rows)


def fmt(params: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in params.items())


def print_table(rows: list[tuple[str, str, float, float, str]]) -> None:
    ours = {case: (t, c) for case, lib, t, c, _ in rows if lib == "targetwise"}
    print("| case | library | wall s | CPU s | peer / targetwise (wall, CPU) | notes |")
    print("|---|---|---:|---:|---:|---|")
    for case, lib, t, c, note in rows:
        ratio = ""
        if lib != "targetwise" and case in ours:
            ratio = f"{t / ours[case][0]:.1f}x, {c / ours[case][1]:.1f}x"
        print(f"| {case} | {lib} | {t:.4f} | {c:.4f} | {ratio} | {note} |")


if __name__ == "__main__":
    main()
