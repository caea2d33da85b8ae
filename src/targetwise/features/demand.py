"""Demand series: net sales and orders per week or day, in total, by category and by segment (Ibis).

Definitions (the docs' "Forecasts" section says the same; every number is point in time: only lines
with ``ordered_at < as_of`` are read):

* Lines are purchase and return lines as in the features: ``is_non_product`` lines (postage, fees,
  discounts) never count. Lines without a customer id (guest orders) are kept apart at ingest
  (``anonymous_transactions``) and are in no series, so the total is the net revenue the overview
  shows, week by week; the segment series cover the segmented customers.
* **net sales**: purchase value minus returned value (``line_amount``, a return's is negative), in the
  shop's currency, summed exactly in integer micro-units (as the features and cohorts do).
* **orders**: distinct orders with at least one purchase line in the series and period (a return
  alone is no order); an order with lines in two categories counts once in each.
* **periods**: weeks run Monday to Sunday, days are UTC days, of ``ordered_at`` as stored. Only
  whole periods are kept: the first period when the data starts after its first day, and the
  period ``as_of`` falls in (or the last one before it, when ``as_of`` is not at a period start),
  are partial and left out; periods without sales are 0.
* **category**: the product's ``products.category`` (one per product: the alphabetically first where
  the catalogue repeats a product); lines of uncategorised products are in no category series.

:func:`demand_aggregates` sends one group-by to the engine per level, so only ``series x periods``
rows come back; :func:`demand_panel` (pandas, over those rows) fills in the grid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from targetwise.features._inputs import MICROS_PER_UNIT, amount_micros, epoch_seconds, timestamp_literal

__all__ = ["DEMAND_LEVELS", "MEASURES", "PERIOD_SECONDS", "demand_aggregates", "demand_panel", "whole_periods"]

DEMAND_LEVELS = ("total", "category", "segment")
MEASURES = ("net_sales", "orders")
PERIOD_SECONDS = {"W": 7 * 86_400, "D": 86_400}
# 1970-01-05 was a Monday: week numbers count from it (as the BTYD features do)
_MONDAY = dt.datetime(1970, 1, 5)
TOTAL_SERIES = "total"


def _period_start(index: int, freq: str) -> dt.datetime:
    origin = _MONDAY if freq == "W" else dt.datetime(1970, 1, 1)
    return origin + dt.timedelta(seconds=index * PERIOD_SECONDS[freq])


def _period_index(moment: dt.datetime, freq: str) -> int:
    origin = _MONDAY if freq == "W" else dt.datetime(1970, 1, 1)
    return (epoch_seconds(moment) - epoch_seconds(origin)) // PERIOD_SECONDS[freq]


def whole_periods(first_line: dt.datetime, as_of: dt.datetime, freq: str) -> tuple[int, int]:
    """``(first, last)`` period index of the whole periods between the first line and ``as_of``.

    The first period is whole when the data starts on its first day; the last one ends at or before
    ``as_of``. ``last < first`` when there is none."""
    first = _period_index(first_line, freq)
    if freq == "W" and first_line.date() != _period_start(first, freq).date():
        first += 1
    last = _period_index(as_of, freq) - 1  # the period as_of falls in is not over (or starts at as_of)
    return first, last


def demand_aggregates(
    transactions: ir.Table,
    *,
    as_of: dt.datetime,
    freq: str,
    products: ir.Table | None = None,
    segments: pd.DataFrame | None = None,
    levels: Sequence[str] = DEMAND_LEVELS,
) -> dict[str, ir.Table]:
    """One engine expression per level with columns ``series, period_index, net_micros, orders``.

    ``products`` (``product_id, category``) gives the category level; ``segments`` (``customer_id,
    segment``) the segment level; a level whose input is missing is left out of the answer."""
    t = transactions.filter(
        transactions.ordered_at < timestamp_literal(as_of), ~transactions.is_non_product.fill_null(False)
    )
    origin = _MONDAY if freq == "W" else dt.datetime(1970, 1, 1)
    seconds = t.ordered_at.epoch_seconds().cast("int64") - epoch_seconds(origin)
    t = t.mutate(
        period_index=(seconds // PERIOD_SECONDS[freq]).cast("int64"),
        micros=amount_micros(t.line_amount),
        purchase=~t.is_return.fill_null(False),
    )

    def aggregate(table: ir.Table, series: ir.Value) -> ir.Table:
        grouped = table.mutate(series=series).group_by(["series", "period_index"])
        return grouped.aggregate(
            net_micros=table.micros.sum().cast("int64"),
            orders=table.order_id.nunique(where=table.purchase).cast("int64"),
        )

    out: dict[str, ir.Table] = {}
    if "total" in levels:
        out["total"] = aggregate(t, ibis.literal(TOTAL_SERIES))
    if "category" in levels and products is not None:
        catalogue = products.filter(products.category.notnull()).group_by("product_id").aggregate(
            category=products.category.cast("string").min()
        )
        joined = t.inner_join(catalogue, t.product_id == catalogue.product_id)
        out["category"] = aggregate(joined, joined.category)
    if "segment" in levels and segments is not None and not segments.empty:
        members = ibis.memtable(segments.loc[:, ["customer_id", "segment"]].astype(str))
        joined = t.inner_join(members, t.customer_id.cast("string") == members.customer_id)
        out["segment"] = aggregate(joined, joined.segment)
    return out


def demand_panel(
    aggregates: dict[str, pd.DataFrame], *, first: int, last: int, freq: str, measure: str = "net_sales"
) -> pd.DataFrame:
    """The grid ``series, level, period_start, y`` over the whole periods ``first..last`` (0 where a
    series sold nothing), ``y`` the ``measure`` (net sales in currency units, or orders)."""
    if measure not in MEASURES:
        from targetwise.errors import ConfigError

        raise ConfigError(f"unknown measure {measure!r}", fix=f"use one of {', '.join(MEASURES)}")
    periods = np.arange(first, last + 1, dtype="int64")
    starts = pd.DatetimeIndex([_period_start(int(i), freq) for i in periods])
    frames = []
    for level, rows in aggregates.items():
        rows = rows[(rows["period_index"] >= first) & (rows["period_index"] <= last)]
        value = rows["net_micros"] / MICROS_PER_UNIT if measure == "net_sales" else rows["orders"].astype("float64")
        wide = pd.DataFrame({"series": rows["series"].astype(str), "period_index": rows["period_index"], "y": value})
        for series, part in wide.groupby("series", sort=True):
            y = part.set_index("period_index")["y"].reindex(periods, fill_value=0.0).to_numpy(dtype="float64")
            frames.append(pd.DataFrame({"series": series, "level": level, "period_start": starts, "y": y}))
    if not frames:
        return pd.DataFrame({"series": pd.Series(dtype=str), "level": pd.Series(dtype=str),
                             "period_start": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype="float64")})
    return pd.concat(frames, ignore_index=True)
