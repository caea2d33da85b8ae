"""Known-answer tests for the ranking metrics, the time split and the evaluation protocols."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from targetwise.errors import DataValidationError
from targetwise.recommend import (
    BuyAgainRecommender,
    average_precision_at_k,
    evaluate_recommenders,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    split_by_date,
)

REC = ["a", "b", "c", "d"]
REL = {"b", "d", "x"}


def test_metrics_hand_computed_k4() -> None:
    # hits at ranks 2 and 4; 3 relevant items
    assert precision_at_k(REC, REL, 4) == pytest.approx(0.5)
    assert recall_at_k(REC, REL, 4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(k=4, |rel|=3) ideal hits
    assert ndcg_at_k(REC, REL, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(REC, REL, 4) == pytest.approx(0.498190, abs=1e-6)
    # AP: (P@2 + P@4) / min(4, 3) = (1/2 + 2/4) / 3
    assert average_precision_at_k(REC, REL, 4) == pytest.approx(1 / 3)


def test_metrics_hand_computed_k2_divides_map_by_k() -> None:
    assert precision_at_k(REC, REL, 2) == pytest.approx(0.5)
    assert recall_at_k(REC, REL, 2) == pytest.approx(1 / 3)
    assert average_precision_at_k(REC, REL, 2) == pytest.approx(0.5 / 2)  # min(k=2, |rel|=3) = 2
    assert ndcg_at_k(REC, REL, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_short_list_counts_missing_slots_as_misses() -> None:
    assert precision_at_k(["b"], {"b"}, 3) == pytest.approx(1 / 3)
    assert recall_at_k(["b"], {"b"}, 3) == 1.0
    assert ndcg_at_k(["b"], {"b"}, 3) == 1.0
    assert average_precision_at_k(["b"], {"b"}, 3) == 1.0  # divides by min(3, 1)
    assert precision_at_k([], {"b"}, 3) == 0.0


def test_metric_rejects_bad_k() -> None:
    with pytest.raises(DataValidationError, match="k must be >= 1"):
        precision_at_k(REC, REL, 0)


def _tx(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "product_id", "quantity"])
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"])
    frame["unit_price"] = 1.0
    return frame


def test_split_by_date_boundary_goes_to_test() -> None:
    tx = _tx(
        [("a", "1", "2024-01-01", "x", 1), ("a", "2", "2024-02-01", "y", 1), ("a", "3", "2024-03-01", "z", 1)]
    )
    train, test = split_by_date(tx, "2024-02-01")
    assert train["order_id"].tolist() == ["1"]
    assert test["order_id"].tolist() == ["2", "3"]
    with pytest.raises(DataValidationError, match="both must be non-empty"):
        split_by_date(tx, "2030-01-01")


def test_evaluate_protocols_on_hand_computed_case() -> None:
    # Customer a bought x (2 orders) and y in train; in test buys x and w.
    # Customer b bought w in train only; in test buys z (unknown product).
    train = _tx(
        [
            ("a", "1", "2024-01-01", "x", 1),
            ("a", "2", "2024-01-02", "x", 1),
            ("a", "2", "2024-01-02", "y", 1),
            ("b", "3", "2024-01-03", "w", 1),
            ("c", "4", "2024-01-04", "w", 1),
        ]
    )
    test = _tx(
        [
            ("a", "5", "2024-02-01", "x", 1),
            ("a", "5", "2024-02-01", "w", 1),
            ("b", "6", "2024-02-02", "z", 1),
            ("zz", "7", "2024-02-02", "x", 1),
        ]
    )
    result = evaluate_recommenders({"buy_again": BuyAgainRecommender()}, train, test, k=2).set_index(
        "protocol"
    )
    # all: a gets [x, w?]: x (2 orders) then ties (score 0 for w) broken by popularity -> w (2 customers) first.
    # a: [x, y]? y has score 1 (bought once) > w's 0 -> [x, y]; relevant {x, w}: P = 1/2, R = 1/2.
    # b: [w, x] vs relevant {z}: 0. zz is unknown in train -> not evaluated.
    assert result.loc["all", "n_customers"] == 2
    assert result.loc["all", "precision"] == pytest.approx((0.5 + 0.0) / 2)
    assert result.loc["all", "recall"] == pytest.approx((0.5 + 0.0) / 2)
    assert result.loc["all", "map"] == pytest.approx((1.0 / 2 + 0.0) / 2)  # a: P@1 * 1 / min(2, 2)
    # new: a's relevant = {w} (x already bought); recs exclude x, y -> [w]; b's relevant {z}.
    assert result.loc["new", "n_customers"] == 2
    assert result.loc["new", "precision"] == pytest.approx((0.5 + 0.0) / 2)
    assert result.loc["new", "recall"] == pytest.approx((1.0 + 0.0) / 2)
    assert result.loc["new", "ndcg"] == pytest.approx((1.0 + 0.0) / 2)
    # coverage (all): distinct recommended {x, y, w} of 3 catalogue products
    assert result.loc["all", "coverage"] == pytest.approx(1.0)
    with pytest.raises(DataValidationError, match="protocols must be"):
        evaluate_recommenders({"b": BuyAgainRecommender()}, train, test, protocols=("old",))
