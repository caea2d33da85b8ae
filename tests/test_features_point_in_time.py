"""No leakage: nothing at or after the cutoff changes any feature; nothing before it changes a label window."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features_fixtures import AS_OF, HAND_CATEGORIES, HAND_ROWS, backend, products_frame, transactions_frame
from targetwise.features import customer_features, labels

BASE = transactions_frame(HAND_ROWS)
BEFORE = BASE[BASE["ordered_at"] < AS_OF]
PRODUCTS = products_frame(HAND_CATEGORIES)
CHANNELS = ("store", "web")

future_line = st.tuples(
    st.sampled_from(["A", "B", "C", "E", "NEW"]),  # customers
    st.sampled_from(["A1", "B2", "F1", "F2", "CF3"]),  # order ids, some reused from before the cutoff
    st.integers(min_value=0, max_value=60 * 86_400),  # seconds at/after as_of
    st.sampled_from(["P1", "P2", "P3", "P9", "POST"]),
    st.integers(min_value=-5, max_value=20).filter(lambda q: q != 0),
    st.floats(min_value=0.01, max_value=500, allow_nan=False),
    st.sampled_from(["web", "store", "app", None]),
)


def _features(transactions: pd.DataFrame) -> pd.DataFrame:
    table = customer_features(backend(transactions, PRODUCTS), AS_OF, channels=CHANNELS)
    return table.to_pandas().sort_values("customer_id").reset_index(drop=True)


REFERENCE = None
_LABELS: list[pd.DataFrame] = []


def _reference_labels() -> pd.DataFrame:
    if not _LABELS:
        _LABELS.append(
            labels(backend(BASE), AS_OF, horizon_days=30).to_pandas().set_index("customer_id").sort_index()
        )
    return _LABELS[0]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(future_line, min_size=1, max_size=12))
def test_rows_at_or_after_the_cutoff_change_no_feature(future_rows):
    global REFERENCE
    if REFERENCE is None:
        REFERENCE = _features(BASE)
    future = transactions_frame(
        [
            (c, o, AS_OF + dt.timedelta(seconds=s), p, q, round(price, 2), ch)
            for c, o, s, p, q, price, ch in future_rows
        ]
    )
    # Every original line at/after the cutoff is dropped or replaced (altered), new ones appended.
    altered = pd.concat([BEFORE, future], ignore_index=True)
    pd.testing.assert_frame_equal(_features(altered), REFERENCE, check_exact=True)


@settings(max_examples=5, deadline=None)
@given(st.integers(min_value=1, max_value=29 * 86_400), st.integers(min_value=1, max_value=9))
def test_rows_before_the_cutoff_change_no_label_window_outcome(seconds_before, quantity):
    """Adding a purchase before the cutoff for a known customer leaves that customer's labels unchanged."""
    extra = transactions_frame(
        [("A", "EXTRA", AS_OF - dt.timedelta(seconds=seconds_before), "P3", quantity, 2.5, "web")]
    )
    before = _reference_labels()
    after = labels(backend(pd.concat([BASE, extra], ignore_index=True)), AS_OF, horizon_days=30).to_pandas()
    after = after.set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(after, before, check_exact=True)
