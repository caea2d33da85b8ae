"""RFM scores and named segments: hand-computed answers, ties, the score map, an independent
pandas computation on real Online Retail customers, and bad input."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError, DataValidationError, NotFittedError, SchemaError
from targetwise.segment import (
    DEFAULT_SCORE_MAP,
    RFM_SEGMENTS,
    UNASSIGNED,
    RFMSegmenter,
    SegmentationWarning,
)

SAMPLE = Path(__file__).parent / "data" / "online_retail" / "online_retail_sample_100cust.csv"


def hand_table() -> pd.DataFrame:
    """Ten customers; frequency has a tie group of four 1s and a pair of 2s.

    Hand-computed with p = (#below + #equal/2) / 10 and score = max(1, ceil(5 p)):
    recency (lower is better) 5,10,...,365 -> R 5,5,4,4,3,3,2,2,1,1;
    frequency 1 (x4, p=.2) -> 1, 2 (x2, p=.5) -> 3, 3 (p=.65) -> 4, 4 (p=.75) -> 4,
    5 (p=.85) -> 5, 6 (p=.95) -> 5; monetary ranks 1..10 -> 1,1,2,2,3,3,4,4,5,5.
    """
    return pd.DataFrame(
        {
            "customer_id": list("abcdefghij"),
            "recency_days": [5, 10, 20, 30, 40, 60, 90, 120, 200, 365],
            "frequency": [6, 5, 1, 1, 4, 1, 3, 1, 2, 2],
            "monetary_total": [1000.0, 900, 50, 10, 800, 20, 30, 40, 60, 70],
        }
    )


EXPECTED = {
    # id: (rfm_score, segment)  FM = (F + M + 1) // 2
    "a": ("555", "Champions"),
    "b": ("555", "Champions"),
    "c": ("413", "Potential Loyalist"),  # R4, FM 2
    "d": ("411", "Promising"),  # R4, FM 1
    "e": ("344", "Loyal"),  # R3, FM 4
    "f": ("311", "About to Sleep"),  # R3, FM 1
    "g": ("242", "At Risk"),  # R2, FM 3
    "h": ("212", "Hibernating"),  # R2, FM 2
    "i": ("133", "At Risk"),  # R1, FM 3
    "j": ("134", "At Risk"),  # R1, FM 4
}


def test_hand_computed_scores_and_segments():
    out = RFMSegmenter().fit_transform(hand_table())
    assert list(out.index) == list("abcdefghij")
    assert out["rfm_score"].to_dict() == {k: v[0] for k, v in EXPECTED.items()}
    assert out["rfm_segment"].to_dict() == {k: v[1] for k, v in EXPECTED.items()}
    assert out["f_score"].tolist() == [5, 5, 1, 1, 4, 1, 4, 1, 3, 3]
    assert out["r_score"].dtype == np.int64


def test_ties_get_equal_scores_whatever_the_ids_and_row_order():
    table = hand_table()
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    renamed = table.assign(customer_id=[f"z{9 - i}" for i in range(10)])
    base = RFMSegmenter().fit_transform(table)
    assert RFMSegmenter().fit_transform(shuffled).loc[base.index].equals(base)
    # the four customers who bought once share F=1 regardless of how their ids sort
    assert set(RFMSegmenter().fit_transform(renamed)["f_score"].iloc[[2, 3, 5, 7]]) == {1}


def test_heavy_tie_group_sits_in_the_bin_of_its_middle():
    # 6 of 10 bought once: p = 0.3 -> F = ceil(1.5) = 2, and F = 1 stays empty (documented)
    table = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(10)],
            "recency_days": range(10),
            "frequency": [1] * 6 + [2, 3, 4, 5],
            "monetary_total": range(10),
        }
    )
    f = RFMSegmenter().fit_transform(table)["f_score"]
    assert f.tolist() == [2] * 6 + [4, 4, 5, 5]


def test_transform_places_new_customers_against_the_fitted_distribution():
    rfm = RFMSegmenter().fit(hand_table())
    new = pd.DataFrame(
        {
            "customer_id": ["x", "y"],
            "recency_days": [0, 1000],
            "frequency": [50, 0],
            "monetary_total": [1e6, -5],
        }
    )
    out = rfm.transform(new)
    assert out.loc["x", "rfm_score"] == "555"
    assert out.loc["y", "rfm_score"] == "111"
    assert out.loc["y", "rfm_segment"] == "Lost"


def test_default_map_covers_every_score_exactly_once_and_matches_the_grid():
    codes = [f"{r}{f}{m}" for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
    owners = {
        c: [s for s, pats in DEFAULT_SCORE_MAP.items() if any(re.fullmatch(p, c) for p in pats)]
        for c in codes
    }
    assert all(len(v) == 1 for v in owners.values())
    assert set(DEFAULT_SCORE_MAP) == set(RFM_SEGMENTS)
    spot_checks = {
        "555": "Champions",
        "534": "Champions",
        "533": "Potential Loyalist",
        "511": "New",
        "512": "Potential Loyalist",
        "411": "Promising",
        "445": "Loyal",
        "333": "Need Attention",
        "321": "About to Sleep",
        "322": "About to Sleep",
        "323": "Need Attention",
        "255": "Cannot Lose Them",
        "145": "Cannot Lose Them",
        "144": "At Risk",
        "221": "Hibernating",
        "111": "Lost",
        "122": "Lost",
        "123": "At Risk",
    }
    assert {c: owners[c][0] for c in spot_checks} == spot_checks


def test_score_map_override_dict_and_callable():
    table = hand_table()
    # first matching segment wins: a, b are VIP (555) although "[45].." matches them too
    with pytest.warns(SegmentationWarning, match="4 customer"):
        out = RFMSegmenter(
            score_map={"VIP": [r"5[45][45]"], "Recent": [r"[45].."], "Lapsing": r"3.."}
        ).fit_transform(table)
    assert out["rfm_segment"].tolist() == ["VIP"] * 2 + ["Recent"] * 2 + ["Lapsing"] * 2 + [UNASSIGNED] * 4

    def by_recency(scores: pd.DataFrame) -> np.ndarray:
        return np.where(scores["r_score"] >= 4, "active", "inactive")

    out = RFMSegmenter(score_map=by_recency).fit_transform(table)
    assert out["rfm_segment"].tolist() == ["active"] * 4 + ["inactive"] * 6


def test_other_bin_counts_with_their_own_map():
    table = hand_table()
    out = RFMSegmenter(n_bins=2, score_map={"top": ["2.."], "rest": [".*"]}).fit_transform(table)
    # halves on recency: p=(i-.5)/10, score = ceil(2p) -> first five 2
    assert out["r_score"].tolist() == [2] * 5 + [1] * 5
    assert out["rfm_segment"].tolist() == ["top"] * 5 + ["rest"] * 5


def test_fewer_customers_than_bins_warns_and_keeps_the_scale():
    table = hand_table().iloc[:3]
    with pytest.warns(SegmentationWarning, match="only 3 customer"):
        out = RFMSegmenter().fit_transform(table)
    # p = 1/6, 1/2, 5/6 -> ceil(5p) = 1, 3, 5 (monetary ascending: c, b, a)
    assert out["m_score"].tolist() == [5, 3, 1]
    assert out["r_score"].tolist() == [5, 3, 1]


def test_customer_id_as_index_is_accepted_and_left_untouched():
    by_index = RFMSegmenter().fit_transform(hand_table().set_index("customer_id"))
    assert by_index["rfm_score"].equals(RFMSegmenter().fit_transform(hand_table())["rfm_score"])
    numeric_ids = hand_table().assign(customer_id=range(10, 20)).set_index("customer_id")
    out = RFMSegmenter().fit_transform(numeric_ids)
    assert out.index.tolist() == [str(i) for i in range(10, 20)]  # ids are text, as in the schema
    assert numeric_ids.index.dtype == np.int64  # the caller's frame keeps its own index


def test_bad_input_raises_clear_errors():
    table = hand_table()
    nan_table = table.astype({"frequency": float})
    nan_table.loc[3, "frequency"] = np.nan
    with pytest.raises(DataValidationError, match=r"'frequency' has 1 missing value"):
        RFMSegmenter().fit(nan_table)
    with pytest.raises(SchemaError, match=r"needs column\(s\) \['monetary_total'\]"):
        RFMSegmenter().fit(table.drop(columns="monetary_total"))
    with pytest.raises(SchemaError, match="no 'customer_id'"):
        RFMSegmenter().fit(table.drop(columns="customer_id"))
    with pytest.raises(DataValidationError, match="1 duplicate"):
        RFMSegmenter().fit(pd.concat([table, table.iloc[[0]]]))
    with pytest.raises(DataValidationError, match="empty"):
        RFMSegmenter().fit(table.iloc[:0])
    with pytest.raises(ConfigError, match="defined for n_bins=5"):
        RFMSegmenter(n_bins=4).fit(table)
    with pytest.raises(ConfigError, match="from 2 to 9"):
        RFMSegmenter(n_bins=10).fit(table)
    with pytest.raises(ConfigError, match="not a valid regex"):
        RFMSegmenter(score_map={"bad": ["5[4"]}).fit(table)
    with pytest.raises(DataValidationError, match="must be numeric"):
        RFMSegmenter().fit(table.assign(frequency=table["frequency"].astype(str)))
    with pytest.raises(NotFittedError, match="not fitted"):
        RFMSegmenter().transform(table)


# ------------------------------------------------------------------ independent check on real data


def _independent_segment_counts(per_customer: pd.DataFrame) -> dict[str, int]:
    """Scores by pandas average ranks and the documented R-vs-FM grid, written without the library."""
    n = len(per_customer)

    def score(values: pd.Series) -> pd.Series:
        mid = (values.rank(method="average") - 0.5) / n
        return np.maximum(1, np.ceil(5 * mid - 1e-12)).astype(int)

    r = score(-per_customer["recency_days"])
    f = score(per_customer["frequency"])
    m = score(per_customer["monetary_total"])
    fm = np.floor((f + m) / 2 + 0.5).astype(int)

    def segment(r: int, fm: int) -> str:
        if r == 5:
            return "New" if fm == 1 else "Potential Loyalist" if fm <= 3 else "Champions"
        if r == 4:
            return "Promising" if fm == 1 else "Potential Loyalist" if fm <= 3 else "Loyal"
        if r == 3:
            return "About to Sleep" if fm <= 2 else "Need Attention" if fm == 3 else "Loyal"
        if fm == 5:
            return "Cannot Lose Them"
        if fm >= 3:
            return "At Risk"
        return "Hibernating" if r == 2 else "Lost"

    def hold_order_counts(name: str, r: int, orders: int) -> str:
        """New = one order; Champions and Loyal = two or more (the documented checks)."""
        if name == "New" and orders > 1:
            return "Promising"
        if name == "Champions" and orders <= 1:
            return "New"
        if name == "Loyal" and orders <= 1:
            return "Potential Loyalist" if r == 4 else "Need Attention"
        return name

    names = [
        hold_order_counts(segment(a, b), a, n)
        for a, b, n in zip(r, fm, per_customer["frequency"], strict=True)
    ]
    return pd.Series(names).value_counts().to_dict()


def _raw_lines() -> pd.DataFrame:
    lines = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False, na_values=[""])
    lines = lines.dropna(subset=["CustomerID"]).copy()
    lines["InvoiceDate"] = pd.to_datetime(lines["InvoiceDate"])
    lines["Quantity"] = lines["Quantity"].astype(int)
    lines["UnitPrice"] = lines["UnitPrice"].astype(float)
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    return lines


def test_online_retail_segment_counts_match_an_independent_pandas_computation():
    """R/F/M from raw lines in plain pandas (purchases = non-cancelled invoices, money = net of
    cancellations), scored and mapped independently; RFMSegmenter on the same R/F/M must agree."""
    lines = _raw_lines()
    as_of = lines["InvoiceDate"].max().normalize() + pd.Timedelta(days=1)
    purchases = lines[~lines["InvoiceNo"].str.startswith("C")]
    table = purchases.groupby("CustomerID").agg(
        last=("InvoiceDate", "max"), frequency=("InvoiceNo", "nunique")
    )
    table["recency_days"] = (as_of - table["last"]).dt.total_seconds() / 86400
    table["monetary_total"] = lines.groupby("CustomerID")["amount"].sum().reindex(table.index)
    expected = _independent_segment_counts(table)
    # one of the 100 sampled customers only has cancellations: no purchase, no RFM row
    assert len(table) == 99 and sum(expected.values()) == 99
    got = RFMSegmenter().fit_transform(table.rename_axis("customer_id"))
    assert got["rfm_segment"].value_counts().to_dict() == expected
    assert len(expected) >= 7  # a real sample exercises most segments
    # near-quintiles: each R score holds 20 +/- 5 customers (recency ties are rare)
    assert all(15 <= c <= 25 for c in got["r_score"].value_counts())
    assert math.isclose(got["r_score"].mean(), 3.0, abs_tol=0.1)


def test_online_retail_rfm_on_the_targetwise_feature_table_matches_pandas():
    """The same check end to end: targetwise.features on an in-memory DuckDB of the sample, then
    RFMSegmenter, against pandas following the feature definitions (non-product codes excluded,
    returns = negative quantity or a 'C' invoice, money net of returns)."""
    import duckdb

    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.schema import DEFAULT_NON_PRODUCT_CODES, TABLES, ddl

    lines = _raw_lines()
    is_return = (lines["Quantity"] < 0) | lines["InvoiceNo"].str.startswith("C")
    non_product = lines["StockCode"].isin(DEFAULT_NON_PRODUCT_CODES)
    canonical = pd.DataFrame(
        {
            "customer_id": lines["CustomerID"],
            "order_id": lines["InvoiceNo"],
            "ordered_at": lines["InvoiceDate"],
            "product_id": lines["StockCode"],
            "quantity": lines["Quantity"].astype("int64"),
            "unit_price": lines["UnitPrice"],
            "is_return": is_return,
            "is_non_product": non_product,
            "line_amount": lines["amount"],
        }
    )
    con = duckdb.connect()
    con.execute(ddl(TABLES["transactions"]))
    con.register("incoming", canonical)
    stored = [c for c in canonical.columns if c in {s.name for s in TABLES["transactions"].stored_columns}]
    con.execute(f"INSERT INTO transactions ({', '.join(stored)}) SELECT {', '.join(stored)} FROM incoming")
    features = customer_features(open_duckdb(con), "2011-12-09").to_pandas()

    as_of = pd.Timestamp("2011-12-09")
    purchase = lines[~is_return & ~non_product]
    table = purchase.groupby("CustomerID").agg(
        last=("InvoiceDate", "max"), frequency=("InvoiceNo", "nunique")
    )
    table["recency_days"] = (as_of - table["last"]).dt.total_seconds() / 86400
    table["monetary_total"] = lines[~non_product].groupby("CustomerID")["amount"].sum().reindex(table.index)
    assert sorted(features["customer_id"]) == sorted(table.index)
    expected = _independent_segment_counts(table)
    got = RFMSegmenter().fit_transform(features)
    assert got["rfm_segment"].value_counts().to_dict() == expected


# ------------------------------------------------------------------ names that hold for their members (issue 19)


def test_new_means_one_recent_order_and_champions_and_loyal_mean_repeat_orders():
    # few one-order customers: F=1 also holds the two-order customer "b", recent and small -> "511"
    few = pd.DataFrame(
        {
            "customer_id": list("abcdefghij"),
            "recency_days": [1, 2, 20, 30, 40, 60, 90, 120, 200, 365],
            "frequency": [1, 2, 9, 8, 7, 6, 5, 4, 3, 2],
            "monetary_total": [5.0, 6, 900, 800, 700, 600, 500, 400, 300, 200],
        }
    )
    out = RFMSegmenter().fit_transform(few)
    assert out.loc["a", "rfm_score"] == "511" and out.loc["a", "rfm_segment"] == "New"
    assert out.loc["b", "rfm_score"] == "511" and out.loc["b", "rfm_segment"] == "Promising"
    # six of ten bought once (F=2 for all of them): a big first order reaches FM 4
    many = pd.DataFrame(
        {
            "customer_id": list("abcdefghij"),
            "recency_days": [1, 2, 20, 30, 40, 60, 90, 120, 200, 365],
            "frequency": [1, 5, 1, 4, 1, 1, 3, 1, 2, 1],
            "monetary_total": [1000.0, 10, 900, 20, 800, 30, 40, 50, 60, 70],
        }
    )
    out = RFMSegmenter().fit_transform(many)
    assert out.loc[["a", "c", "e"], "rfm_score"].tolist() == ["525", "425", "324"]
    assert out.loc["a", "rfm_segment"] == "New"  # not "Champions": one order
    assert out.loc["c", "rfm_segment"] == "Potential Loyalist"  # not "Loyal"
    assert out.loc["e", "rfm_segment"] == "Need Attention"  # not "Loyal"
    # a custom score map is taken as written
    custom = RFMSegmenter(score_map={"Champions": [r"5.."], "Rest": [r".*"]}).fit_transform(many)
    assert custom.loc["a", "rfm_segment"] == "Champions"


@pytest.mark.parametrize("one_order_share", [0.1, 0.55])
def test_every_member_fits_the_order_count_its_rfm_name_claims(one_order_share):
    rng = np.random.default_rng(7)
    n = 2000
    once = rng.random(n) < one_order_share
    table = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "recency_days": rng.uniform(0, 365, n),
            "frequency": np.where(once, 1, 2 + rng.poisson(3, n)),
            "monetary_total": rng.lognormal(4, 1, n) * np.where(once, 3.0, 1.0),
        }
    )
    out = RFMSegmenter().fit_transform(table)
    orders = table.set_index("customer_id")["frequency"]
    segment = out["rfm_segment"]
    assert (orders[segment == "New"] == 1).all() and (segment == "New").sum() > 0
    assert (orders[segment.isin(["Champions", "Loyal"])] >= 2).all()
    assert (out.loc[segment == "New", "r_score"] == 5).all()
    # the grid moved someone: the scores alone would have broken a name
    grid = out["rfm_score"].map({c: s for s, codes in DEFAULT_SCORE_MAP.items() for c in codes})
    assert (grid != segment).sum() > 0
    assert set(segment) <= set(RFM_SEGMENTS)
