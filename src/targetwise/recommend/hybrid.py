"""Hybrid recommender: a weighted blend of the component models' per-customer ranks.

For each customer, component ``m`` ranks the allowed products (rank 0 = best,
ties by popularity); its contribution to a product is
``w_m / (rank_offset + rank)`` for the ``n_candidates`` best products and 0
otherwise (weighted reciprocal-rank fusion). The blended score is the sum.

Weights are learned on a validation window, separately for the two uses:

1. the last ``validation_days`` of the training data are held out; the
   components are fitted on the earlier part;
2. for customers present in both parts, the relevant items are their
   validation-window purchases -- all of them for ``exclude_purchased=False``
   (protocol "all"), only products new to the customer for
   ``exclude_purchased=True`` (protocol "new");
3. coordinate ascent over ``weight_grid`` (start: all weights 1; each pass
   tries every grid value for one component holding the others; two passes)
   maximises mean precision@``k``; ties keep the earlier, simpler setting;
4. the components are refitted on all training data with the learned weights.

``recommend(..., exclude_purchased=True)`` uses the "new" weights, ``False`` the
"all" weights. ``validation_scores_`` records the validation P@k reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from targetwise.errors import ConfigError, ModelError
from targetwise.recommend.als import ALSRecommender
from targetwise.recommend.base import BaseRecommender, batch_rows
from targetwise.recommend.buy_again import BuyAgainRecommender
from targetwise.recommend.interactions import InteractionMatrix
from targetwise.recommend.item_item import ItemItemRecommender
from targetwise.recommend.popularity import PopularityRecommender
from targetwise.recommend.rules import select_top_n
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["HybridRecommender", "default_components"]

PROTOCOLS = {"new": True, "all": False}


def default_components(*, random_state: int | None = 0, num_threads: int = 1) -> dict[str, BaseRecommender]:
    """Buy-again, recency-weighted item-item BM25, ALS (64 factors) and 14-day trending popularity."""
    return {
        "buy_again": BuyAgainRecommender(),
        "item_item": ItemItemRecommender(recency_half_life_days=30.0, num_threads=num_threads),
        "als": ALSRecommender(random_state=random_state, num_threads=num_threads),
        "trending": PopularityRecommender(recency_half_life_days=14.0, by_segment=False),
    }


def relevant_items(
    transactions: pd.DataFrame, *, non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES
) -> dict[str, set[str]]:
    """Products each customer purchased (positive, non-return, product lines) in ``transactions``."""
    keep = transactions["quantity"].to_numpy() > 0
    keep &= ~transactions["product_id"].astype(str).isin(list(non_product_codes)).to_numpy()
    for flag in ("is_return", "is_non_product"):
        if flag in transactions.columns:
            keep &= ~transactions[flag].fillna(False).to_numpy(dtype=bool)
    lines = transactions.loc[keep, ["customer_id", "product_id"]].astype(str)
    return {c: set(g) for c, g in lines.groupby("customer_id")["product_id"]}


def _contribution(
    model: BaseRecommender,
    rows: np.ndarray,
    *,
    exclude_purchased: bool,
    n_candidates: int,
    rank_offset: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(1 / (rank_offset + rank))`` for each row's ``n_candidates`` best products (else 0), and the allowed mask."""
    scores = model._masked_scores(rows, exclude_purchased=exclude_purchased)
    out = np.zeros_like(scores)
    tops = select_top_n(scores, n_candidates, tie_rank=model.tie_rank_)
    lengths = np.array([len(top) for top in tops], dtype=np.int64)
    if lengths.sum():
        ranks = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[np.repeat(np.arange(len(tops)), lengths), np.concatenate(tops)] = 1.0 / (rank_offset + ranks)
    return out, np.isfinite(scores)


