"""The BTYD summary columns follow lifetimes' summary_data_from_transaction_data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features_fixtures import backend, online_retail, transactions_frame
from targetwise.features import customer_features


def lifetimes_summary(lines: pd.DataFrame, observation_end: dt.datetime, freq: str) -> pd.DataFrame:
    """A transcription of lifetimes.utils.summary_data_from_transaction_data (freq_multiplier=1).

    lifetimes: periods = datetime.to_period(freq); one row per (customer, period) with the
    summed monetary value; frequency = periods - 1; recency = last - first; T = end period -
    first; monetary_value = mean over the non-first periods (0 when frequency is 0).
    """
    tx = lines[["customer_id", "ordered_at", "value"]].copy()
    tx["period"] = tx["ordered_at"].dt.to_period(freq)
    per_period = tx.groupby(["customer_id", "period"], as_index=False)["value"].sum().sort_values("period")
    per_period["first"] = ~per_period.duplicated("customer_id", keep="first")
    end = pd.Timestamp(observation_end).to_period(freq)
    grouped = per_period.groupby("customer_id")
    out = pd.DataFrame(
        {
            "frequency": grouped.size() - 1,
            "recency": grouped["period"].agg(lambda p: (p.max() - p.min()).n),
            "T": grouped["period"].agg(lambda p: (end - p.min()).n),
        }
    ).astype("float64")
    repeat_value = per_period[~per_period["first"]].groupby("customer_id")["value"].sum()
    out["monetary_value"] = (repeat_value.reindex(out.index, fill_value=0.0) / out["frequency"]).fillna(0.0)
    return out


def _purchase_lines(transactions: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    keep = (transactions["ordered_at"] < as_of) & ~transactions["is_return"] & ~transactions["is_non_product"]
    lines = transactions[keep].copy()
    lines["value"] = lines["line_amount"]
    return lines


def test_hand_computed_btyd_summary():
    # Purchases on days 0 (twice: one period), 3, 3, 10; as_of on day 14.
    rows = [
        ("K", "1", "2021-03-01 08:00", "P", 1, 10.0, None),
        ("K", "2", "2021-03-01 20:00", "P", 1, 6.0, None),
        ("K", "3", "2021-03-04 09:00", "P", 2, 7.0, None),
        ("K", "4", "2021-03-04 10:00", "P", 1, 4.0, None),
        ("K", "5", "2021-03-11 23:59", "P", 3, 2.0, None),
        ("K", "6", "2021-03-15 00:00", "P", 1, 50.0, None),  # at as_of: not a feature
        ("Z", "7", "2021-03-20 00:00", "P", 1, 1.0, None),
    ]
    frame = customer_features(backend(transactions_frame(rows)), "2021-03-15").to_pandas()
    assert list(frame["customer_id"]) == ["K"]
    k = frame.iloc[0]
    # Periods: 03-01 (16), 03-04 (18), 03-11 (6): frequency 2, recency 10, T 14, value (18 + 6) / 2.
    assert (k.btyd_frequency, k.btyd_recency, k.btyd_T, k.btyd_monetary_value) == (2.0, 10.0, 14.0, 12.0)
    assert k.frequency == 5  # orders, not periods


@pytest.mark.parametrize(("time_unit", "freq"), [("D", "D"), ("W", "W")])
def test_btyd_summary_equals_lifetimes_on_online_retail(time_unit, freq):
    transactions, products = online_retail()
    as_of = dt.datetime(2011, 9, 1)
    ours = (
        customer_features(backend(transactions, products), as_of, time_unit=time_unit)
        .to_pandas()
        .set_index("customer_id")
        .sort_index()
    )
    reference = lifetimes_summary(_purchase_lines(transactions, as_of), as_of, freq).sort_index()
    assert list(ours.index) == list(reference.index)
    assert len(ours) == 68
    for ours_name, ref_name in [
        ("btyd_frequency", "frequency"),
        ("btyd_recency", "recency"),
        ("btyd_T", "T"),
    ]:
        np.testing.assert_array_equal(ours[ours_name].to_numpy(), reference[ref_name].to_numpy())
    np.testing.assert_allclose(ours["btyd_monetary_value"], reference["monetary_value"], rtol=1e-9)
    assert (ours["btyd_frequency"] > 0).sum() > 30  # the sample has many repeat buyers
