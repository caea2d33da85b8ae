"""Shared input handling for features, labels and snapshots: tables, cutoffs, data range."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from targetwise.errors import ConfigError, DataValidationError
from targetwise.features.columns import TIME_UNITS

AsOf = str | dt.date | dt.datetime | pd.Timestamp

REQUIRED_TRANSACTION_COLUMNS = (
    "customer_id",
    "order_id",
    "ordered_at",
    "product_id",
    "quantity",
    "is_return",
    "is_non_product",
    "line_amount",
)

SECONDS_PER_DAY = 86_400

# Money is summed exactly, in integer micro-units of the currency (each line's amount is
# rounded to 1e-6 once): a float sum depends on the order the rows arrive in, and parallel
# scans (DuckDB, Spark) deliver them in a different order from run to run.
MICROS_PER_UNIT = 1_000_000


@dataclass(frozen=True)
class Inputs:
    """The transactions (and optional products) tables an expression is built from."""

    transactions: ir.Table
    products: ir.Table | None


@dataclass(frozen=True)
class DataRange:
    """First and last ``ordered_at`` in the transactions table (naive UTC)."""

    first: dt.datetime
    last: dt.datetime

    @property
    def covered_until(self) -> dt.datetime:
        """Midnight after the last transaction's day: the data is taken to cover whole days."""
        day = dt.datetime.combine(self.last.date(), dt.time())
        return day + dt.timedelta(days=1)


def resolve_inputs(backend_or_table: Any, products: ir.Table | None = None) -> Inputs:
    """Accept an Ibis backend (reads ``transactions`` and, if present, ``products``) or a transactions table."""
    if isinstance(backend_or_table, ir.Table):
        transactions = backend_or_table
    elif hasattr(backend_or_table, "table") and hasattr(backend_or_table, "list_tables"):
        # Not list_tables(): Ibis 12.0's DuckDB list_tables() calls a cursor method DuckDB 2.0 removed.
        transactions = _table_or_none(backend_or_table, "transactions")
        if transactions is None:
            raise DataValidationError(
                "the backend has no `transactions` table",
                fix="ingest transactions first (`targetwise ingest transactions FILE`)",
            )
        if products is None:
            products = _table_or_none(backend_or_table, "products")
    else:
        raise ConfigError(
            f"expected an Ibis backend or an Ibis table of transactions, got {type(backend_or_table).__name__}",
            fix="open one with targetwise.io.engines.open_duckdb(...) or open_spark(...)",
        )
    missing = [c for c in REQUIRED_TRANSACTION_COLUMNS if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"transactions lack column(s) {', '.join(missing)}",
            fix="build the table with targetwise.schema.ddl(TABLES['transactions']) / the ingest",
        )
    if products is not None and not {"product_id", "category"} <= set(products.columns):
        products = None
    return Inputs(transactions=transactions, products=products)


def _table_or_none(backend: Any, name: str) -> ir.Table | None:
    try:
        return backend.table(name)
    except Exception as exc:  # TableNotFound on DuckDB, AnalysisException-derived errors on Spark
        if (
            "not found" in str(exc).lower()
            or "not exist" in str(exc).lower()
            or type(exc).__name__ == "TableNotFound"
        ):
            return None
        raise


# Text cutoffs: ISO 8601 only (2024-06-01, 2024-06-01 12:00[:00], T, Z or an offset). pandas would also
# read 06/01/2024, as 1 June: a day-first user meant 6 January, so nothing but ISO is guessed.
_ISO_AS_OF = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def normalize_as_of(as_of: AsOf, *, name: str = "as_of") -> dt.datetime:
    """A cutoff as a naive UTC datetime. Dates mean midnight UTC; aware values are converted to UTC.
    Text must be ISO 8601 (``2024-06-01``); ``06/01/2024`` is refused, never read as a day or a month."""
    bad = DataValidationError(
        f"{name} must be a date or timestamp in ISO form YYYY-MM-DD, got {as_of!r}",
        fix="write the date as YYYY-MM-DD, e.g. 2024-06-01 (06/01/2024 could be 6 January or 1 June)",
    )
    if isinstance(as_of, str) and not _ISO_AS_OF.fullmatch(as_of.strip()):
        raise bad
    try:
        stamp = pd.Timestamp(as_of.strip() if isinstance(as_of, str) else as_of)
    except (ValueError, TypeError):
        raise bad from None
    if pd.isna(stamp):
        raise DataValidationError(f"{name} is missing", fix="pass a date such as 2011-06-01")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime().replace(microsecond=0)


def check_time_unit(time_unit: str) -> int:
    """Length in days of a BTYD time unit."""
    try:
        return TIME_UNITS[time_unit]
    except KeyError:
        raise ConfigError(
            f"unknown time_unit {time_unit!r}",
            fix="use 'D' (day) or 'W' (7-day week, Monday start); months are not a fixed number of days",
        ) from None


