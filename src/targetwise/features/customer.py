"""Point-in-time customer features as one Ibis expression (DuckDB, Spark, ...).

Query plan, chosen for speed (see ``benchmarks/features.py``):

1. Lines before ``as_of`` are aggregated to orders in one pass
   (``customer_id, order_id``), with conditional sums for purchase and return
   lines. Every later step works on orders, which are 5-20x fewer than lines.
2. One window pass over orders (per customer and purchase flag, in time order)
   gives the inter-purchase gaps and, from the previous purchase's period and
   the first purchase's time, the BTYD periods: no group-by per period.
3. Customer aggregates over orders (one group-by).
4. A second pass over lines, grouped by ``(customer_id, product_id)``, goes
   straight into a ``(customer_id, category code)`` group-by (uncategorised
   products kept under a null code) that yields distinct products, categories
   and the top category. This is the costliest step: at 10M synthetic lines
   the per-product group-by has 7.5M groups.

No exact median and no sort of the lines. Every ratio is computed on float64
(Spark would otherwise turn float literals into decimals), times are integer
epoch seconds and money is summed exactly in integer micro-units (see
``amount_micros``); the gap standard deviation comes from exact integer sums.
No aggregate is a float sum, so the result does not depend on the order in
which a parallel scan delivers the rows: the same data give the same features
to the last bit on every run, on any thread count.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from targetwise.features._inputs import (
    SECONDS_PER_DAY,
    Inputs,
    amount_micros,
    channel_column_names,
    epoch_seconds,
    from_micros,
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

    Columns: ``order_sec`` (epoch seconds of the earliest line), ``purchase_micros`` (purchase
    value in integer micro-units), purchase lines/units, ``return_micros``, return lines and,
    with ``with_channel``, the order's channel.
    """
    t = transactions.filter(
        transactions.ordered_at < timestamp_literal(as_of), transactions.customer_id.notnull()
    )
    non_product = t.is_non_product.fill_null(False)
    is_return = t.is_return.fill_null(False)
    purchase = ~is_return & ~non_product
    returned = is_return & ~non_product
    micros = amount_micros(t.line_amount)
    metrics = {
        "first_at": t.ordered_at.min(),
        "purchase_micros": micros.sum(where=purchase).fill_null(0),
        "purchase_lines": _count(purchase),
        "purchase_units": t.quantity.sum(where=purchase).fill_null(0).cast("int64"),
        "return_micros": (-micros).sum(where=returned).fill_null(0),
        "return_lines": _count(returned),
    }
    if with_channel:
        metrics["channel"] = t.channel.min(where=purchase)
    orders = t.group_by(["customer_id", "order_id"]).aggregate(**metrics)
    return orders.mutate(order_sec=orders.first_at.truncate("s").epoch_seconds().cast("int64")).drop(
        "first_at"
    )


def _gap_std_sec(n: ir.IntegerValue, total: ir.IntegerValue, sumsq: ir.IntegerValue) -> ir.FloatingValue:
    """Sample standard deviation of ``n`` integer gaps from their exact sum and sum of squares.

    ``n * sumsq - total**2`` is computed exactly in DECIMAL(38, 0) (``n * sumsq`` can exceed
    int64), so the only rounding is the final division: the same gaps give the same bits in
    any order, with no cancellation error. Null for fewer than two gaps, like ``stddev_samp``.
    """
    wide = "decimal(38, 0)"
    numerator = n.cast(wide) * sumsq.cast(wide) - total.cast(wide) * total.cast(wide)
    variance = _f64(numerator) / (_f64(n) * _f64(n - 1))
    return ibis.ifelse(n > 1, variance.sqrt(), _null_float())


