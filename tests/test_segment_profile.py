"""Segment profiles, generated names and per-customer reasons: hand-computed and planted answers."""

from __future__ import annotations

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


def test_names_come_from_the_largest_deviations():
    scaled, labels = _three_clusters()
    # deviations in sd units: c0 freq +1.39, money +.71; c1 money -1.41, recency +1.22, freq -.46;
    # c2 recency -1.22, freq -.93, money +.71
    assert name_segments(scaled, labels) == {
        0: "Frequent high spenders",
        1: "Low-value lapsed customers",
        2: "Recent one-off buyers",
    }


def test_duplicate_names_are_disambiguated_deterministically():
    scaled, labels = _three_clusters()
    names = name_segments(scaled, labels, reserved=["Frequent high spenders", "Recent one-off buyers"])
    # cluster 0 has no third strong feature -> its id; cluster 2 gets its third feature's adjective
    assert names[0] == "Frequent high spenders (segment 0)"
    assert names[2] == "Recent one-off buyers, high-value"
    assert len(set(names.values())) == 3


def test_typical_and_noise_names():
    values = [1.0, -1.0] * 5 + [5.0, 0.0]
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