def data_range(transactions: ir.Table) -> DataRange:
    """First and last ``ordered_at`` (one small aggregate query)."""
    frame = transactions.aggregate(
        first=transactions.ordered_at.min(), last=transactions.ordered_at.max()
    ).to_pandas()
    first, last = frame["first"].iloc[0], frame["last"].iloc[0]
    if pd.isna(first):
        raise DataValidationError("the transactions table is empty", fix="ingest transactions first")
    return DataRange(first=pd.Timestamp(first).to_pydatetime(), last=pd.Timestamp(last).to_pydatetime())


def check_as_of(as_of: dt.datetime, span: DataRange) -> None:
    """``as_of`` must leave data before it. A cutoff after the last transaction is accepted (a nightly run
    after a day without orders): :func:`data_gap` says how many days lie between the data and it."""
    if as_of <= span.first:
        raise DataValidationError(
            f"as_of {as_of.isoformat(sep=' ')} is outside the data range "
            f"({span.first.isoformat(sep=' ')} .. {span.last.isoformat(sep=' ')}): no line lies before it",
            fix=f"pass a cutoff after {span.first.date()}",
        )


@dataclass(frozen=True)
class DataGap:
    """How far a cutoff lies beyond the data: whole ``days`` from the midnight after the last order to
    ``as_of`` (0 when the data reaches the cutoff); ``stale`` past the allowed staleness."""

    as_of: dt.datetime
    last_order: dt.datetime
    days: int
    stale_after_days: int

    @property
    def stale(self) -> bool:
        return self.days > self.stale_after_days

    def note(self) -> str | None:
        """One line for the notes; None when the data reaches the cutoff."""
        if self.days <= 0:
            return None
        days = "1 day" if self.days == 1 else f"{self.days:,} days"
        text = (
            f"as of {self.as_of.date()} is {days} after the data ends "
            f"(last order {self.last_order:%Y-%m-%d %H:%M} UTC)"
        )
        if self.stale:
            text += (
                f"; the data may be stale (more than {self.stale_after_days} days without an order, "
                "TARGETWISE_STALE_DATA_DAYS): recency grows for everyone, so load the newer orders"
            )
        return text


def data_gap(as_of: AsOf, last_order: dt.datetime, *, stale_after_days: int) -> DataGap:
    """The gap between the data (last order ``last_order``, naive UTC) and the cutoff ``as_of``."""
    cutoff = normalize_as_of(as_of)
    covered_until = DataRange(first=last_order, last=last_order).covered_until
    days = max(0, (cutoff - covered_until).days)
    return DataGap(as_of=cutoff, last_order=last_order, days=days, stale_after_days=stale_after_days)


def amount_micros(amount: ir.NumericValue) -> ir.IntegerValue:
    """A line amount in integer micro-units, so sums of it are exact (independent of row order)."""
    return (amount.cast("float64") * MICROS_PER_UNIT).round().cast("int64")


def from_micros(micros: ir.NumericValue) -> ir.FloatingValue:
    """An exact micro-unit sum back in currency units (float64)."""
    return micros.cast("float64") / MICROS_PER_UNIT


def timestamp_literal(value: dt.datetime) -> ir.TimestampScalar:
    return ibis.literal(value, type="timestamp")


def epoch_seconds(value: dt.datetime) -> int:
    """Seconds since 1970-01-01 of a naive UTC datetime."""
    return int((value - dt.datetime(1970, 1, 1)).total_seconds())


def discover_channels(transactions: ir.Table, as_of: dt.datetime) -> tuple[str, ...]:
    """Distinct non-null channels on lines before ``as_of``, sorted (reads two columns only)."""
    if "channel" not in transactions.columns:
        return ()
    t = transactions
    found = (
        t.filter(t.ordered_at < timestamp_literal(as_of), t.channel.notnull())
        .select("channel")
        .distinct()
        .to_pandas()["channel"]
    )
    return tuple(sorted(str(c) for c in found))


def channel_column_names(channels: tuple[str, ...]) -> dict[str, str]:
    """Map raw channel values to column suffixes (lower case, non-alphanumerics as '_'), rejecting collisions."""
    names: dict[str, str] = {}
    for raw in channels:
        suffix = re.sub(r"[^0-9a-z]+", "_", raw.strip().lower()).strip("_") or "blank"
        if suffix in names.values():
            other = next(k for k, v in names.items() if v == suffix)
            raise DataValidationError(
                f"channels {other!r} and {raw!r} map to the same column channel_share_{suffix}",
                fix="normalise channel spellings at ingest",
            )
        names[raw] = suffix
    return names