def _period_expr(seconds: ir.IntegerValue, unit_days: int) -> ir.IntegerValue:
    days = seconds // SECONDS_PER_DAY
    if unit_days == 1:
        return days.cast("int64")
    return ((days - _MONDAY_OFFSET_DAYS) // unit_days).cast("int64")


def _python_period(value: dt.datetime, unit_days: int) -> int:
    days = epoch_seconds(value) // SECONDS_PER_DAY
    return days if unit_days == 1 else (days - _MONDAY_OFFSET_DAYS) // unit_days


def _product_stats(inputs: Inputs, as_of: dt.datetime) -> ir.Table:
    """Distinct products and category features from lines grouped by (customer, product).

    Plan (the costliest part of the features: the ``(customer_id, product_id)`` group-by has
    nearly as many groups as lines): the per-product table is read once, straight into a
    ``(customer_id, category code)`` group-by that also keeps uncategorised products (code
    null) and counts products, so distinct products, product value and the category
    statistics all come from that smaller table. Categories travel as dense integer codes
    ranked alphabetically (cheaper to hash than text); ``min(code)`` is therefore the
    alphabetically first category, the deterministic tie-break for the top category.
    """
    t = inputs.transactions.filter(
        inputs.transactions.ordered_at < timestamp_literal(as_of),
        inputs.transactions.customer_id.notnull(),
        ~inputs.transactions.is_return.fill_null(False),
        ~inputs.transactions.is_non_product.fill_null(False),
    )
    # value in integer micro-units: exact sums, so the top category's value matches exactly
    per_product = t.group_by(["customer_id", "product_id"]).aggregate(value=amount_micros(t.line_amount).sum())
    if inputs.products is None:
        return per_product.group_by("customer_id").aggregate(
            distinct_products=per_product.count().cast("int64"),
            distinct_categories=ibis.literal(0, "int64"),
            top_category=ibis.null("string"),
            top_category_share=_null_float(),
        )
    # One category per product even if the catalogue repeats a product id.
    catalogue = (
        inputs.products.group_by("product_id")
        .aggregate(category=inputs.products.category.cast("string").min())
        .filter(lambda r: r.category.notnull())
    )
    catalogue = catalogue.mutate(code=ibis.dense_rank().over(order_by=catalogue.category).cast("int64"))
    names = catalogue.select("code", "category").distinct()
    coded = per_product.left_join(catalogue, per_product.product_id == catalogue.product_id).select(
        per_product.customer_id, per_product.value, catalogue.code
    )
    per_category = coded.group_by(["customer_id", "code"]).aggregate(
        n_products=coded.count().cast("int64"), value=coded.value.sum()
    )
    categorised = per_category.code.notnull()
    totals = per_category.group_by("customer_id").aggregate(
        distinct_products=per_category.n_products.sum().cast("int64"),
        product_value=per_category.value.sum(),
        distinct_categories=per_category.code.count().cast("int64"),
        top_value=per_category.value.max(where=categorised),
    )
    # Top category without a window sort: the largest value per customer, then the
    # alphabetically first category (smallest code) holding exactly that value.
    matched = per_category.join(
        totals,
        (per_category.customer_id == totals.customer_id)
        & (per_category.value == totals.top_value)
        & categorised,
    ).select(per_category.customer_id, per_category.code)
    top = matched.group_by("customer_id").aggregate(top_code=matched.code.min())
    top = top.join(names, top.top_code == names.code).select(top.customer_id, top_category=names.category)
    joined = _left_join(totals, top)
    return joined.select(
        "customer_id",
        "distinct_products",
        "distinct_categories",
        top_category=joined.top_category,
        top_category_share=ibis.ifelse(
            joined.top_category.notnull() & (joined.product_value > 0),
            _f64(joined.top_value) / _f64(joined.product_value),
            _null_float(),
        ),
    )


def _btyd_columns(customer: ir.Table, as_of: dt.datetime, unit_days: int) -> dict[str, ir.FloatingValue]:
    """lifetimes-compatible summary: purchases collapsed to periods of ``unit_days``.

    From per-customer aggregates of the order window: ``n_periods`` (periods with a purchase),
    ``first_period_micros`` (purchase value in the first period, micro-units), first/last purchase times.
    """
    c = customer
    first_period = _period_expr(c.first_sec, unit_days)
    repeat = c.n_periods - 1
    as_of_period = ibis.literal(_python_period(as_of, unit_days), "int64")
    return {
        "btyd_frequency": _f64(repeat),
        "btyd_recency": _f64(_period_expr(c.last_sec, unit_days) - first_period),
        "btyd_T": _f64(as_of_period - first_period),
        "btyd_monetary_value": ibis.ifelse(
            repeat > 0,
            from_micros(c.purchase_micros - c.first_period_micros) / _f64(repeat),
            ibis.literal(0.0, "float64"),
        ),
    }


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
    # One window pass over orders, per customer and purchase flag in time order: the gap to the
    # previous order of the same kind, and the time of the first one. Orders at the same second
    # may come in any order: the multiset of gaps, hence mean and std, is the same, and they
    # share a BTYD period. The BTYD summary comes from the same pass (no group-by per period):
    # a purchase opens a new period when its period differs from the previous purchase's.
    window = ibis.window(group_by=[orders.customer_id, orders.is_purchase], order_by=orders.order_sec)
    previous = orders.order_sec.lag().over(window)
    first_sec = orders.order_sec.first().over(window)
    period = _period_expr(orders.order_sec, unit_days)
    orders = orders.mutate(
        gap_sec=orders.order_sec - previous,  # int64 seconds: exact sums for the gap statistics
        new_period=previous.isnull() | (period != _period_expr(previous, unit_days)),
        in_first_period=period == _period_expr(first_sec, unit_days),
    )

    as_of_sec = epoch_seconds(as_of)
    sec, po = orders.order_sec, orders.is_purchase
    has_return = orders.return_lines > 0

    def since(days: int) -> ir.BooleanValue:
        return sec >= as_of_sec - days * SECONDS_PER_DAY

    metrics = {
        "frequency": _count(po),
        "first_sec": sec.min(where=po),
        "last_sec": sec.max(where=po),
        "purchase_micros": orders.purchase_micros.sum(),
        "returns_micros": orders.return_micros.sum(),
        "purchase_lines": orders.purchase_lines.sum(),
        "purchase_units": orders.purchase_units.sum(),
        # the sample std of the gaps from exact integer sums (a float std depends on row order)
        "gap_n": orders.gap_sec.count(where=po).cast("int64"),
        "gap_sum": orders.gap_sec.sum(where=po),
        "gap_sumsq": (orders.gap_sec * orders.gap_sec).sum(where=po),
        "orders_30d": _count(po & since(30)),
        "orders_90d": _count(po & since(90)),
        "orders_180d": _count(po & since(180)),
        "orders_365d": _count(po & since(365)),
        "first_return_sec": sec.min(where=has_return),
        "last_return_sec": sec.max(where=has_return),
        "n_periods": _count(po & orders.new_period),
        "first_period_micros": orders.purchase_micros.sum(where=po & orders.in_first_period),
    }
    for raw, suffix in channel_names.items():
        metrics[f"n_channel_{suffix}"] = _count(po & (orders.channel == raw))
    per_customer = orders.group_by("customer_id").aggregate(**metrics).filter(lambda r: r.frequency > 0)

    c = per_customer
    freq = _f64(c.frequency)
    day = SECONDS_PER_DAY
    older_90 = c.orders_180d - c.orders_90d
    trend_den = c.orders_90d + older_90
    net_micros = c.purchase_micros - c.returns_micros
    columns = {
        "recency_days": _f64(as_of_sec - c.last_sec) / day,
        "frequency": c.frequency,
        "monetary_total": from_micros(net_micros),
        "monetary_mean": from_micros(net_micros) / freq,
        "returns_value": from_micros(c.returns_micros),
        "tenure_days": _f64(as_of_sec - c.first_sec) / day,
        "ipi_mean_days": ibis.ifelse(
            c.frequency > 1, _f64(c.last_sec - c.first_sec) / day / _f64(c.frequency - 1), _null_float()
        ),
        "ipi_std_days": _gap_std_sec(c.gap_n, c.gap_sum, c.gap_sumsq) / day,
        "orders_30d": c.orders_30d,
        "orders_90d": c.orders_90d,
        "orders_365d": c.orders_365d,
        "trend_90d": ibis.ifelse(
            trend_den > 0, _f64(c.orders_90d - older_90) / _f64(trend_den), ibis.literal(0.0, "float64")
        ),
        "basket_size_mean": _f64(c.purchase_units) / freq,
        "lines_per_order_mean": _f64(c.purchase_lines) / freq,
        "returns_rate": ibis.ifelse(
            c.purchase_micros > 0, _f64(c.returns_micros) / _f64(c.purchase_micros), _null_float()
        ),
        "days_since_first_return": _f64(as_of_sec - c.first_return_sec) / day,
        "days_since_last_return": _f64(as_of_sec - c.last_return_sec) / day,
        **_btyd_columns(c, as_of, unit_days),
    }
    for suffix in channel_names.values():
        columns[f"{CHANNEL_SHARE_PREFIX}{suffix}"] = _f64(c[f"n_channel_{suffix}"]) / freq
    base = c.select("customer_id", **columns)

    products = _product_stats(inputs, as_of)

    joined = _left_join(base, products)
    result = joined.mutate(
        distinct_products=joined.distinct_products.fill_null(0),
        distinct_categories=joined.distinct_categories.fill_null(0),
    )
    return result.select(*feature_names(tuple(channel_names.values())))