def _compact_candidates(
    parts: dict[str, np.ndarray],
    allowed: np.ndarray,
    is_relevant: np.ndarray,
    tie_rank: np.ndarray,
    tie_break: np.ndarray,
    kk: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The columns a row's top ``kk`` can come from, for every weighting: the products some component
    ranks (a non-zero part), plus the ``kk`` most popular other allowed products (they score only the
    tie break, so no other product can pass them). Same top ``kk`` as the full rows, on a few hundred
    columns instead of every product: ``(parts, tie_break, allowed, relevant)`` gathered per row."""
    candidate = np.zeros(allowed.shape, dtype=bool)
    for part in parts.values():
        candidate |= part != 0
    candidate &= allowed
    by_popularity = np.argsort(tie_rank, kind="stable")
    others = (allowed & ~candidate)[:, by_popularity]
    first_others = others & (np.cumsum(others, axis=1) <= kk)
    keep = candidate.copy()
    rows, cols = np.nonzero(first_others)
    keep[rows, by_popularity[cols]] = True
    width = max(int(keep.sum(axis=1).max(initial=0)), kk)
    if width >= allowed.shape[1]:
        return parts, tie_break, allowed, is_relevant & allowed
    columns = np.argsort(~keep, axis=1, kind="stable")[:, :width]
    valid = np.take_along_axis(keep, columns, axis=1)
    gathered = {name: np.take_along_axis(part, columns, axis=1) for name, part in parts.items()}
    relevant = np.take_along_axis(is_relevant, columns, axis=1) & valid
    return gathered, tie_break[columns], valid, relevant


def _coordinate_ascent(
    parts: dict[str, np.ndarray],
    allowed: np.ndarray,
    is_relevant: np.ndarray,
    tie_rank: np.ndarray,
    *,
    k: int,
    grid: tuple[float, ...],
) -> tuple[dict[str, float], float]:
    """Weights maximising mean P@k of the blend; start all 1, two passes over the components."""
    kk = min(k, allowed.shape[1])
    compact = _compact_candidates(parts, allowed, is_relevant, tie_rank, _tie_break(tie_rank), kk)
    return _ascend(*compact, k=k, kk=kk, grid=grid)


def _tie_break(tie_rank: np.ndarray) -> np.ndarray:
    """Validation only: ties broken by a popularity epsilon so top-k is one vectorised argpartition."""
    return -1e-9 * tie_rank / (len(tie_rank) + 1.0)


def _stack_compact(batches: list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]]):
    """Row batches of :func:`_compact_candidates` as one, each padded to the widest with columns that
    are not allowed (they never enter a top k)."""
    # a batch too narrow to compact comes back whole, its tie break one row for every row
    batches = [(b[0], np.broadcast_to(b[1], b[2].shape), b[2], b[3]) for b in batches]
    width = max(b[2].shape[1] for b in batches)

    def pad(array: np.ndarray, fill: Any) -> np.ndarray:
        extra = width - array.shape[1]
        return array if extra == 0 else np.pad(array, ((0, 0), (0, extra)), constant_values=fill)

    names = list(batches[0][0])
    parts = {name: np.concatenate([pad(b[0][name], 0.0) for b in batches]) for name in names}
    tie_break = np.concatenate([pad(b[1], 0.0) for b in batches])
    allowed = np.concatenate([pad(b[2], False) for b in batches])
    relevant = np.concatenate([pad(b[3], False) for b in batches])
    return parts, tie_break, allowed, relevant


def _ascend(
    parts: dict[str, np.ndarray],
    tie_break: np.ndarray,
    allowed: np.ndarray,
    relevant_allowed: np.ndarray,
    *,
    k: int,
    kk: int,
    grid: tuple[float, ...],
) -> tuple[dict[str, float], float]:
    """The coordinate ascent of :func:`_coordinate_ascent` on compacted candidate columns."""

    def precision(weights: dict[str, float]) -> float:
        blended = sum(weights[name] * part for name, part in parts.items()) + tie_break
        blended = np.where(allowed, blended, -np.inf)
        top = np.argpartition(-blended, kk - 1, axis=1)[:, :kk]
        return float(np.mean(np.take_along_axis(relevant_allowed, top, axis=1).sum(axis=1) / k))

    current = {name: 1.0 for name in parts}
    best = precision(current)
    for _ in range(2):
        for name in parts:
            for value in grid:
                trial = {**current, name: float(value)}
                if not any(trial.values()):
                    continue
                score = precision(trial)
                if score > best + 1e-12:  # ties keep the earlier setting
                    best, current = score, trial
    return current, best


class HybridRecommender(BaseRecommender):
    """Blend of component recommenders with validation-learned rank weights (see module doc)."""

    reason = "blend of buy-again, co-purchase, look-alike and trending signals"

    def __init__(
        self,
        *,
        components: Mapping[str, BaseRecommender] | None = None,
        validation_days: float = 28.0,
        k: int = 10,
        weight_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0),
        rank_offset: float = 10.0,
        n_candidates: int = 50,
        random_state: int | None = 0,
        num_threads: int = 1,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
        max_validation_customers: int | None = 20_000,
    ) -> None:
        self.components = components
        self.validation_days = validation_days
        self.k = k
        self.weight_grid = weight_grid
        self.rank_offset = rank_offset
        self.n_candidates = n_candidates
        self.random_state = random_state
        self.num_threads = num_threads
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category
        self.max_validation_customers = max_validation_customers

    def _validation_sample(self, truth: Mapping[str, set[str]], index: Mapping[str, int]) -> dict[str, set[str]]:
        """The validation customers (known before the window, buying in it), sorted by id; past
        ``max_validation_customers`` a uniform sample of that many, seeded by ``random_state``."""
        known = sorted(c for c in truth if c in index)
        cap = self.max_validation_customers
        self.validation_customers_ = (len(known), len(known))
        if cap is not None and len(known) > cap:
            keep = np.sort(np.random.default_rng(self.random_state).choice(len(known), size=cap, replace=False))
            self.validation_customers_ = (cap, len(known))
            known = [known[i] for i in keep]
        return {c: truth[c] for c in known}

    def _templates(self) -> dict[str, BaseRecommender]:
        templates = (
            default_components(random_state=self.random_state, num_threads=self.num_threads)
            if self.components is None
            else dict(self.components)
        )
        if not templates or any(isinstance(m, HybridRecommender) for m in templates.values()):
            raise ConfigError(
                "components must be a non-empty mapping of name -> non-hybrid recommender",
                fix="e.g. components={'buy_again': BuyAgainRecommender(), 'als': ALSRecommender()}",
            )
        return templates

    def fit(
        self,
        interactions: pd.DataFrame,
        *,
        products: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> HybridRecommender:
        """Learn blend weights on the last ``validation_days``, then refit every component on all data."""
        from targetwise.recommend.interactions import build_interactions

        self._templates()
        self._check_validation_days()
        ordered_at = pd.to_datetime(interactions["ordered_at"])
        start = ordered_at.max() - pd.Timedelta(days=float(self.validation_days))
        early, window = interactions[ordered_at < start], interactions[ordered_at >= start]
        extra = () if products is None else products["product_id"].astype(str).tolist()
        options = {"value": self.value, "non_product_codes": self.non_product_codes, "extra_product_ids": extra}
        return self.fit_interactions(
            build_interactions(interactions, **options),
            early=build_interactions(early, **options),
            truth=relevant_items(window, non_product_codes=self.non_product_codes),
            products=products,
            segments=segments,
        )

    def fit_interactions(
        self,
        matrix: InteractionMatrix,
        *,
        early: InteractionMatrix,
        truth: Mapping[str, set[str]],
        products: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> HybridRecommender:
        """:meth:`fit` on matrices aggregated elsewhere (e.g. by the engine): ``early`` from the lines
        before the validation window, ``truth`` the products each customer bought in it, ``matrix``
        from every line. The components get each matrix as is."""
        templates = self._templates()
        self._check_validation_days()
        self.weights_, self.validation_scores_ = self._learn_weights(templates, early, truth, products, segments)
        return self._fit_matrix(matrix, products=products, segments=segments)

    def _check_validation_days(self) -> None:
        if not self.validation_days > 0:
            raise ConfigError(f"validation_days must be > 0, got {self.validation_days!r}", fix="use e.g. 28")

    def _learn_weights(self, templates, early, truth, products, segments):
        names = list(templates)
        fitted: dict[str, BaseRecommender] = {}
        for name, template in templates.items():
            try:
                fitted[name] = clone(template)._fit_matrix(early, products=products, segments=segments)
            except ModelError as exc:
                raise ModelError(
                    f"cannot fit component {name!r} on the data before the {self.validation_days}-day "
                    f"validation window: {exc.message}",
                    fix="use a shorter validation_days or more history",
                ) from exc
        index = early.customer_index
        truth = self._validation_sample(truth, index)
        weights: dict[str, dict[str, float]] = {}
        achieved: dict[str, float] = {}
        for protocol, exclude in PROTOCOLS.items():
            product_ids = early.product_ids
            bought = early.matrix
            customers, relevant = [], []
            for customer, items in truth.items():
                if customer not in index:
                    continue
                if exclude:
                    items = items - set(product_ids[bought[index[customer]].indices])
                if items:
                    customers.append(index[customer])
                    relevant.append(items)
            if not customers:
                weights[protocol] = {name: 1.0 for name in names}
                achieved[protocol] = float("nan")
                continue
            rows = np.array(customers, dtype=np.int64)
            tie_rank = next(iter(fitted.values())).tie_rank_
            tie_break = _tie_break(tie_rank)
            kk = min(self.k, len(product_ids))
            column = {p: j for j, p in enumerate(product_ids)}
            # rows in batches: each batch's dense (rows x products) scores are reduced to its candidate
            # columns before the next batch is scored, so memory does not grow with the customers
            step = batch_rows(len(product_ids))
            batches = []
            for start in range(0, len(rows), step):
                batch = rows[start : start + step]
                parts, allowed = {}, None
                for name, m in fitted.items():
                    parts[name], allowed = _contribution(
                        m,
                        batch,
                        exclude_purchased=exclude,
                        n_candidates=self.n_candidates,
                        rank_offset=self.rank_offset,
                    )
                is_relevant = np.zeros((len(batch), len(product_ids)), dtype=bool)
                for r, items in enumerate(relevant[start : start + step]):
                    is_relevant[r, [column[p] for p in items if p in column]] = True
                batches.append(_compact_candidates(parts, allowed, is_relevant, tie_rank, tie_break, kk))
                del parts, allowed, is_relevant
            current, best = _ascend(*_stack_compact(batches), k=self.k, kk=kk, grid=self.weight_grid)
            weights[protocol] = current
            achieved[protocol] = best
        return weights, achieved

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        segments = pd.Series(self.segments_, dtype=object) if self.segments_ else None
        self.components_ = {
            name: clone(template)._fit_matrix(matrix, products=products, segments=segments)
            for name, template in self._templates().items()
        }

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        weights = self.weights_["new" if exclude_purchased else "all"]
        total = np.zeros((len(rows), self.n_products_))
        allowed = None
        for name, model in self.components_.items():
            if weights[name] == 0:
                continue
            part, allowed = _contribution(
                model,
                rows,
                exclude_purchased=exclude_purchased,
                n_candidates=self.n_candidates,
                rank_offset=self.rank_offset,
            )
            total += weights[name] * part
        if allowed is not None:
            total[~allowed] = -np.inf
        return total

    def _similar(self, item: int) -> np.ndarray:
        for model in self.components_.values():
            if isinstance(model, ItemItemRecommender):
                return model._similar(item)
        return super()._similar(item)
