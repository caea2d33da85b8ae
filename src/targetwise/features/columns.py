"""The customer feature and label columns, documented once.

Every model downstream reads these names, so each column's meaning and unit
live here and nowhere else; the README's feature reference is rendered from
:data:`FEATURE_COLUMNS` and :data:`LABEL_COLUMNS` by
:func:`feature_reference_markdown`.

Definitions shared by all columns
---------------------------------
* **Point in time.** Features at ``as_of`` use only transaction lines with
  ``ordered_at < as_of`` (strictly before). Labels use only lines with
  ``as_of <= ordered_at < as_of + horizon_days`` (plus, for
  ``days_to_next_order``, every later line). Every line therefore falls on
  exactly one side of the cutoff.
* **Purchase line**: ``is_return`` is false and ``is_non_product`` is false.
  **Return line**: ``is_return`` is true and ``is_non_product`` is false.
  Non-product lines (postage, fees, manual adjustments) enter no feature.
* **Purchase order**: an ``(customer_id, order_id)`` with at least one purchase
  line; its time is the earliest ``ordered_at`` of its lines, truncated to the
  second. Orders holding only returns or only non-product lines are not
  purchase orders.
* **Money** is in the workspace currency, as stored in ``line_amount``
  (``quantity * unit_price``); no currency conversion is applied.
* **Days** are float days of 86,400 s measured on naive UTC timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHANNEL_SHARE_PREFIX",
    "FEATURE_COLUMNS",
    "LABEL_COLUMNS",
    "TIME_UNITS",
    "FeatureColumn",
    "feature_names",
    "feature_reference_markdown",
    "label_names",
]

#: Allowed BTYD time units and their length in days (explicit day multiples, no 30-day months).
TIME_UNITS: dict[str, int] = {"D": 1, "W": 7}

CHANNEL_SHARE_PREFIX = "channel_share_"


@dataclass(frozen=True)
class FeatureColumn:
    """One output column: its name, unit and definition."""

    name: str
    unit: str
    description: str


FEATURE_COLUMNS: tuple[FeatureColumn, ...] = (
    FeatureColumn(
        "customer_id",
        "id",
        "Customer identifier; one row per customer with at least one purchase order before `as_of`.",
    ),
    FeatureColumn("recency_days", "days", "`as_of` minus the time of the last purchase order."),
    FeatureColumn(
        "frequency",
        "orders",
        "Number of distinct purchase orders (returns-only and non-product-only orders excluded).",
    ),
    FeatureColumn(
        "monetary_total",
        "currency",
        "Net spend: purchase-line value minus returned value (`line_amount` of purchase and return lines).",
    ),
    FeatureColumn(
        "monetary_mean", "currency per order", "`monetary_total / frequency`: net spend per purchase order."
    ),
    FeatureColumn("returns_value", "currency", "Value of returned lines, as a positive amount (0 if none)."),
    FeatureColumn("tenure_days", "days", "`as_of` minus the time of the first purchase order."),
    FeatureColumn(
        "btyd_frequency",
        "time units",
        "Repeat purchase periods: purchase orders are collapsed to periods of `time_unit` (D = calendar day in UTC, "
        "W = Monday-to-Sunday week); number of distinct periods minus 1. Same as lifetimes' "
        "`summary_data_from_transaction_data(freq=time_unit)`.",
    ),
    FeatureColumn(
        "btyd_recency",
        "time units",
        "Last purchase period minus first purchase period (lifetimes `recency`).",
    ),
    FeatureColumn(
        "btyd_T",
        "time units",
        "Period of `as_of` minus first purchase period (lifetimes `T` with `observation_period_end=as_of`).",
    ),
    FeatureColumn(
        "btyd_monetary_value",
        "currency per period",
        "Mean purchase value (purchase lines only, returns not netted) of the repeat periods, excluding the first "
        "period; 0 when `btyd_frequency` is 0 (lifetimes `monetary_value`).",
    ),
    FeatureColumn(
        "ipi_mean_days",
        "days",
        "Mean gap between consecutive purchase orders: (last - first) / (frequency - 1); null with fewer than 2 orders.",
    ),
    FeatureColumn(
        "ipi_std_days",
        "days",
        "Sample standard deviation (n - 1) of the gaps between consecutive purchase orders; null with fewer than 3 orders.",
    ),
    FeatureColumn("orders_30d", "orders", "Purchase orders in [as_of - 30 days, as_of)."),
    FeatureColumn("orders_90d", "orders", "Purchase orders in [as_of - 90 days, as_of)."),
    FeatureColumn("orders_365d", "orders", "Purchase orders in [as_of - 365 days, as_of)."),
    FeatureColumn(
        "trend_90d",
        "ratio in [-1, 1]",
        "(a - b) / (a + b) with a = purchase orders in [as_of - 90 d, as_of) and b = those in "
        "[as_of - 180 d, as_of - 90 d); 0 when both are 0. +1 = all recent, -1 = all in the earlier window.",
    ),
    FeatureColumn("basket_size_mean", "units per order", "Units on purchase lines divided by `frequency`."),
    FeatureColumn("lines_per_order_mean", "lines per order", "Purchase lines divided by `frequency`."),
    FeatureColumn("distinct_products", "products", "Distinct `product_id`s on purchase lines."),
    FeatureColumn(
        "distinct_categories",
        "categories",
        "Distinct non-null `products.category` of the purchased products; 0 when the catalogue has no category for "
        "them (e.g. Online Retail has none).",
    ),
    FeatureColumn(
        "top_category",
        "category",
        "Category with the largest purchase value (ties: alphabetically first); null when no purchased product has a category.",
    ),
    FeatureColumn(
        "top_category_share",
        "fraction",
        "Purchase value in `top_category` divided by all purchase value (uncategorised value included in the "
        "denominator); null when `top_category` is null.",
    ),
    FeatureColumn(
        "returns_rate",
        "fraction",
        "Returned value divided by purchase value (by value, not lines); can exceed 1 when earlier purchases are returned.",
    ),
    FeatureColumn(
        "days_since_first_return",
        "days",
        "`as_of` minus the first order holding a return line; null if none.",
    ),
    FeatureColumn(
        "days_since_last_return", "days", "`as_of` minus the last order holding a return line; null if none."
    ),
    FeatureColumn(
        f"{CHANNEL_SHARE_PREFIX}<channel>",
        "fraction",
        "Share of purchase orders placed in that channel (an order's channel is the smallest non-null `channel` of "
        "its purchase lines). One column per channel seen on any line before `as_of`, named in lower case with "
        "non-alphanumerics as `_`; absent when the `channel` column is empty.",
    ),
)

LABEL_COLUMNS: tuple[FeatureColumn, ...] = (
    FeatureColumn(
        "customer_id", "id", "Customer identifier; the customers of the features at the same `as_of`."
    ),
    FeatureColumn(
        "purchased_within_{N}d", "boolean", "At least one purchase order in [as_of, as_of + N days)."
    ),
    FeatureColumn(
        "spend_within_{N}d",
        "currency",
        "Net spend (purchase value minus returned value) in [as_of, as_of + N days); 0 if none.",
    ),
    FeatureColumn(
        "churned_{N}d",
        "boolean",
        "No purchase order in [as_of, as_of + N days) (= not purchased_within_{N}d).",
    ),
    FeatureColumn(
        "days_to_next_order",
        "days",
        "Time from `as_of` to the first purchase order at or after `as_of`, using all data loaded (not only the "
        "window). Null = no order observed before the end of the data: right-censored at `observed_until`, not 'never'.",
    ),
    FeatureColumn(
        "observed_until",
        "UTC timestamp",
        "End of the data used for `days_to_next_order` (the last `ordered_at` in the table); the censoring time.",
    ),
)


def feature_names(channels: tuple[str, ...] = ()) -> list[str]:
    """Output column names in order; ``channels`` are the sanitized channel names."""
    fixed = [c.name for c in FEATURE_COLUMNS if not c.name.startswith(CHANNEL_SHARE_PREFIX)]
    return fixed + [f"{CHANNEL_SHARE_PREFIX}{name}" for name in channels]


def label_names(horizon_days: int) -> list[str]:
    return [c.name.replace("{N}", str(horizon_days)) for c in LABEL_COLUMNS]


def feature_reference_markdown() -> str:
    """The feature and label reference as Markdown tables (for the README)."""

    def table(columns: tuple[FeatureColumn, ...]) -> list[str]:
        rows = ["| column | unit | definition |", "| --- | --- | --- |"]
        rows += [f"| `{c.name}` | {c.unit} | {c.description} |" for c in columns]
        return rows

    lines = [
        "### Customer features",
        "",
        "One row per customer with a purchase order strictly before `as_of`; only lines with "
        "`ordered_at < as_of` are read. Purchase lines exclude returns and non-product codes; "
        "BTYD columns are in the chosen `time_unit` (D = 1 day, W = 7 days).",
        "",
        *table(FEATURE_COLUMNS),
        "",
        "### Labels",
        "",
        "Computed from `as_of <= ordered_at < as_of + N days` only, for the customers of the features.",
        "",
        *table(LABEL_COLUMNS),
        "",
    ]
    return "\n".join(lines)
