"""Data profile of a workspace: the facts a marketer checks before trusting any model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from targetwise.io.workspace import Workspace

__all__ = ["DataProfile", "profile_workspace"]


@dataclass(frozen=True)
class DataProfile:
    lines: int
    orders: int
    customers: int
    products: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    anonymous_lines: int
    quarantined_lines: int
    quarantine_reasons: dict[str, int]
    duplicate_lines: int
    return_lines: int
    returns_value_share: float
    non_product_lines: int
    one_order_customers: int
    revenue: float
    returns_only_customers: int
    returns_only_value: float
    missing_values: dict[str, int]
    lines_per_day: pd.DataFrame = field(repr=False)
    top_products: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    currency_code: str = "GBP"  # the workspace currency (settings), for whoever shows the amounts
    currency_symbol: str = "£"
    #: the engagement log's quality (io.engagements.engagement_quality); None without engagements
    engagement: dict[str, Any] | None = None

    @property
    def one_order_share(self) -> float:
        return self.one_order_customers / self.customers if self.customers else 0.0


def profile_workspace(workspace: Workspace, *, top_n: int = 10) -> DataProfile:
    """Compute the profile with a handful of aggregate queries (one pass each).

    ``customers`` and ``revenue`` are counted as a run counts them (customers with at least one
    purchase; net revenue = their purchases minus their returns, postage and fees excluded), so
    the profile and a run over all the data give the same numbers; returns of people with no
    purchase in the data are counted apart (``returns_only_customers``, ``returns_only_value``).
    ``top_products`` are ranked by net revenue: sales minus the returns linked to them at ingest
    (an order cancelled the same day earns nothing), with ``gross_revenue`` and ``returned_value``.
    """
    with workspace.connect(read_only=True) as con:
        (lines, orders, products, first, last, returns, non_product, returned_value, gross_value) = con.execute(
            """
            SELECT count(*), count(DISTINCT order_id),
                   count(DISTINCT product_id) FILTER (NOT is_non_product),
                   min(ordered_at), max(ordered_at), count(*) FILTER (is_return),
                   count(*) FILTER (is_non_product),
                   coalesce(-sum(line_amount) FILTER (is_return AND NOT is_non_product), 0),
                   coalesce(sum(line_amount) FILTER (NOT is_return AND NOT is_non_product), 0)
            FROM transactions
            """
        ).fetchone()  # type: ignore[misc]
        # net revenue as the run computes it: the customers with a purchase, their purchases minus returns
        (customers, revenue, returns_only_customers, returns_only_value) = con.execute(
            """
            WITH c AS (
                SELECT customer_id, bool_or(NOT is_return) AS bought, sum(line_amount) AS net
                FROM transactions WHERE NOT is_non_product GROUP BY customer_id)
            SELECT count(*) FILTER (bought), coalesce(sum(net) FILTER (bought), 0),
                   count(*) FILTER (NOT bought), coalesce(-sum(net) FILTER (NOT bought), 0)
            FROM c
            """
        ).fetchone()  # type: ignore[misc]
        (anonymous,) = con.execute("SELECT count(*) FROM anonymous_transactions").fetchone()  # type: ignore[misc]
        reasons = dict(
            con.execute(
                "SELECT reason_code, count(*) FROM quarantine WHERE table_name = 'transactions' "
                "GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        )
        (one_order,) = con.execute(
            """
            SELECT count(*) FROM (
                SELECT customer_id FROM transactions WHERE NOT is_return AND NOT is_non_product
                GROUP BY customer_id HAVING count(DISTINCT order_id) = 1)
            """
        ).fetchone()  # type: ignore[misc]
        missing = dict(
            zip(
                ["channel", "store", "currency"],
                con.execute(
                    "SELECT count(*) FILTER (channel IS NULL), count(*) FILTER (store IS NULL), "
                    "count(*) FILTER (currency IS NULL) FROM transactions"
                ).fetchone(),  # type: ignore[arg-type]
                strict=True,
            )
        )
        (products_without_name,) = con.execute(
            "SELECT count(*) FROM products WHERE name IS NULL"
        ).fetchone()  # type: ignore[misc]
        missing["products.name"] = int(products_without_name)
        per_day = con.execute(
            """
            SELECT CAST(ordered_at AS DATE) AS day, count(*) AS lines, count(DISTINCT order_id) AS orders,
                   sum(line_amount) AS revenue
            FROM transactions GROUP BY 1 ORDER BY 1
            """
        ).df()
        # net of the returns linked at ingest to a purchase of the same customer and product: an order
        # cancelled the same day earns nothing; returns of purchases before the data reverse no sale here
        top = con.execute(
            f"""
            SELECT t.product_id, any_value(p.name) AS name,
                   coalesce(sum(t.quantity) FILTER (NOT t.is_return OR t.linked_order_id IS NOT NULL), 0) AS units,
                   coalesce(sum(t.line_amount) FILTER (NOT t.is_return OR t.linked_order_id IS NOT NULL), 0)
                       AS revenue,
                   coalesce(sum(t.line_amount) FILTER (NOT t.is_return), 0) AS gross_revenue,
                   coalesce(-sum(t.line_amount) FILTER (t.is_return AND t.linked_order_id IS NOT NULL), 0)
                       AS returned_value,
                   count(DISTINCT t.customer_id) FILTER (NOT t.is_return) AS customers
            FROM transactions t LEFT JOIN products p USING (product_id)
            WHERE NOT t.is_non_product
            GROUP BY 1 HAVING count(*) FILTER (NOT t.is_return) > 0
            ORDER BY revenue DESC, t.product_id LIMIT {int(top_n)}
            """
        ).df()
        engagement = _engagement(con)
    duplicates = int(reasons.get("duplicate_line", 0))
    profile_warnings = _warnings(
        lines=int(lines),
        customers=int(customers),
        anonymous=int(anonymous),
        one_order=int(one_order),
        returns_share=(returned_value / gross_value) if gross_value else 0.0,
        reasons=reasons,
        first=first,
        last=last,
    )
    return DataProfile(
        lines=int(lines),
        orders=int(orders),
        customers=int(customers),
        products=int(products),
        first_order_at=first,
        last_order_at=last,
        anonymous_lines=int(anonymous),
        quarantined_lines=int(sum(reasons.values())),
        quarantine_reasons={k: int(v) for k, v in reasons.items()},
        duplicate_lines=duplicates,
        return_lines=int(returns),
        returns_value_share=float(returned_value / gross_value) if gross_value else 0.0,
        non_product_lines=int(non_product),
        one_order_customers=int(one_order),
        revenue=float(revenue),
        returns_only_customers=int(returns_only_customers),
        returns_only_value=float(returns_only_value),
        missing_values=missing,
        lines_per_day=per_day,
        top_products=top,
        warnings=tuple(profile_warnings),
        currency_code=workspace.settings.currency_code,
        currency_symbol=workspace.settings.currency_symbol,
        engagement=engagement,
    )


def _engagement(con: Any) -> dict[str, Any] | None:
    """Open and click rates by channel, machine-open share, responses without a send; None when the
    workspace has no engagement events."""
    from targetwise.io.engagements import engagement_quality

    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'engagements'"
    ).fetchone()[0]
    if not present or not con.execute("SELECT count(*) FROM engagements").fetchone()[0]:
        return None
    return engagement_quality(con)


def _warnings(
    *,
    lines: int,
    customers: int,
    anonymous: int,
    one_order: int,
    returns_share: float,
    reasons: dict[str, int],
    first: datetime | None,
    last: datetime | None,
) -> list[str]:
    out: list[str] = []
    if lines == 0:
        return ["No transactions yet: ingest some with `targetwise ingest transactions FILE`."]
    total = lines + anonymous
    if anonymous / total > 0.1:
        out.append(
            f"{anonymous / total:.0%} of sales lines have no customer id (guest checkouts?). They are in no "
            "customer's revenue and cannot be targeted; models learn from the other lines only."
        )
    if customers and one_order / customers > 0.5:
        out.append(
            f"{one_order / customers:.0%} of customers ordered only once: repeat-purchase models will be "
            "uncertain for them."
        )
    if returns_share > 0.1:
        out.append(f"Returns are {returns_share:.0%} of sales value: net revenue is noticeably below gross.")
    rejected = sum(v for k, v in reasons.items() if k != "duplicate_line")
    if rejected:
        out.append(
            f"{rejected:,} lines were rejected (see `quarantine`): "
            + ", ".join(f"{k} {v:,}" for k, v in reasons.items() if k != "duplicate_line")
        )
    if reasons.get("duplicate_line"):
        out.append(f"{reasons['duplicate_line']:,} exact duplicate lines were set aside (counted once).")
    if first and last and (last - first).days < 180:
        out.append(
            f"Only {(last - first).days} days of history: churn and CLV need at least a few purchase "
            "cycles; treat long-horizon predictions with care."
        )
    return out
