"""Offline evaluation of recommenders on a time split.

Protocols (both always reported by :func:`evaluate_recommenders`):

* ``"new"`` -- only products new to the customer count as relevant (test
  purchases minus everything the customer bought in train), and the
  recommender is asked with ``exclude_purchased=True``.
* ``"all"`` -- every product bought in the test period counts, nothing is
  filtered (``exclude_purchased=False``); rewards buy-again behaviour.

Customers evaluated: present in the training matrix and in the test period,
with at least one relevant product under the protocol.

Metrics, for a list ``rec`` of length ``k`` (shorter lists are padded with
misses) and the set ``rel`` of relevant products, ``hit_i = [rec_i in rel]``:

* ``P@k = sum(hit_i) / k``
* ``R@k = sum(hit_i) / |rel|``
* ``NDCG@k = DCG / IDCG`` with ``DCG = sum hit_i / log2(i + 1)`` (i from 1)
  and ``IDCG`` the DCG of ``min(k, |rel|)`` hits at the top (binary relevance)
* ``AP@k = sum_i P@i * hit_i / min(k, |rel|)``; ``MAP@k`` is its mean
* catalogue coverage = distinct products recommended to the evaluated
  customers / products in the model's catalogue.

Per-customer metrics are averaged with equal weight per customer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from targetwise.errors import DataValidationError
from targetwise.recommend.base import BaseRecommender
from targetwise.recommend.hybrid import PROTOCOLS, relevant_items
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = [
    "METRIC_COLUMNS",
    "average_precision_at_k",
    "evaluate_recommenders",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "split_by_date",
]

METRIC_COLUMNS = [
    "model",
    "protocol",
    "k",
    "n_customers",
    "precision",
    "recall",
    "ndcg",
    "map",
    "coverage",
    "fit_seconds",
    "recommend_seconds",
]


def _hits(recommended: Sequence[str], relevant: set[str], k: int) -> np.ndarray:
    if k < 1:
        raise DataValidationError(f"k must be >= 1, got {k!r}", fix="use e.g. k=10")
    return np.array([item in relevant for item in list(recommended)[:k]], dtype=float)


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the ``k`` slots holding a relevant product (missing slots count as misses)."""
    return float(_hits(recommended, relevant, k).sum() / k)


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant products found in the top ``k`` (0 when nothing is relevant)."""
    return float(_hits(recommended, relevant, k).sum() / len(relevant)) if relevant else 0.0


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance NDCG: ``sum hit_i/log2(i+1)`` over the ideal ``min(k, |rel|)`` hits."""
    hits = _hits(recommended, relevant, k)
    if not relevant:
        return 0.0
    dcg = float((hits / np.log2(np.arange(2, len(hits) + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(k, len(relevant)) + 2))).sum())
    return dcg / ideal


def average_precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """``sum_i P@i * hit_i / min(k, |rel|)`` (0 when nothing is relevant)."""
    hits = _hits(recommended, relevant, k)
    if not relevant:
        return 0.0
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precisions * hits).sum() / min(k, len(relevant)))


def split_by_date(
    transactions: pd.DataFrame, test_start: str | pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train: ``ordered_at < test_start``, test: ``ordered_at >= test_start``)."""
    if "ordered_at" not in transactions.columns:
        raise DataValidationError(
            "transactions lack the 'ordered_at' column", fix="use the canonical transactions schema"
        )
    ordered_at = pd.to_datetime(transactions["ordered_at"])
    cut = pd.Timestamp(test_start)
    train, test = transactions[ordered_at < cut], transactions[ordered_at >= cut]
    if train.empty or test.empty:
        raise DataValidationError(
            f"test_start {cut} leaves {len(train)} train and {len(test)} test lines; both must be non-empty",
            fix=f"pick a date between {ordered_at.min()} and {ordered_at.max()}",
        )
    return train, test


def evaluate_recommenders(
    models: Mapping[str, BaseRecommender],
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    k: int = 10,
    protocols: Iterable[str] = ("new", "all"),
    products: pd.DataFrame | None = None,
    segments: pd.Series | None = None,
    non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
) -> pd.DataFrame:
    """Fit each model on ``train`` and score its top-``k`` lists against ``test`` purchases.

    Returns one row per (model, protocol) with :data:`METRIC_COLUMNS`;
    ``fit_seconds`` is the wall time of ``fit``, ``recommend_seconds`` that of
    recommending for every evaluated customer under the protocol.
    """
    protocols = tuple(protocols)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise DataValidationError(
            f"protocols must be a non-empty subset of {tuple(PROTOCOLS)}, got {protocols!r}",
            fix="use protocols=('new', 'all')",
        )
    if not isinstance(k, int) or k < 1:
        raise DataValidationError(f"k must be a positive integer, got {k!r}", fix="use e.g. k=10")
    truth = relevant_items(test, non_product_codes=non_product_codes)
    records = []
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(train, products=products, segments=segments)
        fit_seconds = time.perf_counter() - started
        matrix = model.interactions_
        for protocol in protocols:
            exclude = PROTOCOLS[protocol]
            relevant: dict[str, set[str]] = {}
            for customer, items in truth.items():
                row = matrix.customer_index.get(customer)
                if row is None:
                    continue
                if exclude:
                    items = items - set(matrix.product_ids[matrix.matrix[row].indices])
                if items:
                    relevant[customer] = items
            started = time.perf_counter()
            recs = model.recommend(list(relevant), n=k, exclude_purchased=exclude)
            recommend_seconds = time.perf_counter() - started
            lists = recs.groupby("customer_id", sort=False)["product_id"].agg(list).to_dict()
            per_customer = np.array(
                [
                    (
                        precision_at_k(lists.get(c, []), rel, k),
                        recall_at_k(lists.get(c, []), rel, k),
                        ndcg_at_k(lists.get(c, []), rel, k),
                        average_precision_at_k(lists.get(c, []), rel, k),
                    )
                    for c, rel in relevant.items()
                ]
            ).reshape(-1, 4)
            means = per_customer.mean(axis=0) if len(per_customer) else np.full(4, np.nan)
            records.append(
                {
                    "model": name,
                    "protocol": protocol,
                    "k": k,
                    "n_customers": len(relevant),
                    "precision": means[0],
                    "recall": means[1],
                    "ndcg": means[2],
                    "map": means[3],
                    "coverage": recs["product_id"].nunique() / matrix.shape[1],
                    "fit_seconds": fit_seconds,
                    "recommend_seconds": recommend_seconds,
                }
            )
    return pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
