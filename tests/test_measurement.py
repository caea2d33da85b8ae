"""Post-campaign measurement: Newcombe's published intervals, Welch vs SciPy, totals, segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targetwise.campaigns.measurement import (
    measure_campaign,
    newcombe_interval,
    welch_interval,
    wilson_interval,
)
from targetwise.errors import ConfigError, DataValidationError, SchemaError


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_published_value() -> None:
    # Newcombe (1998) companion paper (Stat Med 17:857-872) Table I: 81/263 -> 0.2553 to 0.3662
    assert tuple(round(v, 4) for v in wilson_interval(81, 263)) == (0.2553, 0.3662)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    treated, control = rng.exponential(5.0, 80), rng.exponential(3.0, 120)
    difference, low, high = welch_interval(treated, control, confidence=0.9)
    reference = stats.ttest_ind(treated, control, equal_var=False).confidence_interval(confidence_level=0.9)
    assert difference == pytest.approx(treated.mean() - control.mean())
    assert (low, high) == pytest.approx((reference.low, reference.high))


def _exposures() -> pd.DataFrame:
    # arm "email": 56/70 converted, revenue 10 each for converters; holdout: 48/80, revenue 5 each
    rows = []
    for i in range(70):
        rows.append((f"t{i}", "email", int(i < 56), 10.0 * (i < 56), "new" if i < 35 else "old"))
    for i in range(80):
        rows.append((f"c{i}", "control", int(i < 48), 5.0 * (i < 48), "new" if i < 40 else "old"))
    return pd.DataFrame(rows, columns=["customer_id", "arm", "converted", "revenue", "segment"])


def test_measure_campaign_overall_and_totals() -> None:
    result = measure_campaign(_exposures()).results
    overall = result[result["segment"] == "all"].iloc[0]
    assert overall["arm"] == "email" and overall["n_treated"] == 70 and overall["n_control"] == 80
    assert overall["incremental_conversion_rate"] == pytest.approx(56 / 70 - 48 / 80)
    assert (round(overall["icr_low"], 4), round(overall["icr_high"], 4)) == (0.0524, 0.3339)
    assert overall["incremental_revenue_per_customer"] == pytest.approx(8.0 - 3.0)
    treated = np.r_[np.full(56, 10.0), np.zeros(14)]
    control = np.r_[np.full(48, 5.0), np.zeros(32)]
    ci = stats.ttest_ind(treated, control, equal_var=False).confidence_interval(0.95)
    assert (overall["irpc_low"], overall["irpc_high"]) == pytest.approx((ci.low, ci.high))
    # totals scale the per-customer differences to the 70 treated customers
    assert overall["incremental_conversions"] == pytest.approx(70 * (0.8 - 0.6))
    assert overall["incremental_conversions_low"] == pytest.approx(70 * overall["icr_low"])
    assert overall["incremental_revenue"] == pytest.approx(350.0)


def test_measure_campaign_by_segment() -> None:
    result = measure_campaign(_exposures()).results
    assert result["segment"].tolist() == ["all", "new", "old"]
    new = result[result["segment"] == "new"].iloc[0]
    # new: treated rows 0-34 all converted (35/35); control rows 0-39 all converted (40/40)
    assert new["conversion_rate_treated"] == 1.0 and new["conversion_rate_control"] == 1.0
    assert new["incremental_conversion_rate"] == 0.0
    old = result[result["segment"] == "old"].iloc[0]
    assert old["conversion_rate_treated"] == pytest.approx(21 / 35)
    assert old["conversion_rate_control"] == pytest.approx(8 / 40)
    assert old["n_treated"] + new["n_treated"] == 70


def test_multiple_arms_and_skipped_segments() -> None:
    frame = _exposures()
    frame.loc[frame.index[:3], "arm"] = "sms"
    frame.loc[frame.index[:3], "segment"] = "tiny"
    result = measure_campaign(frame).results
    assert set(result["arm"]) == {"email", "sms"}
    assert "tiny/email" in result.attrs["skipped_segments"]


def test_errors() -> None:
    frame = _exposures()
    with pytest.raises(SchemaError, match="lacks column"):
        measure_campaign(frame.drop(columns=["revenue"]))
    with pytest.raises(DataValidationError, match="control_label"):
        measure_campaign(frame, control_label="holdout")
    with pytest.raises(DataValidationError, match="more than once"):
        measure_campaign(pd.concat([frame, frame.head(1)]))
    with pytest.raises(DataValidationError, match="converted"):
        measure_campaign(frame.assign(converted=2))
    with pytest.raises(DataValidationError, match="revenue"):
        measure_campaign(frame.assign(revenue=np.nan))
    with pytest.raises(DataValidationError, match="empty"):
        measure_campaign(frame.iloc[:0])
    with pytest.raises(DataValidationError, match="need >= 2"):
        measure_campaign(frame[(frame["arm"] == "control") | (frame["customer_id"] == "t0")])
    with pytest.raises(ConfigError, match="confidence"):
        measure_campaign(frame, confidence=95)


def test_plan_then_measure_recovers_planted_uplift() -> None:
    from targetwise.campaigns.planner import plan_campaign

    rng = np.random.default_rng(21)
    n = 20_000
    true_uplift = np.where(rng.random(n) < 0.5, 0.10, -0.05)
    ids = pd.Index([f"k{i}" for i in range(n)], name="customer_id")
    plan = plan_campaign(
        pd.Series(true_uplift, index=ids, name="email"),
        contact_cost=0.0,
        value_per_conversion=1.0,
        holdout_fraction=0.2,
        random_state=0,
    )
    exposed = plan.assignments[plan.assignments["action"] != "not_contacted"]
    contacted = (exposed["action"] == "email").to_numpy()
    converted = (rng.random(len(exposed)) < 0.2 + 0.10 * contacted).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": exposed.index,
            "arm": exposed["action"].to_numpy(),
            "converted": converted,
            "revenue": converted * 30.0,
        }
    )
    row = measure_campaign(frame, control_label="holdout").results.iloc[0]
    assert row["n_treated"] == plan.n_contacted and row["n_control"] == plan.n_holdout
    assert row["icr_low"] < 0.10 < row["icr_high"]
    assert row["incremental_conversion_rate"] == pytest.approx(0.10, abs=0.025)
    assert row["incremental_revenue_per_customer"] == pytest.approx(3.0, abs=0.75)
