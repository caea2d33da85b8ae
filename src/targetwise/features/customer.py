"""Point-in-time customer features as one Ibis expression (DuckDB, Spark, ...).

Query plan, chosen for speed (see ``benchmarks/features.py``):

1. Lines before ``as_of`` are aggregated to orders in one pass
   (``customer_id, order_id``), with conditional sums for purchase and return
   lines. Every later step works on orders, which are 5-20x fewer than lines.
2. One window pass over orders (``lag`` of the order time per customer and
   purchase flag) gives the inter-purchase gaps.
3. Customer aggregates over orders; BTYD periods from orders grouped by
   ``(customer_id, period)``.
4. A second pass over lines, grouped by ``(customer_id, product_id)``, gives
   distinct products and, joined to the small product table, categories.

No exact median and no sort of the lines. Every ratio is computed on float64
(Spark would otherwise turn float literals into decimals), and times are
integer epoch seconds, so DuckDB and Spark agree to the last bit on counts and
to rounding on averages.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from targetwise.features._inputs import (
    SECONDS_PER_DAY,
    Inputs,
    channel_column_names,
    epoch_seconds,
    timestamp_literal,
)
from targetwise.features.columns import CHANNEL_SHARE_PREFIX, feature_names

__all__ = ["customer_feature_table", "order_table"]

# 1970-01-05 was a Monday: weeks are counted from there, like pandas' 'W' (W-SUN) periods.
_MONDAY_OFFSET_DAYS = 4


def _f64(value: ir.NumericValue) -> ir.FloatingValue:
    return value.cast("float64")


def _count(condition: ir.BooleanValue) -> ir.IntegerScalar:
    return condition.ifelse(1, 0).sum().fill_null(0).cast("int64")


def _null_float() -> ir.FloatingValue:
    return ibis.null("float64")


def _left_join(left: ir.Table, right: ir.Table) -> ir.Table:
    """Left join on customer_id keeping one customer_id column."""
    joined = left.left_join(right, left.customer_id == right.customer_id)
    return joined.select(left, *[right[name] for name in right.columns if name != "customer_id"])


def order_table(transactions: ir.Table, as_of: dt.datetime, *, with_channel: bool = False) -> ir.Table:
    """Lines strictly before ``as_of`` aggregated to ``(customer_id, order_id)`` (one pass over lines).

    Columns: ``order_sec`` (epoch seconds of the earliest line), purchase value/lines/units,
    return value/lines and, with ``with_channel``, the order's channel.
    """
    t = transactions.filter(
        transactions.ordered_at < timestamp_literal(as_of), transactions.customer_id.notnull()
    )
    non_product = t.is_non_product.fill_null(False)
    is_return = t.is_return.fill_null(False)
    purchase = ~is_return & ~non_product
    returned = is_return & ~non_product
    amount = _f64(t.line_amount)
    metrics = {
        "first_at": t.ordered_at.min(),
        "purchase_value": amount.sum(where=purchase).fill_null(0.0),
        "purchase_lines": _count(purchase),
        "purchase_units": t.quantity.sum(where=purchase).fill_null(0).cast("int64"),
        "return_value": (-amount).sum(where=returned).fill_null(0.0),
        "return_lines": _count(returned),
    }
    if with_channel:
        metrics["channel"] = t.channel.min(where=purchase)
    orders = t.group_by(["customer_id", "order_id"]).aggregate(**metrics)
    return orders.mutate(order_sec=orders.first_at.truncate("s").epoch_seconds().cast("int64")).drop(
        "first_at"
    )


def _period_expr(seconds: ir.IntegerValue, unit_days: int) -> ir.IntegerValue:
    days = seconds // SECONDS_PER_DAY
    if unit_days == 1:
        return days.cast("int64")
    return ((days - _MONDAY_OFFSET_DAYS) // unit_days).cast("int64")


def _python_period(value: dt.datetime, unit_days: int) -> int:
    days = epoch_seconds(value) // SECONDS_PER_DAY
    return days if unit_days == 1 else (days - _MONDAY_OFFSET_DAYS) // unit_days


def _product_stats(inputs: Inputs, as_of: dt.datetime) -> ir.Table:
    """Distinct products and category features from lines grouped by (customer, product)."""
    t = inputs.transactions.filter(
        inputs.transactions.ordered_at < timestamp_literal(as_of),
        inputs.transactions.customer_id.notnull(),
        ~inputs.transactions.is_return.fill_null(False),
        ~inputs.transactions.is_non_product.fill_null(False),
    )
    per_product = t.group_by(["customer_id", "product_id"]).aggregate(value=_f64(t.line_amount).sum())
    products_per_customer = per_product.group_by("customer_id").aggregate(
        distinct_products=per_product.count().cast("int64"), product_value=per_product.value.sum()
    )
    if inputs.products is None:
        return products_per_customer.mutate(
            distinct_categories=ibis.literal(0, "int64"),
            top_category=ibis.null("string"),
            top_category_share=_null_float(),
        ).drop("product_value")
    # One category per product even if the catalogue repeats a product id.
    catalogue = inputs.products.group_by("product_id").aggregate(
        category=inputs.products.category.cast("string").min()
    )
    categorised = per_product.join(catalogue, "product_id").filter(lambda r: r.category.notnull())
    per_category = categorised.group_by(["customer_id", "category"]).aggregate(value=categorised.value.sum())
    # Top category without a window sort: the largest value per customer, then the
    # alphabetically first category holding exactly that value (ties are deterministic).
    best = per_category.group_by("customer_id").aggregate(
        distinct_categories=per_category.count().cast("int64"), top_value=per_category.value.max()
    )
    matched = per_category.join(
        best, (per_category.customer_id == best.customer_id) & (per_category.value == best.top_value)
    ).select(per_category.customer_id, per_category.category, best.distinct_categories, best.top_value)
    category_stats = matched.group_by("customer_id").aggregate(
        distinct_categories=matched.distinct_categories.max(),
        top_category=matched.category.min(),
        top_value=matched.top_value.max(),
    )
    joined = _left_join(products_per_customer, category_stats)
    return joined.select(
        "customer_id",
        "distinct_products",
        distinct_categories=joined.distinct_categories.fill_null(0),
        top_category=joined.top_category,
        top_category_share=ibis.ifelse(
            joined.top_category.notnull() & (joined.product_value > 0),
            joined.top_value / joined.product_value,
            _null_float(),
        ),
    )


def _btyd_stats(purchase_orders: ir.Table, as_of: dt.datetime, unit_days: int) -> ir.Table:
    """lifetimes-compatible summary: purchases collapsed to periods of ``unit_days``."""
    with_period = purchase_orders.mutate(period=_period_expr(purchase_orders.order_sec, unit_days))
    periods = with_period.group_by(["customer_id", "period"]).aggregate(
        value=with_period.purchase_value.sum()
    )
    summary = periods.group_by("customer_id").aggregate(
        n_periods=periods.count().cast("int64"),
        first_period=periods.period.min(),
        last_period=periods.period.max(),
        total_value=periods.value.sum(),
        first_value=periods.value.argmin(periods.period),
    )
    as_of_period = _python_period(as_of, unit_days)
    repeat = summary.n_periods - 1
    return summary.select(
        "customer_id",
        btyd_frequency=_f64(repeat),
        btyd_recency=_f64(summary.last_period - summary.first_period),
        btyd_T=_f64(ibis.literal(as_of_period, "int64") - summary.first_period),
        btyd_monetary_value=ibis.ifelse(
            repeat > 0,
            (summary.total_value - summary.first_value) / _f64(repeat),
            ibis.literal(0.0, "float64"),
        ),
    )


def customer_feature_table(
    inputs: Inputs,
    as_of: dt.datetime,
    *,
    unit_days: int,
    channels: tuple[str, ...],
) -> ir.Table:
    """The feature expression (see :mod:`targetwise.features.columns` for every definition)."""
    channel_names = channel_column_names(channels)
    orders = order_table(inputs.transactions, as_of, with_channel=bool(channels))
    orders = orders.mutate(is_purchase=orders.purchase_lines > 0)
    # One window pass over orders: the gap to the previous order of the same kind. Orders at
    # the same second may come in any order: the multiset of gaps, hence mean and std, is the same.
    previous = orders.order_sec.lag().over(
        group_by=[orders.customer_id, orders.is_purchase], order_by=orders.order_sec
    )
    orders = orders.mutate(gap_sec=_f64(orders.order_sec - previous))

    as_of_sec = epoch_seconds(as_of)
    sec, po = orders.order_sec, orders.is_purchase
    has_return = orders.return_lines > 0

    def since(days: int) -> ir.BooleanValue:
        return sec >= as_of_sec - days * SECONDS_PER_DAY

    metrics = {
        "frequency": _count(po),
        "first_sec": sec.min(where=po),
        "last_sec": sec.max(where=po),
        "purchase_value": orders.purchase_value.sum(),
        "returns_value": orders.return_value.sum(),
        "purchase_lines": orders.purchase_lines.sum(),
        "purchase_units": orders.purchase_units.sum(),
        "gap_std_sec": orders.gap_sec.std(how="sample", where=po),
        "orders_30d": _count(po & since(30)),
        "orders_90d": _count(po & since(90)),
        "orders_180d": _count(po & since(180)),
        "orders_365d": _count(po & since(365)),
        "first_return_sec": sec.min(where=has_return),
        "last_return_sec": sec.max(where=has_return),
    }
    for raw, suffix in channel_names.items():
        metrics[f"n_channel_{suffix}"] = _count(po & (orders.channel == raw))
    per_customer = orders.group_by("customer_id").aggregate(**metrics).filter(lambda r: r.frequency > 0)

    c = per_customer
    freq = _f64(c.frequency)
    day = SECONDS_PER_DAY
    older_90 = c.orders_180d - c.orders_90d
    trend_den = c.orders_90d + older_90
    columns = {
        "recency_days": _f64(as_of_sec - c.last_sec) / day,
        "frequency": c.frequency,
        "monetary_total": c.purchase_value - c.returns_value,
        "monetary_mean": (c.purchase_value - c.returns_value) / freq,
        "returns_value": c.returns_value,
        "tenure_days": _f64(as_of_sec - c.first_sec) / day,
        "ipi_mean_days": ibis.ifelse(
            c.frequency > 1, _f64(c.last_sec - c.first_sec) / day / _f64(c.frequency - 1), _null_float()
        ),
        "ipi_std_days": c.gap_std_sec / day,
        "orders_30d": c.orders_30d,
        "orders_90d": c.orders_90d,
        "orders_365d": c.orders_365d,
        "trend_90d": ibis.ifelse(
            trend_den > 0, _f64(c.orders_90d - older_90) / _f64(trend_den), ibis.literal(0.0, "float64")
        ),
        "basket_size_mean": _f64(c.purchase_units) / freq,
        "lines_per_order_mean": _f64(c.purchase_lines) / freq,
        "returns_rate": ibis.ifelse(c.purchase_value > 0, c.returns_value / c.purchase_value, _null_float()),
        "days_since_first_return": _f64(as_of_sec - c.first_return_sec) / day,
        "days_since_last_return": _f64(as_of_sec - c.last_return_sec) / day,
    }
    for suffix in channel_names.values():
        columns[f"{CHANNEL_SHARE_PREFIX}{suffix}"] = _f64(c[f"n_channel_{suffix}"]) / freq
    base = c.select("customer_id", **columns)

    purchase_orders = orders.filter(orders.is_purchase).select("customer_id", "order_sec", "purchase_value")
    btyd = _btyd_stats(purchase_orders, as_of, unit_days)
    products = _product_stats(inputs, as_of)

    joined = _left_join(_left_join(base, btyd), products)
    result = joined.mutate(
        distinct_products=joined.distinct_products.fill_null(0),
        distinct_categories=joined.distinct_categories.fill_null(0),
    )
    return result.select(*feature_names(tuple(channel_names.values())))
