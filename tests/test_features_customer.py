"""Known-answer tests for customer features on hand-built customers (DuckDB)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features_fixtures import AS_OF, HAND_CATEGORIES, HAND_ROWS, backend, products_frame, transactions_frame
from targetwise.errors import ConfigError, DataValidationError
from targetwise.features import (
    FEATURE_COLUMNS,
    compute_features,
    customer_features,
    feature_reference_markdown,
)
from targetwise.features.columns import feature_names


@pytest.fixture(scope="module")
def hand_backend():
    return backend(transactions_frame(HAND_ROWS), products_frame(HAND_CATEGORIES))


@pytest.fixture(scope="module")
def hand_features(hand_backend) -> pd.DataFrame:
    frame = customer_features(hand_backend, AS_OF).to_pandas()
    return frame.set_index("customer_id").sort_index()


def test_population_is_customers_with_a_purchase_strictly_before_as_of(hand_features):
    # C has only a return before as_of; A's order exactly at as_of does not count.
    assert list(hand_features.index) == ["A", "B", "E"]
    assert list(hand_features.reset_index().columns) == feature_names(("store", "web"))


def test_customer_a_known_answers(hand_features):
    a = hand_features.loc["A"]
    # Purchase orders A1 (01-01 10:00), A2 (01-01 18:00), A3 (01-11 10:00), A5 (01-21 10:00);
    # CA4 is a return, POST a non-product line, A7 (= as_of) and A6 are after the cutoff.
    assert a.frequency == 4
    assert a.recency_days == pytest.approx(9 + 14 / 24, rel=1e-12)
    assert a.tenure_days == pytest.approx(29 + 14 / 24, rel=1e-12)
    assert a.returns_value == 10.0
    assert a.monetary_total == 45.0  # 25 + 10 + 10 + 10 - 10
    assert a.monetary_mean == 11.25
    assert a.returns_rate == pytest.approx(10 / 55, rel=1e-12)
    gaps = [8 / 24, 9 + 16 / 24, 10.0]
    assert a.ipi_mean_days == pytest.approx(20 / 3, rel=1e-12)
    assert a.ipi_std_days == pytest.approx(statistics.stdev(gaps), rel=1e-12)
    assert (a.orders_30d, a.orders_90d, a.orders_365d) == (4, 4, 4)
    assert a.trend_90d == 1.0
    assert a.basket_size_mean == 2.5  # units 3 + 1 + 4 + 2 over 4 orders
    assert a.lines_per_order_mean == 1.25  # POST line excluded
    assert a.distinct_products == 3
    assert a.distinct_categories == 2
    assert a.top_category == "kitchen"
    assert a.top_category_share == pytest.approx(45 / 55, rel=1e-12)
    assert a.days_since_first_return == 15.5
    assert a.days_since_last_return == 15.5
    assert a.channel_share_web == 0.75
    assert a.channel_share_store == 0.25
    # BTYD, days: purchase days 01-01 (35), 01-11 (10), 01-21 (10); as_of day 01-31.
    assert (a.btyd_frequency, a.btyd_recency, a.btyd_T, a.btyd_monetary_value) == (2.0, 20.0, 30.0, 10.0)


def test_customer_b_single_order_and_uncatalogued_product(hand_features):
    b = hand_features.loc["B"]
    assert b.frequency == 1  # the postage-only order B1 is not a purchase order
    assert b.recency_days == 0.5 and b.tenure_days == 0.5
    assert b.monetary_total == 100.0 and b.returns_value == 0.0 and b.returns_rate == 0.0
    assert (b.btyd_frequency, b.btyd_recency, b.btyd_T, b.btyd_monetary_value) == (0.0, 0.0, 1.0, 0.0)
    assert pd.isna(b.ipi_mean_days) and pd.isna(b.ipi_std_days)
    assert b.distinct_products == 1 and b.distinct_categories == 0
    assert pd.isna(b.top_category) and pd.isna(b.top_category_share)
    assert pd.isna(b.days_since_first_return) and pd.isna(b.days_since_last_return)
    assert b.channel_share_store == 1.0 and b.channel_share_web == 0.0


def test_weekly_btyd_units_use_monday_weeks(hand_backend):
    frame = customer_features(hand_backend, AS_OF, time_unit="W").to_pandas().set_index("customer_id")
    a = frame.loc["A"]
    # Weeks starting Monday: 2020-12-28 (01-01), 01-11 (01-11), 01-18 (01-21); as_of in week of 01-25.
    assert (a.btyd_frequency, a.btyd_recency, a.btyd_T, a.btyd_monetary_value) == (2.0, 3.0, 4.0, 10.0)
    # Non-BTYD columns do not depend on the unit.
    assert a.recency_days == pytest.approx(9 + 14 / 24, rel=1e-12)


def test_windows_and_trend_count_only_their_window():
    rows = [
        ("X", "X1", "2020-06-01 00:00", "P1", 1, 1.0, None),  # 244 days before as_of
        ("X", "X2", "2020-09-15 00:00", "P1", 1, 1.0, None),  # 138 days: previous 90-day window
        ("X", "X3", "2020-10-01 00:00", "P1", 1, 1.0, None),  # 122 days: previous window
        ("X", "X4", "2021-01-05 00:00", "P1", 1, 1.0, None),  # 26 days
        ("X", "X5", "2021-03-01 00:00", "P1", 1, 1.0, None),
    ]
    frame = customer_features(backend(transactions_frame(rows)), AS_OF).to_pandas()
    x = frame.iloc[0]
    assert (x.orders_30d, x.orders_90d, x.orders_365d) == (1, 1, 4)
    assert x.trend_90d == pytest.approx((1 - 2) / (1 + 2))
    assert x.distinct_categories == 0 and pd.isna(x.top_category)  # no products table at all
    assert "channel_share_web" not in frame.columns  # channel column empty -> no share columns


def test_feature_reference_documents_every_output_column(hand_features):
    markdown = feature_reference_markdown()
    for name in hand_features.reset_index().columns:
        documented = "channel_share_<channel>" if name.startswith("channel_share_") else name
        assert f"`{documented}`" in markdown
    assert all(column.unit for column in FEATURE_COLUMNS)


@pytest.mark.parametrize("as_of", ["2020-12-31", "2021-01-01 10:00"])
def test_as_of_outside_the_data_range_is_one_clear_error(hand_backend, as_of):
    with pytest.raises(DataValidationError, match="outside the data range"):
        customer_features(hand_backend, as_of)


def test_as_of_after_the_last_order_is_accepted(hand_backend):
    # the data ends 2021-03-10 12:00 (customer E); a cutoff 20 days later is a nightly run after quiet days
    frame = customer_features(hand_backend, "2021-03-30").to_pandas().set_index("customer_id")
    assert frame.loc["E", "recency_days"] == pytest.approx(19.5)  # the quiet days count as recency


def test_bad_time_unit_and_bad_date(hand_backend):
    with pytest.raises(ConfigError, match="unknown time_unit 'M'"):
        customer_features(hand_backend, AS_OF, time_unit="M")
    with pytest.raises(DataValidationError, match="must be a date or timestamp"):
        customer_features(hand_backend, "first of June")


def test_timezone_aware_as_of_is_converted_to_utc(hand_backend):
    aware = pd.Timestamp("2021-01-30 19:00", tz="America/New_York")  # = 2021-01-31 00:00 UTC
    frame = customer_features(hand_backend, aware).to_pandas().set_index("customer_id")
    assert frame.loc["A"].recency_days == pytest.approx(9 + 14 / 24, rel=1e-12)


_TZ_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from features_fixtures import HAND_ROWS, HAND_CATEGORIES, load_duckdb, transactions_frame, products_frame
from targetwise.features import compute_features
frame = compute_features(load_duckdb(transactions_frame(HAND_ROWS), products_frame(HAND_CATEGORIES)), "2021-01-31")
print(json.dumps(frame.drop(columns=["top_category"]).to_dict(orient="list")))
"""


def test_host_time_zone_does_not_shift_values(hand_backend):
    """Run the same computation in a process whose TZ is America/New_York."""
    env = {**os.environ, "TZ": "America/New_York"}
    script = _TZ_SCRIPT.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shifted = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))
    here = compute_features(hand_backend, AS_OF).drop(columns=["top_category"])
    pd.testing.assert_frame_equal(shifted, here, check_dtype=False, check_exact=True)
