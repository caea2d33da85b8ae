"""Acquisition-month cohorts: retention and revenue by month since the first order, on the engine (Ibis).

Definitions (the docs' "Cohorts" section says the same; every number is point in time: only lines
with ``ordered_at < as_of`` are read):

* Lines are purchase lines and return lines as in the features (``is_non_product`` lines never
  count). Months are calendar months of ``ordered_at`` as stored (UTC).
* A customer's **cohort month** is the month of their first purchase line before ``as_of``; a
  customer with returns only has no cohort.
* ``months_since_first``: whole calendar months from the cohort month (0 = the cohort month).
* ``customers``: the cohort's size. ``active_customers``: those of them with at least one purchase
  line in that month (a return alone does not make a customer active).
* ``revenue``: net sales of the cohort's customers in that month: purchase value minus returned
  value (``line_amount``), like ``monetary_total``. Returns dated before a customer's cohort month
  (goods bought before the data begin) are not counted.

:func:`cohort_activity` aggregates lines per ``(customer, month)`` and then per
``(cohort, month since first)``, so only one small table comes back from the engine; money is
summed exactly in integer micro-units (the same data give the same bits on any engine and thread
count). :func:`cohort_table` (pandas, over that small table) fills in months without activity and
the running totals.
"""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir
import pandas as pd

from targetwise._dtypes import STRING_DTYPE
from targetwise.features._inputs import MICROS_PER_UNIT, amount_micros, timestamp_literal

__all__ = ["COHORT_COLUMNS", "cohort_activity", "cohort_table", "month_index"]

#: the columns of a cohort table, in order
COHORT_COLUMNS = (
    "cohort_month",
    "months_since_first",
    "customers",
    "active_customers",
    "retention",
    "revenue",
    "cumulative_revenue_per_customer",
)


def month_index(value: dt.datetime) -> int:
    """Months since January of year 0 (``year * 12 + month - 1``): the engine's month key."""
    return value.year * 12 + value.month - 1


def cohort_activity(transactions: ir.Table, as_of: dt.datetime) -> tuple[ir.Table, ir.Table]:
    """Two engine expressions over lines before ``as_of``.

    * sizes: ``cohort_index, customers`` (customers per cohort month);
    * activity: ``cohort_index, months_since_first, active_customers, revenue_micros`` for every
      (cohort, month) in which some member bought or returned something.

    ``cohort_index`` is :func:`month_index` of the cohort month.
    """
    t = transactions.filter(
        transactions.ordered_at < timestamp_literal(as_of),
        transactions.customer_id.notnull(),
        ~transactions.is_non_product.fill_null(False),
    )
    purchase = ~t.is_return.fill_null(False)
    month = (t.ordered_at.year() * 12 + t.ordered_at.month() - 1).cast("int64")
    micros = amount_micros(t.line_amount)
    per_month = t.group_by([t.customer_id, month.name("month")]).aggregate(
        bought=purchase.ifelse(1, 0).max().cast("int64"),
        net_micros=micros.sum().cast("int64"),
    )
    first = (
        per_month.filter(per_month.bought == 1)
        .group_by("customer_id")
        .aggregate(cohort_index=per_month.month.min())
    )
    sizes = first.group_by("cohort_index").aggregate(customers=first.customer_id.count().cast("int64"))
    joined = per_month.inner_join(first, per_month.customer_id == first.customer_id)
    joined = joined.select(
        cohort_index=first.cohort_index,
        months_since_first=(per_month.month - first.cohort_index).cast("int64"),
        bought=per_month.bought,
        net_micros=per_month.net_micros,
    )
    joined = joined.filter(joined.months_since_first >= 0)
    activity = joined.group_by(["cohort_index", "months_since_first"]).aggregate(
        active_customers=joined.bought.sum().cast("int64"),
        revenue_micros=joined.net_micros.sum().cast("int64"),
    )
    return sizes, activity


def cohort_table(sizes: pd.DataFrame, activity: pd.DataFrame, *, as_of: dt.datetime) -> pd.DataFrame:
    """The cohort table: one row per cohort and month since first, from the cohort month to the month
    of the last instant before ``as_of`` (months without activity have 0 active customers and 0 revenue).

    ``retention = active_customers / customers``; ``cumulative_revenue_per_customer`` is the cohort's
    revenue from month 0 to this month divided by ``customers``. Sorted by cohort, then month.
    """
    if sizes.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            COHORT_COLUMNS, (STRING_DTYPE, "int64", "int64", "int64", "float64", "float64", "float64"), strict=True)})
    last_index = month_index(as_of - dt.timedelta(microseconds=1))
    grid = [
        (int(cohort), since)
        for cohort in sorted(sizes["cohort_index"])
        for since in range(last_index - int(cohort) + 1)
    ]
    frame = pd.DataFrame(grid, columns=["cohort_index", "months_since_first"]).astype("int64")
    frame = frame.merge(sizes.astype({"cohort_index": "int64"}), on="cohort_index", how="left")
    frame = frame.merge(
        activity.astype({"cohort_index": "int64", "months_since_first": "int64"}),
        on=["cohort_index", "months_since_first"], how="left",
    )
    frame["active_customers"] = frame["active_customers"].fillna(0).astype("int64")
    frame["revenue_micros"] = frame["revenue_micros"].fillna(0).astype("int64")
    cumulative_micros = frame.groupby("cohort_index")["revenue_micros"].cumsum()
    years, months = divmod(frame["cohort_index"].to_numpy(), 12)
    table = pd.DataFrame({
        "cohort_month": [f"{y:04d}-{m + 1:02d}" for y, m in zip(years, months, strict=True)],
        "months_since_first": frame["months_since_first"],
        "customers": frame["customers"].astype("int64"),
        "active_customers": frame["active_customers"],
        "retention": frame["active_customers"] / frame["customers"],
        "revenue": frame["revenue_micros"] / MICROS_PER_UNIT,
        "cumulative_revenue_per_customer": cumulative_micros / MICROS_PER_UNIT / frame["customers"],
    })
    return table.reset_index(drop=True)
