"""Segment profiles, generated names and per-customer reasons: hand-computed and planted answers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import DataValidationError
from targetwise.segment import (
    NOISE_NAME,
    TYPICAL,
    BehaviourClusterer,
    describe_feature,
    explain_customers,
    name_segments,
    profile_segments,
)
from targetwise.segment.profile import name_claims
from targetwise.segment.reasons import UNLIKE


def test_profile_sizes_shares_and_description_by_hand():
    features = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "recency_days": [100.0, 200.0, 300.0, 5.0],
            "frequency": [1, 1, 2, 6],
            "monetary_total": [10.0, 10.0, 20.0, 60.0],
            "ipi_mean_days": [np.nan, np.nan, 30.0, 21.0],
        }
    )
    labels = pd.Series([0, 0, 0, 1], index=features["customer_id"])
    table = profile_segments(features, labels, names={0: "Occasional buyers", 1: "Frequent high spenders"})
    assert list(table.index) == [0, 1]
    assert table["n_customers"].tolist() == [3, 1]
    assert table["customer_share"].tolist() == [0.75, 0.25]
    assert table["revenue_share"].tolist() == pytest.approx([0.4, 0.6])
    assert table.loc[1, "frequency_median"] == 6
    assert table.loc[1, "frequency_vs_overall"] == pytest.approx(6 / 1.5)
    assert table["frequency_overall"].tolist() == [1.5, 1.5]
    assert table.loc[0, "monetary_total_mean"] == pytest.approx(40 / 3)
    assert table.loc[0, "ipi_mean_days_median"] == 30.0  # missing gaps (one-order customers) are skipped
    assert table.loc[1, "description"] == (
        "Frequent high spenders: 25% of customers, 60% of revenue; "
        "typically buy every 21 days, 6 orders, last order 5 days ago"
    )
    assert table.loc[0, "description"].startswith("Occasional buyers: 75% of customers, 40% of revenue; ")
    # its typical customer bought once: no purchase cycle is claimed although c has a 30-day gap
    assert table.loc[0, "description"].endswith("typically 1 order, last order 200 days ago")
    with pytest.raises(DataValidationError, match="1 customer"):
        profile_segments(features, labels.iloc[:3])


def _three_clusters() -> tuple[pd.DataFrame, pd.Series]:
    # cluster means: freq 3/-1/-2, money .5/-1/.5, recency 0/1/-1 (two identical rows each)
    rows = {0: (3.0, 0.5, 0.0), 1: (-1.0, -1.0, 1.0), 2: (-2.0, 0.5, -1.0)}
    scaled = pd.DataFrame(
        [rows[c] for c in (0, 0, 1, 1, 2, 2)],
        columns=["frequency", "monetary_total", "recency_days"],
        index=[f"c{i}" for i in range(6)],
    )
    return scaled, pd.Series([0, 0, 1, 1, 2, 2], index=scaled.index)


def test_names_come_from_the_largest_deviations_of_the_medians():
    scaled, labels = _three_clusters()
    # robust deviations, (segment median - overall median) / (IQR / 1.349), pandas' linear quantiles:
    # freq: median -1, IQR 2 - (-1.75) = 3.75 -> c0 +1.44, c1 0, c2 -.36
    # money: median .5, IQR .5 - (-.625) = 1.125 -> c0 0, c1 -1.80, c2 0
    # recency: median 0, IQR 1.5 -> c0 0, c1 +.90, c2 -.90
    # c0's money median equals the overall one: not named "high spenders" (its mean was above)
    assert name_segments(scaled, labels) == {
        0: "Frequent customers",
        1: "Low-value lapsed customers",
        2: "Recent infrequent buyers",
    }


def test_duplicate_names_are_disambiguated_deterministically():
    scaled, labels = _three_clusters()
    scaled.loc[["c4", "c5"], "monetary_total"] = 3.0
    # money now: median .5, IQR 2.375 - (-.625) = 3 -> c0 0, c1 -.67, c2 +1.12;
    # c2: money +1.12, recency -.90, frequency -.36 -> "High-value recent buyers"
    assert name_segments(scaled, labels)[2] == "High-value recent buyers"
    names = name_segments(scaled, labels, reserved=["Frequent customers", "High-value recent buyers"])
    # cluster 0 has no third strong feature -> its id; cluster 2 gets its third feature's adjective
    assert names[0] == "Frequent customers (segment 0)"
    assert names[2] == "High-value recent buyers, infrequent"
    assert names[1] == "Lapsed low spenders"
    assert len(set(names.values())) == 3


def test_typical_and_noise_names():
    values = [1.0, -1.0] * 5 + [5.0, -5.0]
    scaled = pd.DataFrame({"frequency": values}, index=[f"c{i}" for i in range(12)])
    labels = pd.Series([0] * 10 + [1, -1], index=scaled.index)
    names = name_segments(scaled, labels)
    assert names == {-1: NOISE_NAME, 0: "Typical customers", 1: "Frequent customers"}


def test_describe_feature_phrases():
    assert describe_feature("recency_days", 120.4, 30.0) == "last order 120 days ago vs 30 typical"
    assert describe_feature("monetary_total", 1204, 376) == "spends 3.2x the segment's median (1,204 vs 376)"
    assert describe_feature("monetary_total", 12, 0) == "spends 12 vs 0 typical"
    assert describe_feature("returns_rate", 0.25, 0.05) == "returns 25% of purchases vs 5% typical"
    assert describe_feature("frequency", 14, 3) == "14 orders vs 3 typical"
    assert describe_feature("frequency", 1, 3) == "1 order vs 3 typical"
    assert describe_feature("recency_days", 1.2, 21) == "last order 1 day ago vs 21 typical"
    assert describe_feature("distinct_categories", 1, 4) == "bought from 1 category vs 4 typical"
    assert describe_feature("channel_share_web", 0.9, 0.4) == "channel share web 90% vs 40% typical"
    assert describe_feature("mystery_score", 1.5, 0.25) == "mystery score 1.5 vs 0.25 typical"


def _planted_table() -> pd.DataFrame:
    """Two behaviour groups; in group A customer 'planted' spends 10x the group median, 'median' is typical."""
    a_freq = [8] * 24 + [10, 10] + [12] * 24
    a_money = [90.0] * 24 + [100.0, 100.0] + [110.0] * 24
    a_recency = [5.0] * 24 + [10.0, 10.0] + [15.0] * 24
    b = 50
    rows = {
        "customer_id": [f"a{i:02d}" for i in range(50)] + ["planted"] + [f"b{i:02d}" for i in range(b)],
        "frequency": a_freq + [10] + [1, 2] * (b // 2),
        "monetary_total": a_money + [1000.0] + [15.0, 25.0] * (b // 2),
        "recency_days": a_recency + [10.0] + [280.0, 320.0] * (b // 2),
    }
    frame = pd.DataFrame(rows)
    frame.loc[frame["customer_id"] == "a24", "customer_id"] = "median"
    return frame


def test_reasons_name_the_planted_deviating_feature():
    table = _planted_table()
    columns = ["frequency", "monetary_total", "recency_days"]
    model = BehaviourClusterer(2, features=columns).fit(table)
    assert model.labels_["planted"] == model.labels_["a00"] != model.labels_["b00"]
    reasons = explain_customers(table, model.labels_, scaled=model.scaled_)
    assert reasons.loc["planted", "reason_features"] == "monetary_total"
    assert reasons.loc["planted", "reason"] == "spends 10.0x the segment's median (1,000 vs 100)"
    assert reasons.loc["median", "reason"] == TYPICAL
    # a00 (8 orders, last 5 days ago) sits low on frequency (|z| ~ 1.1 in log space) and recency
    # (|z| ~ 1.0); its spend of 90 is within the spread that the planted outlier widens (|z| < 0.5)
    assert reasons.loc["a00", "reason_features"] == "frequency,recency_days"
    assert reasons.loc["a00", "reason"] == "8 orders vs 10 typical; last order 5 days ago vs 10 typical"


# ----------------------------------------------------------------- names that hold for the members (issue 19)


def test_names_use_the_median_member_not_a_mean_pulled_by_a_few_big_spenders():
    # segment 1: 38 ordinary members and 12 huge spenders; its median member spends like everyone else
    spread = np.linspace(-1.0, 1.0, 50)
    money = np.concatenate([spread, np.linspace(-1.0, 1.0, 38), [100.0] * 12])
    scaled = pd.DataFrame({"monetary_total": money}, index=[f"c{i:03d}" for i in range(100)])
    labels = pd.Series([0] * 50 + [1] * 50, index=scaled.index)
    # the mean deviation, (6.0 - 3.0) / sd, is 0.35 sd: a mean-based name would say "High-value"
    mean_dev = (money[50:].mean() - money.mean()) / money.std()
    assert mean_dev > 0.3
    assert name_segments(scaled, labels) == {0: "Typical customers", 1: "Typical customers (segment 1)"}


def test_one_off_is_only_said_of_a_segment_where_most_members_bought_once():
    orders = np.array([1] * 40 + [2, 3] * 20 + [20] * 90, dtype=float)
    features = pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(170)], "frequency": orders})
    scaled = pd.DataFrame({"frequency": np.log1p(orders)}, index=features["customer_id"])
    labels = pd.Series([0] * 40 + [1] * 40 + [2] * 90, index=scaled.index)
    # both 0 and 1 sit far below the overall median (20 orders); only 0 is made of one-order customers
    names = name_segments(scaled, labels, features=features)
    assert names == {0: "One-off customers", 1: "Infrequent customers", 2: "Typical customers"}
    # without the members' own order counts nobody is called one-off
    assert name_segments(scaled, labels)[0] == "Infrequent customers"


def test_name_claims_reads_what_a_name_says_back():
    columns = ["recency_days", "frequency", "tenure_days", "distinct_products", "returns_rate"]
    assert name_claims("New one-off buyers", columns) == [
        ("frequency", False, "One-off"),
        ("tenure_days", False, "New"),
    ]
    assert name_claims("Recent infrequent buyers (segment 2)", columns) == [
        ("recency_days", False, "Recent"),
        ("frequency", False, "Infrequent"),  # "infrequent" does not also claim "Frequent"
    ]
    assert name_claims("Lapsed explorers, low-return", columns) == [
        ("recency_days", True, "Lapsed"),
        ("distinct_products", True, "explorers"),
        ("returns_rate", False, "Low-return"),
    ]
    assert name_claims("Typical customers", columns) == name_claims("VIP club", columns) == []
    assert name_claims("New one-off buyers", ["recency_days"]) == []  # only the features given


def _one_off_segment() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """A 'New one-off buyers' segment of one-order newcomers with one planted 3-order member, and a
    'Lapsed regulars' segment with one member who ordered last week."""
    n = 30
    table = pd.DataFrame(
        {
            "customer_id": [f"n{i:02d}" for i in range(n)] + [f"l{i:02d}" for i in range(n)],
            "frequency": [1.0] * n + [12.0, 14.0] * (n // 2),
            "tenure_days": [20.0, 30.0] * (n // 2) + [600.0, 700.0] * (n // 2),
            "recency_days": [20.0, 30.0] * (n // 2) + [300.0, 400.0] * (n // 2),
        }
    )
    table.loc[table["customer_id"] == "n05", "frequency"] = 3.0
    table.loc[table["customer_id"] == "l03", "recency_days"] = 7.0
    frame = table.set_index("customer_id")
    scaled = (frame - frame.mean()) / frame.std(ddof=0)
    labels = pd.Series([0] * n + [1] * n, index=frame.index)
    return table, labels, scaled


def test_a_member_who_contradicts_the_name_gets_their_own_facts_first():
    table, labels, scaled = _one_off_segment()
    names = {0: "New one-off buyers", 1: "Lapsed regulars"}
    reasons = explain_customers(table, labels, scaled=scaled, names=names)
    planted = reasons.loc["n05"]
    assert planted["reason"].startswith(f"3 orders vs 1 typical, {UNLIKE}")
    assert planted["reason_features"].split(",")[0] == "frequency"
    assert "one-off" not in planted["reason"].lower()
    # lapsed by name, but ordered 7 days ago (the shop's median is 30 days, the segment's 300)
    assert reasons.loc["l03", "reason"].startswith(f"last order 7 days ago vs 300 typical, {UNLIKE}")
    # members who fit their name are never marked
    others = reasons.drop(index=["n05", "l03"])
    assert not others["reason"].str.contains(UNLIKE).any()
    # without names the reasons are the plain within-segment ones
    plain = explain_customers(table, labels, scaled=scaled)
    assert not plain["reason"].str.contains(UNLIKE).any()
    assert plain.loc["n01", "reason"] == reasons.loc["n01", "reason"]


def test_amounts_in_descriptions_and_reasons_carry_the_currency() -> None:
    from targetwise.segment.reasons import describe_feature

    assert describe_feature("monetary_mean", 616.0, 333.0, currency="£") == (
        "spends per order 1.8x the segment's median (£616 vs £333)"
    )
    assert describe_feature("monetary_total", -12.0, 40.0, currency="€") == "spends -€12 vs €40 typical"
    assert describe_feature("monetary_mean", 616.0, 333.0) == "spends per order 1.8x the segment's median (616 vs 333)"
    features = pd.DataFrame(
        {"monetary_mean": [300.0, 320.0, 340.0, 20.0, 25.0, 30.0], "frequency": [5, 6, 7, 1, 1, 1],
         "monetary_total": [1500.0, 1920.0, 2380.0, 20.0, 25.0, 30.0]},
        index=pd.Index([f"C{i}" for i in range(6)], name="customer_id"),
    )
    labels = pd.Series([0, 0, 0, 1, 1, 1], index=features.index)
    table = profile_segments(features, labels, names={0: "Big", 1: "Small"}, currency="£")
    assert "£320 per order" in table.loc[0, "description"] and "£25 per order" in table.loc[1, "description"]


@pytest.mark.slow
def test_the_pipeline_writes_amounts_in_the_workspace_currency(synthetic_demo) -> None:
    from targetwise.io.runs import RunStore

    run = RunStore(synthetic_demo).active()
    assert synthetic_demo.settings.currency_symbol == "£"
    descriptions = [p["description"] for p in run.read_json("segments/profiles.json")]
    assert all(re.search(r"£[\d,]+ per order", d) for d in descriptions if "per order" in d)
    assert any("per order" in d for d in descriptions)
    reasons = run.read_table("segments/customer_segments.parquet")["reason"]
    money = reasons[reasons.str.contains("spends")]
    assert len(money) > 0 and money.str.contains("£").all()


@pytest.mark.slow
def test_rfm_segment_profiles_on_the_segments_page_carry_the_currency(synthetic_demo) -> None:
    from targetwise.usecases.runs import active_run
    from targetwise.usecases.segments_browse import rfm_profiles

    profiles = rfm_profiles(active_run(synthetic_demo))
    described = [p["description"] for p in profiles if p["description"] and "per order" in p["description"]]
    assert described and all(re.search(r"£[\d,]+ per order", d) for d in described)
