"""Use cases: fit the recommenders for a run, read one customer's recommendations, evaluate on a time split."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, ModelError, NotFoundError
from targetwise.io import outputs as out
from targetwise.io.engines import fetch_frame, fetch_frames
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.runconfig import RecommendationsConfig
from targetwise.usecases._common import Notes, collect_warnings
from targetwise.usecases.runs import RunData

__all__ = [
    "CustomerRecommendations",
    "RecommendationsResult",
    "evaluate_recommendations",
    "fit_recommendations",
    "recommendations_for",
    "similar_products_for",
]

SIMILAR_COLUMNS = ["product_id", "rank", "similar_product_id", "score"]


@dataclass
class RecommendationsResult:
    recommendations: pd.DataFrame  # customer_id, rank, product_id, score, reason
    popular: pd.DataFrame  # rank, product_id, score
    similar: pd.DataFrame  # product_id, rank, similar_product_id, score
    weights: dict[str, float]
    notes: Notes = field(default_factory=Notes)


def fit_recommendations(
    data: ModelData,
    customers: list[str],
    *,
    as_of: date | datetime | str,
    config: RecommendationsConfig,
    random_state: int,
) -> RecommendationsResult:
    """Hybrid recommendations for ``customers`` from the lines before ``as_of``; popular and similar products.

    The engine aggregates the lines (:mod:`targetwise.features.interactions`): per (customer,
    product) pair before ``as_of`` and before the hybrid's validation window, and the pairs
    bought in the window. No transaction line is read into memory.
    """
    from targetwise.recommend import HybridRecommender, PopularityRecommender

    products = data.products()
    notes = Notes()
    # ALS and the item-item neighbours solve each customer / product independently: every core may
    # share them and the factors are bit-identical (tests/test_recommend_aggregates.py)
    model = HybridRecommender(random_state=random_state, num_threads=os.cpu_count() or 1)
    aggregates = _aggregates(data, as_of, model=model, products=products)
    with collect_warnings(notes):
        model.fit_interactions(
            aggregates.matrix, early=aggregates.early, truth=aggregates.truth, products=products
        )
        recs = model.recommend(customers, n=config.n, exclude_purchased=False)
        popular = PopularityRecommender()._fit_matrix(aggregates.matrix, products=products)
    used, total = getattr(model, "validation_customers_", (0, 0))
    if used < total:
        notes.add(
            f"hybrid weights learned on a seeded sample of {used:,} of the {total:,} customers who bought in the "
            "validation window"
        )
    recs = _explain(recs, aggregates.pairs)
    top = popular.recommend(["__cold_start__"], n=config.popular_n, exclude_purchased=False)
    return RecommendationsResult(
        recommendations=recs,
        popular=top[["rank", "product_id", "score"]].reset_index(drop=True),
        similar=_similar_table(model, aggregates.pairs, n=config.n, limit=config.similar_products_limit),
        weights=dict(getattr(model, "weights_", None) or {}),
        notes=notes,
    )


@dataclass
class _Aggregates:
    pairs: pd.DataFrame  # every (customer, product) pair before as_of (see features.interactions)
    matrix: Any  # InteractionMatrix before as_of
    early: Any  # InteractionMatrix before the validation window
    truth: dict[str, set[str]]  # products bought in the validation window, per customer


def _half_lives(model: Any) -> tuple[float, ...]:
    """The recency half-lives the hybrid's components will ask their matrix for."""
    found = {
        float(h) for m in model._templates().values()
        if (h := getattr(m, "recency_half_life_days", None)) is not None
    }
    return tuple(sorted(found))


