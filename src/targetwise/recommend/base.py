"""The one interface every recommender follows.

``fit(interactions, *, products=None, segments=None)`` builds the interaction
matrix (:mod:`.interactions`), the popularity used for tie-breaking and cold
start, the business-rule masks (:mod:`.rules`) and a TF-IDF index for new
products, then calls the model's ``_fit_model``. A model only implements

* ``_score(rows, *, exclude_purchased)`` -> dense ``(len(rows), n_products)``
  scores for known customers (higher is better; ``-inf`` = never), and
* optionally ``_similar(item)`` -> a score per product for ``similar_products``.

``recommend`` then applies the rules, the cold-start fallback (segment, else
overall popularity) and the deterministic tie-break (popularity, then id), and
returns a long table ``customer_id, rank, product_id, score, reason``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from targetwise._dtypes import STRING_DTYPE
from targetwise._fitted import check_fitted
from targetwise.errors import DataValidationError, ModelError, NotFoundError
from targetwise.recommend.interactions import InteractionMatrix, build_interactions
from targetwise.recommend.rules import (
    excluded_product_mask,
    product_categories,
    select_top_n,
)

__all__ = ["RECOMMENDATION_COLUMNS", "SIMILAR_COLUMNS", "BaseRecommender", "batch_rows"]

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score", "reason"]
SIMILAR_COLUMNS = ["product_id", "rank", "similar_product_id", "score", "reason"]
_BATCH_ROWS = 1024
#: customers scored at once hold ``rows x products`` dense scores: at most this many cells per array
_BATCH_CELLS = 1 << 24


def batch_rows(n_products: int) -> int:
    """Customers scored per batch: 1,024, fewer when the catalogue is wide (256 at 65,000 products),
    so one dense score array stays near 128 MB."""
    return max(1, min(_BATCH_ROWS, _BATCH_CELLS // max(1, int(n_products))))


class BaseRecommender(BaseEstimator):
    """Shared fit/recommend/similar_products logic; subclasses add the scoring model.

    Every subclass accepts the common parameters ``value`` ("invoices" or
    "quantity", see :func:`build_interactions`), ``non_product_codes`` and
    ``max_per_category`` (diversity cap; None = no cap).
    """

    reason: ClassVar[str] = "recommended"

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        interactions: pd.DataFrame,
        *,
        products: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> BaseRecommender:
        """Learn from canonical transactions; ``products``/``segments`` enable rules and cold start."""
        extra = () if products is None else products["product_id"].astype(str).tolist()
        matrix = build_interactions(
            interactions,
            value=self.value,  # type: ignore[attr-defined]
            non_product_codes=self.non_product_codes,  # type: ignore[attr-defined]
            extra_product_ids=extra,
        )
        return self._fit_matrix(matrix, products=products, segments=segments)

    def _fit_matrix(
        self,
        matrix: InteractionMatrix,
        *,
        products: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> BaseRecommender:
        if matrix.matrix.nnz == 0:
            raise ModelError(
                "no purchases left to learn from after removing non-product lines and netting returns",
                fix="check that the transactions contain positive-quantity product lines",
            )
        cap = self.max_per_category  # type: ignore[attr-defined]
        if cap is not None and (not isinstance(cap, int | np.integer) or cap < 1):
            raise DataValidationError(
                f"max_per_category must be a positive integer or None, got {cap!r}",
                fix="use e.g. max_per_category=3",
            )
        self.interactions_ = matrix
        self.popularity_ = matrix.customers_per_product()
        order = np.lexsort((np.arange(matrix.shape[1]), -self.popularity_))
        self.tie_rank_ = np.empty(matrix.shape[1], dtype=np.int64)
        self.tie_rank_[order] = np.arange(matrix.shape[1])
        self.excluded_ = excluded_product_mask(
            matrix.product_ids,
            products,
            non_product_codes=self.non_product_codes,  # type: ignore[attr-defined]
        )
        self.categories_ = product_categories(matrix.product_ids, products)
        from targetwise.recommend.content import ContentIndex  # content imports base

        self.content_ = ContentIndex.from_products(matrix.product_ids, products)
        self._fit_segments(segments)
        self.n_customers_, self.n_products_ = matrix.shape
        self._fit_model(matrix, products=products)
        return self

    def _fit_segments(self, segments: pd.Series | None) -> None:
        self.segments_: dict[str, str] = {}
        self.segment_popularity_: dict[str, np.ndarray] = {}
        if segments is None:
            return
        if not isinstance(segments, pd.Series):
            raise DataValidationError(
                f"segments must be a pandas Series indexed by customer_id, got {type(segments).__name__}",
                fix="pass e.g. segment_table.set_index('customer_id')['segment']",
            )
        segments = segments.dropna()
        self.segments_ = dict(zip(segments.index.astype(str), segments.astype(str), strict=True))
        binary = (self.interactions_.matrix > 0).astype(np.float64).tocsr()
        index = self.interactions_.customer_index
        for label in sorted(set(self.segments_.values())):
            rows = [index[c] for c, s in self.segments_.items() if s == label and c in index]
            if rows:
                self.segment_popularity_[label] = np.asarray(binary[rows].sum(axis=0)).ravel()

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        check_fitted(
            self, "interactions_", fix="call fit(interactions) before recommend() or similar_products()"
        )

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        raise NotImplementedError

    def _masked_scores(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        """Model scores with the business rules applied (``-inf`` = not allowed)."""
        scores = np.asarray(self._score(rows, exclude_purchased=exclude_purchased), dtype=np.float64)
        scores[:, self.excluded_] = -np.inf
        if exclude_purchased:
            bought = self.interactions_.matrix[rows].tocoo()
            scores[bought.row, bought.col] = -np.inf
        return scores

    def _fallback_scores(self, customer_id: str) -> tuple[np.ndarray, str]:
        segment = self.segments_.get(customer_id)
        if segment is not None and segment in self.segment_popularity_:
            return self.segment_popularity_[segment].copy(), f"popular in segment {segment}"
        return self.popularity_.copy(), "popular"

    def recommend(
        self,
        customer_ids: str | Iterable[str],
        n: int = 10,
        *,
        exclude_purchased: bool = True,
    ) -> pd.DataFrame:
        """Top-``n`` products per customer, best first.

        Known customers are scored by the model; customers unseen at fit get
        their segment's (else overall) most popular products. Returns columns
        ``customer_id, rank (1 = best), product_id, score, reason``.
        """
        self._check_fitted()
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise DataValidationError(f"n must be a positive integer, got {n!r}", fix="use e.g. n=10")
        ids = [customer_ids] if isinstance(customer_ids, str) else [str(c) for c in customer_ids]
        index = self.interactions_.customer_index
        known = [(pos, index[c]) for pos, c in enumerate(ids) if c in index]
        picks: dict[int, tuple[np.ndarray, np.ndarray, str]] = {}
        step = batch_rows(self.n_products_)
        for start in range(0, len(known), step):
            chunk = known[start : start + step]
            rows = np.array([r for _, r in chunk], dtype=np.int64)
            scores = self._masked_scores(rows, exclude_purchased=exclude_purchased)
            tops = select_top_n(
                scores,
                int(n),
                tie_rank=self.tie_rank_,
                categories=self.categories_,
                max_per_category=self.max_per_category,  # type: ignore[attr-defined]
            )
            for (pos, _), row_scores, top in zip(chunk, scores, tops, strict=True):
                picks[pos] = (top, row_scores[top], self.reason)
        for pos, customer in enumerate(ids):
            if pos in picks:
                continue
            scores, reason = self._fallback_scores(customer)
            scores[self.excluded_] = -np.inf
            (top,) = select_top_n(
                scores[None, :],
                int(n),
                tie_rank=self.tie_rank_,
                categories=self.categories_,
                max_per_category=self.max_per_category,  # type: ignore[attr-defined]
            )
            picks[pos] = (top, scores[top], reason)
        return self._to_frame(ids, picks)

    def _to_frame(self, ids: list[str], picks: dict[int, tuple[np.ndarray, np.ndarray, str]]) -> pd.DataFrame:
        lengths = [len(picks[pos][0]) for pos in range(len(ids))]
        if sum(lengths) == 0:
            return pd.DataFrame(
                {
                    c: pd.Series(dtype=t)
                    for c, t in zip(
                        RECOMMENDATION_COLUMNS, [STRING_DTYPE, "int64", STRING_DTYPE, "float64", STRING_DTYPE], strict=True
                    )
                }
            )
        items = np.concatenate([picks[pos][0] for pos in range(len(ids))])
        return pd.DataFrame(
            {
                "customer_id": np.repeat(np.array(ids, dtype=object), lengths),
                "rank": np.concatenate([np.arange(1, k + 1) for k in lengths]),
                "product_id": self.interactions_.product_ids[items],
                "score": np.concatenate([picks[pos][1] for pos in range(len(ids))]),
                "reason": np.repeat(
                    np.array([picks[pos][2] for pos in range(len(ids))], dtype=object), lengths
                ),
            }
        )

    # ------------------------------------------------------ similar items
    def _similar(self, item: int) -> np.ndarray:
        """Cosine similarity of co-purchase columns (customers who bought both)."""
        binary = (self.interactions_.matrix > 0).astype(np.float64).tocsc()
        column = binary[:, item]
        overlap = np.asarray((binary.T @ column).todense()).ravel()
        norms = np.sqrt(self.popularity_ * self.popularity_[item])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(norms > 0, overlap / norms, 0.0)

    def similar_products(self, product_id: str, n: int = 10) -> pd.DataFrame:
        """The ``n`` products most similar to ``product_id``.

        Products with purchases use the model's notion of similarity; catalogue
        products without any purchase (new products) get content neighbours
        (TF-IDF over name + description). Returns ``product_id, rank,
        similar_product_id, score, reason``.
        """
        self._check_fitted()
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise DataValidationError(f"n must be a positive integer, got {n!r}", fix="use e.g. n=10")
        item = self.interactions_.product_index.get(str(product_id))
        if item is None:
            raise NotFoundError(
                f"product {product_id!r} is neither in the interactions nor in the products table",
                fix="pass products=... to fit() so catalogue products without purchases are known",
            )
        if self.popularity_[item] > 0:
            scores, reason = np.asarray(self._similar(item), dtype=np.float64), self.reason
        elif self.content_ is not None and self.content_.has_text(item):
            scores, reason = self.content_.similar(item), "similar description (new product)"
        else:
            raise ModelError(
                f"product {product_id!r} has no purchases and no name/description text",
                fix="add a name or description for it to the products table",
            )
        scores = scores.copy()
        scores[item] = -np.inf
        scores[self.excluded_] = -np.inf
        (top,) = select_top_n(scores[None, :], int(n), tie_rank=self.tie_rank_)
        return pd.DataFrame(
            {
                "product_id": str(product_id),
                "rank": np.arange(1, len(top) + 1),
                "similar_product_id": self.interactions_.product_ids[top],
                "score": scores[top],
                "reason": reason,
            },
            columns=SIMILAR_COLUMNS,
        )
