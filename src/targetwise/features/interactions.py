"""Customer x product aggregates for the recommenders, computed by the engine (DuckDB or Spark).

The recommenders never need the transaction lines themselves, only per
(customer, product) pair:

* ``net_quantity``: units bought minus units returned (a pair with ``<= 0`` gets no cell),
* ``n_orders``: distinct purchase orders (positive, non-return lines) of the product,
* ``n_lines``: purchase lines (the products' popularity in lines),
* ``last_at``: the latest of those orders,
* ``decay_<h>``: ``sum 0.5 ** (age_days / h)`` over the pair's purchase orders for each
  half-life ``h``, with an order's time its latest line and its age measured from
  ``observed_until`` (the latest product line before the cutoff), never negative.

Decayed sums are added up in integer units of 1e-12 (a pair may hold up to 9 million orders) and then divided, so the
result does not depend on the order in which a parallel scan delivers rows:
DuckDB and Spark give the same values. Non-product lines (``is_non_product`` or
a code in ``non_product_codes``) are left out and counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir

from targetwise.features._inputs import Inputs, timestamp_literal

__all__ = ["DECAY_UNITS", "customer_partition", "decay_column", "interaction_pairs", "line_counts", "window_purchases"]

#: decayed sums are summed in these integer units per 1.0 (order-independent)
DECAY_UNITS = 1_000_000_000_000


def decay_column(half_life_days: float) -> str:
    """``decay_30`` for 30 days, ``decay_14_5`` for 14.5."""
    text = f"{float(half_life_days):g}".replace(".", "_")
    return f"decay_{text}"


def _product_lines(inputs: Inputs, non_product_codes: Iterable[str]) -> tuple[ir.Table, ir.BooleanValue]:
    t = inputs.transactions
    codes = [str(c) for c in non_product_codes]
    non_product = t.is_non_product.fill_null(False)
    if codes:
        non_product = non_product | t.product_id.cast("string").isin(codes)
    return t, non_product


def line_counts(inputs: Inputs, before: dt.datetime, *, non_product_codes: Iterable[str]) -> ir.Table:
    """One row over the lines with a customer and product id before ``before``: ``product_lines``,
    ``non_product_lines``, ``last_at`` (the latest line of any kind) and ``observed_until`` (the latest
    product line)."""
    t = inputs.transactions
    kept = t.filter(t.ordered_at < timestamp_literal(before), t.customer_id.notnull(), t.product_id.notnull())
    kept, non_product = _product_lines(Inputs(kept, inputs.products), non_product_codes)
    return kept.aggregate(
        product_lines=(~non_product).cast("int64").sum(),
        non_product_lines=non_product.cast("int64").sum(),
        last_at=kept.ordered_at.max(),
        observed_until=kept.ordered_at.max(where=~non_product),
    )


def customer_partition(customer_id: ir.Value, count: int) -> ir.IntegerValue:
    """The customer's partition in ``[0, count)``: the engine's hash of the id as text, modulo ``count``
    (a partition's members differ between engines; each engine's partitions cover every customer once)."""
    return ((customer_id.cast("string").hash() % count) + count) % count


def interaction_pairs(
    inputs: Inputs,
    before: dt.datetime,
    *,
    observed_until: dt.datetime,
    half_lives: Sequence[float] = (),
    non_product_codes: Iterable[str] = (),
    partition: tuple[int, int] = (0, 1),
) -> ir.Table:
    """Per (customer, product) pair of product lines before ``before``: see the module docstring.

    Every pair with a product line is returned, netted out or not (``net_quantity <= 0``),
    sorted by customer and product id. ``partition=(i, n)`` keeps the customers of hash partition
    ``i`` of ``n`` (:func:`customer_partition`): the ``n`` partitions' pairs are the pairs, each
    query holding ``1/n`` of the groups.
    """
    t, non_product = _product_lines(inputs, non_product_codes)
    index, count = partition
    if not 0 <= index < count:
        raise ValueError(f"partition {index} of {count} does not exist")
    kept = [t.ordered_at < timestamp_literal(before), t.customer_id.notnull(), t.product_id.notnull(), ~non_product]
    if count > 1:
        kept.append(customer_partition(t.customer_id, count) == index)
    lines = t.filter(*kept).select(
        customer_id=t.customer_id.cast("string"),
        product_id=t.product_id.cast("string"),
        order_id=t.order_id.cast("string"),
        ordered_at=t.ordered_at,
        quantity=t.quantity.cast("int64"),
        is_purchase=(t.quantity > 0) & ~t.is_return.fill_null(False),
    )
    net = lines.group_by(["customer_id", "product_id"]).aggregate(
        net_quantity=lines.quantity.sum(),
        n_lines=lines.is_purchase.cast("int64").sum(),
    )
    bought = lines.filter(lines.is_purchase)
    orders = bought.group_by(["customer_id", "product_id", "order_id"]).aggregate(at=bought.ordered_at.max())
    until = timestamp_literal(observed_until)
    age_days = ((until.epoch_seconds() - orders.at.epoch_seconds()).cast("float64") / 86_400.0).clip(lower=0.0)
    decays = {
        decay_column(h): (ibis.literal(0.5) ** (age_days / float(h)) * DECAY_UNITS).round().cast("int64").sum()
        for h in half_lives
    }
    per_pair = orders.group_by(["customer_id", "product_id"]).aggregate(
        n_orders=orders.order_id.count().cast("int64"), last_at=orders.at.max(), **decays
    )
    joined = net.left_join(
        per_pair, [net.customer_id == per_pair.customer_id, net.product_id == per_pair.product_id]
    ).select(
        net.customer_id,
        net.product_id,
        net.net_quantity,
        net.n_lines,
        per_pair.n_orders.fill_null(0).name("n_orders"),
        per_pair.last_at,
        *[(per_pair[name].fill_null(0).cast("float64") / DECAY_UNITS).name(name) for name in decays],
    )
    return joined.order_by(["customer_id", "product_id"])


def window_purchases(
    inputs: Inputs, start: dt.datetime, end: dt.datetime, *, non_product_codes: Iterable[str] = ()
) -> ir.Table:
    """Distinct (customer, product) bought (positive, non-return product lines) in ``[start, end)``, sorted."""
    t, non_product = _product_lines(inputs, non_product_codes)
    bought = t.filter(
        t.ordered_at >= timestamp_literal(start),
        t.ordered_at < timestamp_literal(end),
        t.customer_id.notnull(),
        t.product_id.notnull(),
        ~non_product,
        t.quantity > 0,
        ~t.is_return.fill_null(False),
    ).select(customer_id=t.customer_id.cast("string"), product_id=t.product_id.cast("string"))
    return bought.distinct().order_by(["customer_id", "product_id"])