def _aggregates(data: ModelData, as_of: date | datetime | str, *, model: Any, products: pd.DataFrame) -> _Aggregates:
    from targetwise.features._inputs import normalize_as_of, resolve_inputs
    from targetwise.features.interactions import interaction_pairs, line_counts, window_purchases
    from targetwise.recommend import interactions_from_pairs

    inputs = resolve_inputs(data.backend)
    codes = tuple(str(c) for c in model.non_product_codes)
    extra = products["product_id"].astype(str).tolist()
    half_lives = _half_lives(model)
    cutoff = normalize_as_of(as_of)

    def matrix_before(before: Any) -> tuple[pd.DataFrame, Any, pd.Timestamp]:
        counts = line_counts(inputs, before, non_product_codes=codes).to_pandas().iloc[0]
        if pd.isna(counts["observed_until"]):
            raise ModelError(
                f"no product line before {pd.Timestamp(before):%Y-%m-%d} to learn recommendations from",
                fix="load transactions with products, or choose a later --as-of",
            )
        until = pd.Timestamp(counts["observed_until"])
        # ids as sorted categoricals, no last_at (unused): at 100M lines 39M pairs in about 1.3 GB; the
        # engine's working memory bounded by computing the pairs in customer partitions, one at a time
        parts = data.partitions_for(int(counts["product_lines"]))
        pairs = fetch_frames(
            [
                interaction_pairs(
                    inputs, before, observed_until=until.to_pydatetime(), half_lives=half_lives,
                    non_product_codes=codes, partition=(part, parts),
                ).drop("last_at")
                for part in range(parts)
            ],
            categories=("customer_id", "product_id"),
            after_each=data.release_memory,  # DuckDB's hash tables and cached blocks: one partition's at a time
        )
        matrix = interactions_from_pairs(
            pairs, observed_until=until, value=model.value, non_product_codes=codes, extra_product_ids=extra,
            n_non_product_lines=int(counts["non_product_lines"]),
        )
        return pairs, matrix, pd.Timestamp(counts["last_at"])

    pairs, matrix, last_at = matrix_before(cutoff)
    start = (last_at - pd.Timedelta(days=float(model.validation_days))).to_pydatetime()
    _, early, _ = matrix_before(start)
    window = fetch_frame(window_purchases(inputs, start, cutoff, non_product_codes=codes))
    return _Aggregates(pairs=pairs, matrix=matrix, early=early, truth=_products_per_customer(window))


