"""Benchmark: the floor of the two heaviest stages of `targetwise run` (propensity, recommendations).

The floor is the least work any correct implementation of the stage, as specified, must do on this
machine. It is timed piece by piece on the cached workspace of ``benchmarks/run_scale.py`` and set
against the stage's own wall time from the latest run manifest of that workspace (or ``--ours``).

Recommendations (the hybrid learns its blend weights on a validation window, so it fits its
models twice: on the lines before the window and on every line):

* one engine scan of the lines into (customer, product) purchase-order counts, before the cutoff and
  before the validation window (one query, two conditional counts), fetched as Arrow;
* the two CSR matrices built from those pairs;
* two fits of implicit's ALS at the stage's settings (64 factors, 15 iterations, every core);
* two fits of implicit's BM25 item-item neighbours (K=100);
* scoring every customer once: ALS factors and item-item products, and a top 10 per customer.

Propensity (per task: a backtest fit and a final fit, as the model card reports both):

* the training rows: features at every training cutoff and labels per (cutoff, horizon), one engine
  query each (our :class:`~targetwise.usecases._snapshots.SnapshotStore`; nothing cheaper is timed);
* the LightGBM fits at the stage's parameters on exactly the stage's training rows (the pair of a
  task side by side on the two cores, as the stage runs them);
* scoring every customer at the cutoff with each final model;
* TreeSHAP of the classification models' drivers for every customer: LightGBM's own
  ``pred_contrib`` on ``--shap-rows`` customers, scaled to all of them (it is linear in rows), and
  ours (:func:`targetwise.propensity.explain.lightgbm_contributions`) on all of them; the floor
  takes the cheaper.

Usage::

    .venv/bin/python benchmarks/run_floor.py [--lines 10M] [--ours MANIFEST] [--shap-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))
from _machine import describe  # noqa: E402

BENCH_DIR = Path(os.environ.get("TARGETWISE_BENCH_DIR", ROOT / ".bench" / "run_scale"))


class Timer:
    """Wall and process-CPU seconds of each named step, printed as it ends."""

    def __init__(self) -> None:
        self.steps: dict[str, tuple[float, float]] = {}

    def __call__(self, name: str, fn: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        self.steps[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(f"  {name}: {self.steps[name][0]:.1f} s wall, {self.steps[name][1]:.1f} s CPU", flush=True)
        return result

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.steps[name] = (wall, cpu)
        print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


def recommendations_floor(data: Any, as_of: Any, timer: Timer, *, random_state: int) -> None:
    import pandas as pd
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender
    from threadpoolctl import threadpool_limits

    from targetwise.recommend import HybridRecommender

    model = HybridRecommender(random_state=random_state)
    codes = ", ".join(f"'{c}'" for c in model.non_product_codes)
    con = data.con
    cutoff = pd.Timestamp(as_of)
    last = con.execute("SELECT max(ordered_at) FROM transactions WHERE ordered_at < ?", [cutoff]).fetchone()[0]
    start = pd.Timestamp(last) - pd.Timedelta(days=float(model.validation_days))
    query = f"""
        SELECT customer_id, product_id,
               count(DISTINCT order_id) AS n_orders,
               count(DISTINCT order_id) FILTER (WHERE ordered_at < ?) AS n_orders_early
        FROM transactions
        WHERE ordered_at < ? AND customer_id IS NOT NULL AND product_id IS NOT NULL
          AND quantity > 0 AND NOT coalesce(is_return, false) AND NOT coalesce(is_non_product, false)
          AND product_id NOT IN ({codes})
        GROUP BY customer_id, product_id
    """
    pairs = timer("recs: one scan of the lines into (customer, product) pairs", lambda: con.execute(
        query, [start, cutoff]).to_arrow_table())

    def matrices() -> tuple[sp.csr_matrix, sp.csr_matrix]:
        customer, _ = pd.factorize(pairs["customer_id"].to_numpy(zero_copy_only=False), sort=True)
        product, products = pd.factorize(pairs["product_id"].to_numpy(zero_copy_only=False), sort=True)
        shape = (int(customer.max()) + 1, len(products))
        full = sp.csr_matrix((pairs["n_orders"].to_numpy().astype(np.float32), (customer, product)), shape=shape)
        early = pairs["n_orders_early"].to_numpy().astype(np.float32)
        keep = early > 0
        return full, sp.csr_matrix((early[keep], (customer[keep], product[keep])), shape=shape)

    full, early = timer("recs: two CSR matrices", matrices)
    print(f"    {full.shape[0]:,} customers x {full.shape[1]:,} products, {full.nnz:,} pairs "
          f"({early.nnz:,} before the validation window)")
    threads = os.cpu_count() or 1
    fitted = {}
    for name, matrix in (("early", early), ("full", full)):
        def fit_als(matrix: sp.csr_matrix = matrix) -> Any:
            with threadpool_limits(limits=1, user_api="blas"):
                als = AlternatingLeastSquares(factors=64, iterations=15, regularization=0.01, alpha=1.0,
                                              random_state=random_state, num_threads=threads)
                als.fit(matrix, show_progress=False)
            return als

        fitted[name] = timer(f"recs: ALS fit ({name})", fit_als)

        def fit_bm25(matrix: sp.csr_matrix = matrix) -> Any:
            knn = BM25Recommender(K=100, K1=1.2, B=0.75, num_threads=threads)
            knn.fit(matrix, show_progress=False)
            return knn

        fitted[f"bm25_{name}"] = timer(f"recs: BM25 item-item fit ({name})", fit_bm25)
    als, knn = fitted["full"], fitted["bm25_full"]
    similarity = knn.similarity.tocsr()

    def score_everyone() -> int:
        n = 0
        for begin in range(0, full.shape[0], 8192):
            rows = slice(begin, begin + 8192)
            scores = als.user_factors[rows] @ als.item_factors.T + (full[rows] @ similarity).toarray()
            top = np.argpartition(-scores, 9, axis=1)[:, :10]
            n += top.shape[0]
        return n

    timer("recs: score every customer once, top 10", score_everyone)


def propensity_floor(data: Any, features: Any, as_of: Any, timer: Timer, *, config: Any, random_state: int,
                     shap_rows: int) -> None:
    import pandas as pd

    from targetwise.propensity import PropensityClassifier, SpendRegressor
    from targetwise.propensity.explain import lightgbm_contributions
    from targetwise.usecases._snapshots import SnapshotStore
    from targetwise.usecases.propensity import (
        TASKS,
        _first_day,
        default_step_days,
        feature_columns,
        usable_cutoffs,
    )

    as_of_date = pd.Timestamp(as_of).date()
    store = SnapshotStore(data.backend, max_rows_per_cutoff=config.max_rows_per_cutoff, random_state=random_state)
    first = _first_day(data.backend)
    plans = {
        (task, horizon): usable_cutoffs(data.backend, as_of_date, horizon_days=horizon, n_cutoffs=config.n_cutoffs,
                                        step_days=default_step_days(horizon), min_history_days=config.min_history_days,
                                        first=first)
        for task, horizon in config.tasks
    }
    store.plan([c for cutoffs in plans.values() for c in cutoffs])
    distinct = sorted({c for cutoffs in plans.values() for c in cutoffs})
    timer(f"propensity: features at the {len(distinct)} training cutoffs (one query each)",
          lambda: [store.features(c) for c in distinct])
    pairs = sorted({(c, h) for (_, h), cutoffs in plans.items() for c in cutoffs})
    timer(f"propensity: labels at the {len(pairs)} (cutoff, horizon) pairs (one query each)",
          lambda: [store.labels(c, h) for c, h in pairs])
    cols = feature_columns(features)
    fit_wall = fit_cpu = 0.0
    finals = {}
    for (task, horizon), cutoffs in plans.items():
        frame = store.snapshots(cutoffs, horizon)
        frame["cutoff"] = pd.to_datetime(frame["cutoff"])
        label = TASKS[task][0].replace("{N}", str(horizon))
        kind = TASKS[task][1]
        last = frame["cutoff"].max()
        train = frame[frame["cutoff"] < last - pd.Timedelta(days=horizon) + pd.Timedelta(days=1)]
        if kind == "classification":
            def make() -> Any:
                return PropensityClassifier(model=config.model, random_state=random_state)
            target = frame[label].astype(bool).to_numpy()
            y_train = train[label].astype(bool).to_numpy()
        else:
            def make() -> Any:
                return SpendRegressor(random_state=random_state)
            target = restricted(frame[label], horizon) if task == "next_order" else frame[label].astype(float)
            target = np.asarray(target, dtype=float)
            y_train = target[: len(train)]
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [pool.submit(lambda rows=rows: make().fit(*rows))
                    for rows in ((train[cols], y_train), (frame[cols], target))]
            finals[(task, horizon)] = jobs[1].result()
            jobs[0].result()
        fit_wall += time.perf_counter() - wall
        fit_cpu += time.process_time() - cpu
        print(f"    {task} {horizon}d: {len(train):,} + {len(frame):,} training rows", flush=True)
    timer.add("propensity: LightGBM fits, backtest and final per task (side by side)", fit_wall, fit_cpu)
    X = features[cols]
    timer(f"propensity: score {len(X):,} customers with each final model",
          lambda: [m.predict_proba(X) if hasattr(m, "predict_proba") else m.predict(X) for m in finals.values()])
    boosters = [(m.estimator_.booster_, m.encoder_.to_lightgbm(X)) for (task, _), m in finals.items()
                if TASKS[task][1] == "classification" and getattr(m, "model_used_", None) == "lightgbm"]
    rng = np.random.default_rng(0)
    subset = np.sort(rng.choice(len(X), size=min(shap_rows, len(X)), replace=False))
    wall, cpu = time.perf_counter(), time.process_time()
    for booster, encoded in boosters:
        booster.predict(encoded.iloc[subset], pred_contrib=True, num_threads=os.cpu_count() or 1)
    scale = len(X) / len(subset)
    reference = ((time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale)
    timer.add(f"propensity: LightGBM pred_contrib, {len(boosters)} models x {len(X):,} customers "
              f"(timed on {len(subset):,}, x{scale:.1f})", *reference)
    timer("propensity: our per-pattern TreeSHAP on every customer",
          lambda: [lightgbm_contributions(b, e) for b, e in boosters])


def restricted(days: Any, horizon: int) -> Any:
    from targetwise.usecases.propensity import restricted_days_to_next_order

    return restricted_days_to_next_order(days, horizon)


def ours_from_manifest(path: Path | None, workspace: Path) -> tuple[dict[str, float], str]:
    if path is None:
        runs = sorted((workspace / "artifacts" / "runs").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
        if not runs:
            return {}, "no run in the workspace"
        path = runs[-1]
    manifest = json.loads(path.read_text())
    stages = manifest.get("stages", {})
    return ({name: float((rec.get("cost") or {}).get("wall_s", rec.get("seconds", float("nan"))))
             for name, rec in stages.items()}, f"{manifest.get('run_id')} ({path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="10M", help="the run_scale workspace (1M, 10M, ...)")
    parser.add_argument("--ours", type=Path, help="run manifest with our stage times (default: the latest run)")
    parser.add_argument("--shap-rows", type=int, default=20_000)
    parser.add_argument("--only", choices=["propensity", "recommendations"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Method expects CSR input")  # implicit's own conversion
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
    print(describe())
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    from targetwise.config import Settings
    from targetwise.io.modeldata import open_model_data
    from targetwise.io.workspace import Workspace
    from targetwise.pipeline.run import default_as_of
    from targetwise.runconfig import RunConfig
    from targetwise.usecases.features import features_at

    workspace = BENCH_DIR / f"ws_{args.lines}"
    if not (workspace / ".ready").exists():
        raise SystemExit(f"no workspace at {workspace}: run benchmarks/run_scale.py --lines {args.lines} --prepare-only")
    settings = Settings()
    ws = Workspace.open(workspace, settings)
    as_of = default_as_of(ws)
    config = RunConfig()
    seed = config.seed(settings.random_state)
    timers = {"propensity": Timer(), "recommendations": Timer()}
    with open_model_data(ws) as data:
        features = features_at(data, as_of)
        print(f"{len(features):,} customers at {as_of}", flush=True)
        if args.only in (None, "recommendations"):
            recommendations_floor(data, as_of, timers["recommendations"], random_state=seed)
        if args.only in (None, "propensity"):
            propensity_floor(data, features, as_of, timers["propensity"], config=config.propensity,
                             random_state=seed, shap_rows=args.shap_rows)
    ours, source = ours_from_manifest(args.ours, workspace)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; ours from run {source}")
    print("\n| stage | floor wall s | floor CPU s | ours wall s | ours / floor |\n|---|---:|---:|---:|---:|")
    for stage, timer in timers.items():
        if not timer.steps:
            continue
        steps = dict(timer.steps)
        if stage == "propensity":  # the cheaper of the two exact TreeSHAP computations
            shap = [k for k in steps if "pred_contrib" in k or "TreeSHAP" in k]
            keep = min(shap, key=lambda k: steps[k][0])
            steps = {k: v for k, v in steps.items() if k not in shap or k == keep}
        wall = sum(v[0] for v in steps.values())
        cpu = sum(v[1] for v in steps.values())
        mine = ours.get(stage, float("nan"))
        print(f"| {stage} | {wall:.1f} | {cpu:.1f} | {mine:.1f} | {mine / wall:.2f}x |")


if __name__ == "__main__":
    main()
