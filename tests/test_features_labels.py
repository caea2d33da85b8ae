"""Labels after the cutoff and rolling-origin snapshots: known answers and errors."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features_fixtures import AS_OF, HAND_CATEGORIES, HAND_ROWS, backend, products_frame, transactions_frame
from targetwise.errors import DataValidationError
from targetwise.features import customer_features, cutoff_grid, label_names, labels, training_snapshots


@pytest.fixture(scope="module")
def hand_backend():
    return backend(transactions_frame(HAND_ROWS), products_frame(HAND_CATEGORIES))


def test_label_known_answers(hand_backend):
    frame = labels(hand_backend, AS_OF, horizon_days=30).to_pandas().set_index("customer_id").sort_index()
    assert list(frame.reset_index().columns) == label_names(30)
    assert list(frame.index) == ["A", "B", "E"]  # the feature population; C bought only after as_of
    # A: A7 exactly at as_of (5.0) and A6 on 02-05 (30.0) are inside [01-31, 03-02).
    assert frame.loc["A", "purchased_within_30d"]
    assert not frame.loc["A", "churned_30d"]
    assert frame.loc["A", "spend_within_30d"] == 35.0
    assert frame.loc["A", "days_to_next_order"] == 0.0
    # E: next purchase 03-10 12:00, after the 30-day window but inside the data.
    assert not frame.loc["E", "purchased_within_30d"] and frame.loc["E", "churned_30d"]
    assert frame.loc["E", "spend_within_30d"] == 0.0
    assert frame.loc["E", "days_to_next_order"] == 38.5
    # B: nothing after as_of: censored at observed_until, not "never".
    assert pd.isna(frame.loc["B", "days_to_next_order"])
    assert frame.loc["B", "churned_30d"]
    assert (frame["observed_until"] == pd.Timestamp("2021-03-10 12:00")).all()


def test_label_window_is_half_open():
    rows = [
        ("A", "1", "2021-01-10 00:00", "P1", 1, 1.0, None),
        ("A", "2", "2021-01-20 00:00:01", "P1", 1, 7.0, None),  # exactly as_of + 10 days: outside
        ("A", "C3", "2021-01-15 00:00", "P1", -1, 1.0, None),  # a return inside the window
        ("A", "4", "2021-01-25 00:00", "P1", 1, 1.0, None),
    ]
    frame = labels(backend(transactions_frame(rows)), "2021-01-10 00:00:01", horizon_days=10).to_pandas()
    a = frame.iloc[0]
    assert not a.purchased_within_10d and a.churned_10d
    assert a.spend_within_10d == -1.0  # net: the return counts, the order at the window end does not
    assert a.days_to_next_order == 10.0


def test_label_window_beyond_the_data_is_an_error(hand_backend):
    with pytest.raises(DataValidationError, match=r"label window .* ends 2021-04-01, after the data ends"):
        labels(hand_backend, AS_OF, horizon_days=60)
    with pytest.raises(DataValidationError, match="horizon_days must be a positive whole number"):
        labels(hand_backend, AS_OF, horizon_days=0)


def test_snapshots_stack_features_and_labels_per_cutoff(hand_backend):
    stacked = training_snapshots(hand_backend, ["2021-01-31", "2021-01-15"], horizon_days=30).to_pandas()
    stacked = stacked.sort_values(["cutoff", "customer_id"]).reset_index(drop=True)
    assert list(stacked.columns[:2]) == ["cutoff", "customer_id"]
    assert stacked["cutoff"].tolist() == [pd.Timestamp("2021-01-15")] * 2 + [pd.Timestamp("2021-01-31")] * 3
    for cutoff, group in stacked.groupby("cutoff"):
        single = customer_features(hand_backend, cutoff, channels=("store", "web")).to_pandas()
        single = single.sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(group[single.columns].reset_index(drop=True), single, check_exact=True)
    early = stacked[stacked["cutoff"] == pd.Timestamp("2021-01-15")].set_index("customer_id")
    # At 01-15, A has 3 purchase orders; the return at 01-15 12:00 is in the label window.
    assert early.loc["A", "frequency"] == 3 and early.loc["A", "returns_value"] == 0.0
    assert early.loc["A", "spend_within_30d"] == -10.0 + 10.0 + 5.0 + 30.0  # CA4, A5, A7, A6
    assert early.loc["A", "days_to_next_order"] == pytest.approx(6 + 10 / 24, rel=1e-12)


def test_cutoff_grid():
    assert cutoff_grid(("2021-01-01", "2021-01-31", 10)) == [
        dt.datetime(2021, 1, 1),
        dt.datetime(2021, 1, 11),
        dt.datetime(2021, 1, 21),
        dt.datetime(2021, 1, 31),
    ]
    assert cutoff_grid(["2021-02-01", dt.date(2021, 1, 1)]) == [
        dt.datetime(2021, 1, 1),
        dt.datetime(2021, 2, 1),
    ]
    with pytest.raises(DataValidationError, match="step_days must be >= 1"):
        cutoff_grid(("2021-01-01", "2021-01-31", 0))
    with pytest.raises(DataValidationError, match="no cutoffs given"):
        cutoff_grid([])


def test_snapshot_cutoff_outside_the_data_is_an_error(hand_backend):
    with pytest.raises(DataValidationError, match="outside the data range"):
        training_snapshots(hand_backend, ("2020-12-01", "2021-01-31", 30), horizon_days=30)
