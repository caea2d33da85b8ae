"""Benchmark: CUPED in campaign readouts (issue 24): interval width with and without, coverage over seeds.

1. Simulation, 200 seeds per setting: 2 x 1,000 customers, pre-period spend ``x ~ Gamma(2, 25)``,
   revenue ``y = 20 + b x + 3 [treated] + N(0, 20^2)``, the slope ``b`` set so that corr(x, y) is
   0, 0.3, 0.5, 0.7 and 0.9; a binary outcome too (conversion with a logistic link on x). Reported:
   coverage of the true effect by the 95 % interval (unadjusted Welch and CUPED), mean width of each,
   their ratio and the mean variance reduction; the theory says the ratio is sqrt(1 - corr^2).
2. Hillstrom (``../shared/datasets/hillstrom``): each e-mail arm vs no e-mail, outcome ``spend`` (and
   ``conversion``), covariate ``history`` (the customer's spend in the year before): the effect and
   interval without and with CUPED, and the variance reduction.

Usage::

    .venv/bin/python benchmarks/cuped.py [--seeds 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import datasets_dir, describe  # noqa: E402

from targetwise.campaigns.cuped import cuped_difference  # noqa: E402

EFFECT, N_PER_ARM, NOISE_SD = 3.0, 1000, 20.0
VAR_X = 2 * 25.0**2  # Gamma(2, 25)


def slope_for(correlation: float) -> float:
    """b with corr(x, b x + noise) = correlation: b^2 var_x / (b^2 var_x + noise^2) = correlation^2."""
    if correlation == 0:
        return 0.0
    return float(np.sqrt(correlation**2 * NOISE_SD**2 / ((1 - correlation**2) * VAR_X)))


def simulate(correlation: float, seeds: int, *, binary: bool = False) -> dict[str, float]:
    covered = covered_raw = 0
    widths, raw_widths, reductions = [], [], []
    truth = EFFECT
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = rng.gamma(2.0, 25.0, 2 * N_PER_ARM)
        treated = rng.permutation(np.r_[np.ones(N_PER_ARM, dtype=bool), np.zeros(N_PER_ARM, dtype=bool)])
        if binary:
            # conversion: logit = -2 + k (x - 50) / 50 + 0.3 treated; the truth is the mean difference in p
            k = 4 * correlation
            base = 1 / (1 + np.exp(-(-2 + k * (x - 50) / 50)))
            lifted = 1 / (1 + np.exp(-(-2 + k * (x - 50) / 50 + 0.3)))
            truth = float(np.mean(lifted - base))  # the sample's average effect
            y = (rng.random(2 * N_PER_ARM) < np.where(treated, lifted, base)).astype(float)
        else:
            y = 20 + slope_for(correlation) * x + EFFECT * treated + rng.normal(0, NOISE_SD, 2 * N_PER_ARM)
        d = cuped_difference(y, x, treated)
        covered += d.ci_low <= truth <= d.ci_high
        covered_raw += d.unadjusted_low <= truth <= d.unadjusted_high
        widths.append(d.ci_high - d.ci_low)
        raw_widths.append(d.unadjusted_high - d.unadjusted_low)
        reductions.append(d.variance_reduction)
    return {
        "coverage unadjusted": covered_raw / seeds, "coverage CUPED": covered / seeds,
        "width unadjusted": float(np.mean(raw_widths)), "width CUPED": float(np.mean(widths)),
        "width ratio": float(np.mean(widths) / np.mean(raw_widths)),
        "sqrt(1 - corr^2)": float(np.sqrt(1 - correlation**2)) if not binary else float("nan"),
        "variance reduction": float(np.mean(reductions)),
    }  # fmt: skip


def hillstrom(path: Path) -> pd.DataFrame:
    data = pd.read_csv(path / "hillstrom" / "hillstrom.csv.gz")
    rows = []
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        part = data[data["segment"].isin([arm, "No E-Mail"])]
        treated = (part["segment"] == arm).to_numpy()
        for outcome in ("spend", "conversion"):
            d = cuped_difference(part[outcome].to_numpy(dtype=float), part["history"].to_numpy(), treated)
            rows.append({
                "arm": arm, "outcome": outcome, "customers": len(part),
                "unadjusted": f"{d.unadjusted_effect:.4f} ({d.unadjusted_low:.4f} to {d.unadjusted_high:.4f})",
                "CUPED on history": f"{d.effect:.4f} ({d.ci_low:.4f} to {d.ci_high:.4f})",
                "width ratio": (d.ci_high - d.ci_low) / (d.unadjusted_high - d.unadjusted_low),
                "variance reduction": d.variance_reduction,
            })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    print(describe())
    started = time.perf_counter()
    pd.set_option("display.width", 200)
    table = pd.DataFrame({f"revenue, corr {c}": simulate(c, args.seeds) for c in (0.0, 0.3, 0.5, 0.7, 0.9)}).T
    print(f"\nSimulation: 2 x {N_PER_ARM:,} customers, true effect {EFFECT}, 95 % intervals, {args.seeds} seeds")
    print(table.round(4).to_string())
    binary = pd.DataFrame({f"conversion, k {4 * c:.1f}": simulate(c, args.seeds, binary=True) for c in (0.0, 0.5, 0.9)}).T
    print(binary.drop(columns="sqrt(1 - corr^2)").round(4).to_string())
    print("\nHillstrom, each arm vs no e-mail, covariate history (spend in the year before), 95 % intervals")
    print(hillstrom(datasets_dir()).round(4).to_string(index=False))
    print(f"\nTotal wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
