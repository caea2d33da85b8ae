"""Days to next order against the synthetic retailer's planted truth (validation and time).

    .venv/bin/python benchmarks/next_order.py [--customers 2000] [--horizon-days 90]

Builds (once, under ``.bench/next_order/``) the synthetic demo workspace of ``--customers`` customers, runs
``predict_task(task="next_order")`` at the data's end and compares its ``expected_days_to_next_order`` with the
truth the generator planted: while alive a customer buys as a Poisson process with rate ``lambda``, so
``E[min(T, H)] = (1 - exp(-lambda H)) / lambda``; a customer who has dropped out waits the whole horizon ``H``.
Prints the mean prediction vs the mean truth, their Spearman correlation, the out-of-time metrics with the
constant baseline, and the task's wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REPO, describe

BENCH_DIR = REPO / ".bench" / "next_order"


def main() -> None:
    from targetwise.config import get_settings
    from targetwise.features._inputs import data_range, resolve_inputs
    from targetwise.io.engines import open_duckdb
    from targetwise.io.workspace import Workspace
    from targetwise.pipeline.demo import run_demo
    from targetwise.synthetic import generate_retailer
    from targetwise.usecases.propensity import predict_task

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--horizon-days", type=int, default=90)
    args = parser.parse_args()
    horizon = args.horizon_days
    print(f"machine: {describe()}")
    path = BENCH_DIR / f"synthetic_{args.customers}"
    settings = get_settings(workspace=path, duckdb_threads=2)
    if not (path / "targetwise.duckdb").exists():
        run_demo(path, settings, data="synthetic", n_customers=args.customers)
    workspace = Workspace.open(path, settings)
    backend = open_duckdb(workspace.db_path, read_only=True)
    as_of = data_range(resolve_inputs(backend).transactions).covered_until.date()
    started = time.perf_counter()
    result = predict_task(backend, "next_order", as_of=as_of, horizon_days=horizon)
    seconds = time.perf_counter() - started
    predicted = result.scores.set_index("customer_id")["expected_days_to_next_order"]
    truth = generate_retailer(args.customers, random_state=0).truth.set_index("customer_id").reindex(predicted.index)
    alive = truth["dropout_at"].isna() | (truth["dropout_at"] > pd.Timestamp(as_of))
    lam = truth["lambda"].to_numpy()
    rmst = np.where(alive, (1 - np.exp(-lam * horizon)) / lam, horizon)
    print(
        f"{args.customers:,} customers, as of {as_of}, H = {horizon} days: {len(predicted):,} scored, "
        f"{result.model_card['training_rows']:,} training rows, task {seconds:.1f} s"
    )
    print(
        f"mean predicted E[min(T, H)] {predicted.mean():.2f} days vs planted {rmst.mean():.2f} "
        f"({predicted.mean() / rmst.mean() - 1:+.1%}); Spearman {spearmanr(predicted, rmst).statistic:.3f}"
    )
    print(f"out of time: {json.dumps(result.metrics)}; constant baseline: {json.dumps(result.baselines)}")


if __name__ == "__main__":
    main()