def _products_per_customer(window: pd.DataFrame) -> dict[str, set[str]]:
    """``{customer_id: {product_id, ...}}`` from (customer, product) rows, customers in id order
    (one factorize and one stable sort instead of a group per customer)."""
    customer = window["customer_id"].astype(str).to_numpy(dtype=object)
    product = window["product_id"].astype(str).to_numpy(dtype=object)
    codes, names = pd.factorize(customer, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return {
        str(name): set(product[order[begin:end]])
        for name, begin, end in zip(names, bounds[:-1], bounds[1:], strict=True)
    }


def _explain(recs: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-item reasons a marketer can read: repeat purchases are named as such, new items say why."""
    frame = recs.copy()
    times = _orders_of(pairs, frame["customer_id"], frame["product_id"])
    # one text per distinct count and per distinct former reason, shared by every row that has it
    counts, count_at = np.unique(times, return_inverse=True)
    repeat_text = np.array(
        ["bought once before" if n == 1 else f"bought {n} times before" for n in counts.tolist()], dtype=object
    )[np.ravel(count_at)]
    reason_at, reasons = pd.factorize(frame["reason"], use_na_sentinel=False)
    kept = np.array(
        [r if str(r).startswith("popular") else "new for this customer: bought by customers with similar baskets"
         for r in reasons], dtype=object,
    )
    fallback = kept[reason_at] if len(kept) else np.zeros(0, dtype=object)
    frame["reason"] = np.where(times > 0, repeat_text, fallback)
    return frame


def _orders_of(pairs: pd.DataFrame, customers: pd.Series, products: pd.Series) -> np.ndarray:
    """``n_orders`` of each (customer, product) of the pairs, 0 for a pair not among them: a left join
    on integer keys, without a string per pair (the pairs hold one row per pair)."""
    from targetwise.recommend.interactions import sorted_codes

    every = np.ones(len(pairs), dtype=bool)
    cust, cust_names = sorted_codes(pairs["customer_id"], every)
    prod, prod_names = sorted_codes(pairs["product_id"], every)
    width = max(len(prod_names), 1)
    key = cust * width + prod
    orders = pairs["n_orders"].to_numpy(dtype=np.int64)
    if not len(key):
        return np.zeros(len(customers), dtype=np.int64)
    if not bool(np.all(key[1:] > key[:-1])):  # sorted within a partition, not across them
        order = np.argsort(key, kind="stable")
        key, orders = key[order], orders[order]
    c = pd.Index(cust_names).get_indexer(customers.astype(str))
    p = pd.Index(prod_names).get_indexer(products.astype(str))
    wanted = np.where((c >= 0) & (p >= 0), c * width + p, -1)
    at = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
    return np.where((wanted >= 0) & (key[at] == wanted), orders[at], 0)


def _similar_table(model: Any, pairs: pd.DataFrame, *, n: int, limit: int) -> pd.DataFrame:
    """Neighbours of the ``limit`` most-bought products (purchase lines; ties by product id)."""
    counts = pairs.groupby("product_id", sort=True, observed=True)["n_lines"].sum().rename("n").reset_index()
    counts = counts[counts["n"] > 0].sort_values(["n", "product_id"], ascending=[False, True], kind="stable")
    frames = []
    for product_id in counts["product_id"].head(limit):
        try:
            sim = model.similar_products(product_id, n=n)
        except Exception:  # a product the model cannot place (no interactions, no text)
            continue
        frames.append(sim[SIMILAR_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=SIMILAR_COLUMNS)
    return pd.concat(frames, ignore_index=True)


# -- reading a run ------------------------------------------------------------------------


@dataclass
class CustomerRecommendations:
    run_id: str
    as_of: str | None
    customer_id: str
    source: Literal["personal", "popular"]
    items: list[dict[str, Any]]  # rank, product_id, name, score, reason
    known: bool = True  # False: the customer is in none of the run's per-customer outputs
    note: str | None = None  # why the list is the popular one, in a sentence a marketer reads


# The per-customer outputs that make a customer known to a run.
_CUSTOMER_OUTPUTS = (out.FEATURES, out.SEGMENTS, out.CLV, out.PROPENSITY)


def _known_to(run: RunData, customer_id: str) -> bool:
    return any(run.has(o) and customer_id in run.by_customer(o) for o in _CUSTOMER_OUTPUTS)


def recommendations_for(run: RunData, customer_id: str, *, n: int = 10) -> CustomerRecommendations:
    """The run's recommendations for one customer, or the popular list (reason ``popular``) for a
    customer the run has none for (new, or left out of personal models by a profiling objection:
    the popular list uses nobody's profile). ``known`` says whether the run holds the customer at all
    and ``note`` says why the list is the popular one."""
    names = run.product_names()
    personal = run.grouped(out.RECOMMENDATIONS, "customer_id").get(customer_id) if run.has(out.RECOMMENDATIONS) else None
    if personal:
        items = [
            {"rank": int(r["rank"]), "product_id": str(r["product_id"]), "name": names.get(str(r["product_id"])),
             "score": r["score"], "reason": r["reason"]}
            for r in personal[:n]
        ]
        return CustomerRecommendations(run.run_id, run.as_of, customer_id, "personal", items)
    if not run.has(out.POPULAR):
        run.require(out.RECOMMENDATIONS if not run.has(out.RECOMMENDATIONS) else out.POPULAR)
    items = [
        {"rank": i, "product_id": str(r["product_id"]), "name": names.get(str(r["product_id"])),
         "score": r["score"], "reason": "popular"}
        for i, r in enumerate(run.popular()[:n], start=1)
    ]
    known = _known_to(run, customer_id)
    if known:
        note = f"no personal recommendations for customer {customer_id!r} in run {run.run_id}: showing the most popular products"
    else:
        before = f" before {run.as_of}" if run.as_of else ""
        note = (
            f"customer {customer_id!r} is not in run {run.run_id} (unknown id, no purchase{before}, or an objection "
            "to profiling): showing the most popular products"
        )
    return CustomerRecommendations(run.run_id, run.as_of, customer_id, "popular", items, known=known, note=note)


def similar_products_for(run: RunData, product_id: str, *, n: int = 10) -> list[dict[str, Any]]:
    """Neighbours of one product: rank, product_id, name, score."""
    rows = run.grouped(out.SIMILAR, "product_id").get(product_id)
    if not rows:
        raise NotFoundError(
            f"product {product_id!r} has no similar products in run {run.run_id}",
            fix="check the id; products never bought before the run's as_of date have no neighbours",
            details={"run_id": run.run_id},
        )
    names = run.product_names()
    return [
        {"rank": int(r["rank"]), "product_id": str(r["similar_product_id"]),
         "name": names.get(str(r["similar_product_id"])), "score": r["score"]}
        for r in rows[:n]
    ]


# -- evaluation ---------------------------------------------------------------------------


def evaluate_recommendations(
    ws: Workspace, test_start: date | datetime | str, *, k: int = 10, models: list[str] | None = None, random_state: int = 0
) -> pd.DataFrame:
    """Fit on lines before ``test_start``, evaluate on lines from it on, under both protocols."""
    from targetwise.recommend import evaluate_recommenders, make_recommender, split_by_date

    names = models or ["popularity", "buy_again", "item_item", "als", "hybrid"]
    with open_model_data(ws) as data:
        lines = data.transactions()
        products = data.products()
    train, test = split_by_date(lines, test_start)
    if train.empty or test.empty:
        raise ConfigError(
            f"test start {test_start} leaves no training or no test lines",
            fix=f"choose a date between {lines['ordered_at'].min():%Y-%m-%d} and {lines['ordered_at'].max():%Y-%m-%d}",
        )
    params = {"als": {"random_state": random_state}, "hybrid": {"random_state": random_state}}
    recommenders = {name: make_recommender(name, **params.get(name, {})) for name in names}
    return evaluate_recommenders(recommenders, train, test, k=k, products=products)
