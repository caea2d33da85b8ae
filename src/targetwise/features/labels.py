"""Supervised labels from the window after a cutoff, for the customers known before it.

The window is half-open, ``as_of <= ordered_at < as_of + horizon_days``, so
that together with the features (``ordered_at < as_of``) every transaction
line falls on exactly one side of the cutoff. ``days_to_next_order`` looks at
all data after ``as_of``; when no purchase follows before the data ends it is
null, which means right-censored at ``observed_until``, not "never buys".
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from targetwise.errors import DataValidationError
from targetwise.features._inputs import (
    SECONDS_PER_DAY,
    DataRange,
    Inputs,
    amount_micros,
    epoch_seconds,
    from_micros,
    timestamp_literal,
)
from targetwise.features.columns import label_names

__all__ = ["check_horizon", "label_table"]


def check_horizon(as_of: dt.datetime, horizon_days: int, span: DataRange) -> None:
    """The label window must be fully covered by the data."""
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or horizon_days < 1:
        raise DataValidationError(
            f"horizon_days must be a positive whole number of days, got {horizon_days!r}", fix="use e.g. 90"
        )
    window_end = as_of + dt.timedelta(days=horizon_days)
    if window_end > span.covered_until:
        raise DataValidationError(
            f"the label window {as_of.date()} + {horizon_days} days ends {window_end.date()}, after the data "
            f"ends ({span.last.isoformat(sep=' ')})",
            fix=f"use a cutoff at most {(span.covered_until - dt.timedelta(days=horizon_days)).date()} "
            "or a shorter horizon",
        )


def _population(inputs: Inputs, as_of: dt.datetime) -> ir.Table:
    """Customers with a purchase line strictly before ``as_of`` (the feature population)."""
    t = inputs.transactions
    purchase = ~t.is_return.fill_null(False) & ~t.is_non_product.fill_null(False)
    return (
        t.filter(t.ordered_at < timestamp_literal(as_of), purchase, t.customer_id.notnull())
        .select("customer_id")
        .distinct()
    )


def label_table(inputs: Inputs, as_of: dt.datetime, *, horizon_days: int, span: DataRange) -> ir.Table:
    """Labels for ``horizon_days`` after ``as_of`` (see :data:`targetwise.features.columns.LABEL_COLUMNS`)."""
    t = inputs.transactions
    after = t.filter(t.ordered_at >= timestamp_literal(as_of), t.customer_id.notnull())
    non_product = after.is_non_product.fill_null(False)
    purchase = ~after.is_return.fill_null(False) & ~non_product
    in_window = after.ordered_at < timestamp_literal(as_of + dt.timedelta(days=horizon_days))
    outcome = after.group_by("customer_id").aggregate(
        next_at=after.ordered_at.min(where=purchase),
        spend=from_micros(amount_micros(after.line_amount).sum(where=in_window & ~non_product)),
    )
    population = _population(inputs, as_of)
    joined = population.left_join(outcome, population.customer_id == outcome.customer_id).select(
        population.customer_id, outcome.next_at, outcome.spend
    )
    next_sec = joined.next_at.truncate("s").epoch_seconds().cast("int64")
    window_sec = horizon_days * SECONDS_PER_DAY
    delay_sec = next_sec - epoch_seconds(as_of)
    purchased = (delay_sec < window_sec).fill_null(False)
    names = label_names(horizon_days)
    return joined.select(
        "customer_id",
        **{
            names[1]: purchased,
            names[2]: joined.spend.fill_null(0.0),
            names[3]: ~purchased,
            names[4]: delay_sec.cast("float64") / SECONDS_PER_DAY,
            names[5]: ibis.literal(span.last, type="timestamp"),
        },
    )
