"""Recommenders: one interface (:class:`BaseRecommender`) over popularity, buy-again,
item-item (implicit), ALS (implicit), content (TF-IDF / sentence embeddings) and a
validation-weighted hybrid; plus the interaction matrix, business rules and evaluation.
"""

from __future__ import annotations

from typing import Any

from targetwise.errors import ConfigError
from targetwise.recommend.als import ALSRecommender
from targetwise.recommend.base import RECOMMENDATION_COLUMNS, SIMILAR_COLUMNS, BaseRecommender
from targetwise.recommend.buy_again import BuyAgainRecommender
from targetwise.recommend.content import ContentRecommender
from targetwise.recommend.evaluation import (
    METRIC_COLUMNS,
    average_precision_at_k,
    evaluate_recommenders,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    split_by_date,
)
from targetwise.recommend.hybrid import HybridRecommender, default_components
from targetwise.recommend.interactions import (
    InteractionMatrix,
    bm25_weight,
    build_interactions,
    confidence_weight,
    interactions_from_pairs,
)
from targetwise.recommend.item_item import ItemItemRecommender
from targetwise.recommend.popularity import PopularityRecommender

__all__ = [
    "METRIC_COLUMNS",
    "RECOMMENDATION_COLUMNS",
    "RECOMMENDERS",
    "SIMILAR_COLUMNS",
    "ALSRecommender",
    "BaseRecommender",
    "BuyAgainRecommender",
    "ContentRecommender",
    "HybridRecommender",
    "InteractionMatrix",
    "ItemItemRecommender",
    "PopularityRecommender",
    "average_precision_at_k",
    "bm25_weight",
    "build_interactions",
    "confidence_weight",
    "default_components",
    "evaluate_recommenders",
    "interactions_from_pairs",
    "make_recommender",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "split_by_date",
]

RECOMMENDERS: dict[str, type[BaseRecommender]] = {
    "popularity": PopularityRecommender,
    "buy_again": BuyAgainRecommender,
    "item_item": ItemItemRecommender,
    "als": ALSRecommender,
    "content": ContentRecommender,
    "hybrid": HybridRecommender,
}


def make_recommender(name: str, **params: Any) -> BaseRecommender:
    """Build a recommender by name (see :data:`RECOMMENDERS`) with keyword parameters.

    >>> make_recommender("als", factors=32).factors
    32
    """
    try:
        cls = RECOMMENDERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown recommender {name!r}; expected one of {sorted(RECOMMENDERS)}",
            fix="pick a name from targetwise.recommend.RECOMMENDERS",
        ) from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(
            f"invalid parameters for recommender {name!r}: {exc}",
            fix=f"see help({cls.__name__}) for its parameters",
        ) from None
