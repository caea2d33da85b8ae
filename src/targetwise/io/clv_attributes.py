"""Customer attributes the CLV covariates are drawn from, read from the consent-filtered views.

One row per customer with a purchase before ``as_of`` (returns and non-product lines left out):

* ``acquisition_channel``: the channel of the customer's first order (null when the shop
  records no channel);
* ``first_order_category``: the category of the highest-value product line in that order
  (ties: the lowest product id; null when the product has no category);
* ``region``: ``customers.country`` (null without a customers row or country).

The first order is the earliest ``ordered_at`` (ties: the lowest order id). Reading through
:class:`~targetwise.io.modeldata.ModelData` keeps objectors out.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from targetwise.io.modeldata import ModelData, _ts

__all__ = ["CLV_ATTRIBUTES", "customer_attributes"]

#: the attributes :func:`customer_attributes` returns (besides customer_id)
CLV_ATTRIBUTES = ("acquisition_channel", "first_order_category", "region")


def customer_attributes(data: ModelData, *, before: date | datetime | str | pd.Timestamp) -> pd.DataFrame:
    """``customer_id`` and :data:`CLV_ATTRIBUTES` for every customer who bought before ``before``."""
    category = "p.category" if data.has("products") else "CAST(NULL AS VARCHAR)"
    products = "LEFT JOIN products p ON p.product_id = l.product_id" if data.has("products") else ""
    region = "c.country" if data.has("customers") else "CAST(NULL AS VARCHAR)"
    customers = "LEFT JOIN customers c ON c.customer_id = f.customer_id" if data.has("customers") else ""
    sql = f"""
        WITH lines AS (
            SELECT customer_id, order_id, ordered_at, product_id, channel, quantity * unit_price AS line_value
            FROM transactions
            WHERE ordered_at < ? AND NOT coalesce(is_return, false) AND NOT coalesce(is_non_product, false)
        ),
        first_order AS (
            SELECT customer_id, arg_min(order_id, (ordered_at, order_id)) AS order_id
            FROM lines GROUP BY customer_id
        ),
        first_lines AS (
            SELECT l.customer_id, l.channel, {category} AS category,
                   row_number() OVER (PARTITION BY l.customer_id ORDER BY l.line_value DESC, l.product_id) AS rank_value
            FROM lines l JOIN first_order o ON o.customer_id = l.customer_id AND o.order_id = l.order_id
            {products}
        ),
        f AS (SELECT customer_id, channel, category FROM first_lines WHERE rank_value = 1)
        SELECT f.customer_id, f.channel AS acquisition_channel, f.category AS first_order_category,
               {region} AS region
        FROM f {customers}
        ORDER BY f.customer_id
    """
    return data.con.execute(sql, [_ts(before)]).df()
