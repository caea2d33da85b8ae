"""The canonical tables of a targetwise workspace, declared in one place.

Every ingest maps the user's columns onto these names; every later layer
(features, models, campaigns, service) reads only these names. The README's
"Canonical tables" section is generated from :data:`TABLES` and a test checks
it stays in sync.

Conventions
-----------
* Identifiers (customer_id, order_id, product_id, campaign_id) are strings:
  retailers' ids are often zero-padded or alphanumeric, and casting to int
  would silently change them.
* Timestamps are stored as naive UTC ``TIMESTAMP``. Naive input values are
  interpreted in the workspace's ``business_timezone`` and converted to UTC
  at ingest.
* Money is ``DOUBLE`` in the shop's currency (one currency per workspace
  unless the optional ``currency`` column says otherwise).
* Personal data (email, phone, name, address) lives only in ``customer_pii``.
  Features, models and run outputs reference ``customer_id`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "CONSENT_PURPOSES",
    "CONSENT_STATUSES",
    "DEFAULT_NON_PRODUCT_CODES",
    "ENGAGEMENT_CHANNELS",
    "ENGAGEMENT_EVENTS",
    "INGESTIBLE_TABLES",
    "OFFER_REWARD_KINDS",
    "SYSTEM_TABLES",
    "TABLES",
    "Column",
    "TableSpec",
    "ddl",
    "table_spec",
    "tables_markdown",
]

Kind = Literal["id", "string", "timestamp", "integer", "number", "boolean", "json", "hash"]

DUCKDB_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "json": "VARCHAR",
    "hash": "UBIGINT",
}


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind, whether input must provide it, and its meaning."""

    name: str
    kind: Kind
    required: bool
    description: str
    unit: str = ""
    # SQL over the row's stored columns for a column computed on read (a DuckDB VIRTUAL generated
    # column): derivable values are not written at ingest, which is dominated by writing columns.
    generated: str | None = None

    @property
    def sql_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: the columns a user provides, plus columns targetwise derives."""

    name: str
    description: str
    columns: tuple[Column, ...]
    derived: tuple[Column, ...] = field(default=())
    key: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # a line_hash given without an expression: computed on read over this table's input columns
        derived = tuple(
            replace(c, generated=line_hash_sql(self.columns, lambda name: name))
            if c.name == "line_hash" and c.generated is None
            else c
            for c in self.derived
        )
        object.__setattr__(self, "derived", derived)

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.derived

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The columns an INSERT fills, in table order (the generated ones are computed on read)."""
        return tuple(c for c in self.all_columns if c.generated is None)

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(name)


def line_hash_sql(columns: tuple[Column, ...], value: Callable[[str], str | None]) -> str:
    """``hash(...)`` of a line's canonical input values, in one fixed order and with fixed types.

    ``value(name)`` gives the SQL of a column's value, or None where the row has no such column (a
    typed NULL stands in). The ingest hashes its staged rows with this and the tables compute their
    ``line_hash`` with it, so a new line and a stored line hash alike exactly when their values do.
    """
    parts = []
    for c in columns:
        sql = value(c.name)
        parts.append(f"CAST({sql if sql is not None else 'NULL'} AS {c.sql_type})")
    return f"hash({', '.join(parts)})"


# Columns that every ingested row carries, for provenance and idempotency. A line_hash without an
# expression is computed on read over its table's input columns (see TableSpec.__post_init__).
_PROVENANCE = (
    Column("load_id", "integer", False, "The load (see table `loads`) that brought this row in."),
    Column("source_row", "integer", False, "1-based data row in the source file (header excluded)."),
    Column(
        "line_hash",
        "hash",
        False,
        "64-bit hash of the canonical values, computed on read (duplicates are confirmed on the values themselves).",
    ),
)


_TRANSACTION_COLUMNS = (
    Column("customer_id", "id", True, "Customer identifier."),
    Column("order_id", "id", True, "Order / invoice identifier; a leading 'C' marks a cancellation."),
    Column("ordered_at", "timestamp", True, "When the order was placed (stored as UTC).", "UTC"),
    Column("product_id", "id", True, "Product / SKU identifier."),
    Column("quantity", "integer", True, "Units on the line; negative for returns.", "units"),
    Column("unit_price", "number", True, "Price per unit; must be > 0.", "currency"),
    Column("channel", "string", False, "Sales channel (web, store, app, ...)."),
    Column("store", "string", False, "Store identifier."),
    Column("currency", "string", False, "ISO 4217 code if the shop sells in several currencies."),
)
_ANONYMOUS_COLUMNS = tuple(c for c in _TRANSACTION_COLUMNS if c.name != "customer_id")


def _transaction_derived(own: tuple[Column, ...]) -> tuple[Column, ...]:
    names = {c.name for c in own}
    return (
        Column(
            "is_return",
            "boolean",
            False,
            "True for negative quantity (a 'C' order id with positive quantity is quarantined); computed on read.",
            generated="quantity < 0",
        ),
        Column("is_non_product", "boolean", False, "True for postage, fees, manual adjustments."),
        Column("linked_order_id", "id", False, "For returns: the earlier order of the same customer and product it reverses."),
        Column(
            "line_amount",
            "number",
            False,
            "quantity * unit_price (negative for returns); computed on read.",
            "currency",
            generated="quantity * unit_price",
        ),
        *_PROVENANCE[:2],
        # as for a transaction line: a line without customer id hashes like one whose customer_id is NULL
        replace(
            _PROVENANCE[2],
            generated=line_hash_sql(_TRANSACTION_COLUMNS, lambda name: name if name in names else None),
        ),
    )


TRANSACTIONS = TableSpec(
    name="transactions",
    description=(
        "One row per order line. Negative quantity = a return or cancellation, kept and "
        "linked to the purchase it reverses. Lines without a customer id go to "
        "`anonymous_transactions`; non-product codes (postage, fees) are flagged, not dropped."
    ),
    columns=_TRANSACTION_COLUMNS,
    derived=_transaction_derived(_TRANSACTION_COLUMNS),
)

ANONYMOUS_TRANSACTIONS = TableSpec(
    name="anonymous_transactions",
    description="Order lines with no customer id: counted and kept, never mixed into customers.",
    columns=_ANONYMOUS_COLUMNS,
    derived=_transaction_derived(_ANONYMOUS_COLUMNS),
)

CUSTOMERS = TableSpec(
    name="customers",
    description=(
        "One row per customer: non-personal attributes only. Personal data goes to "
        "`customer_pii` (the ingest splits it off automatically)."
    ),
    columns=(
        Column("customer_id", "id", True, "Customer identifier."),
        Column("signup_at", "timestamp", False, "When the customer signed up (UTC).", "UTC"),
        Column("country", "string", False, "Country name or ISO code."),
        Column("attributes", "json", False, "Any further non-personal attributes, as a JSON object."),
    ),
    derived=_PROVENANCE,
    key=("customer_id",),
)

CUSTOMER_PII = TableSpec(
    name="customer_pii",
    description="Personal data, kept apart from everything else; read only for exports that need it.",
    columns=(
        Column("customer_id", "id", True, "Customer identifier."),
        Column("email", "string", False, "E-mail address."),
        Column("phone", "string", False, "Phone number, ideally E.164."),
        Column("name", "string", False, "Full name."),
        Column("address", "string", False, "Postal address."),
    ),
    derived=(Column("load_id", "integer", False, "The load that brought this row in."),),
    key=("customer_id",),
)

PRODUCTS = TableSpec(
    name="products",
    description="The catalogue.",
    columns=(
        Column("product_id", "id", True, "Product / SKU identifier."),
        Column("name", "string", False, "Short product name."),
        Column("description", "string", False, "Longer text, used by content recommendations."),
        Column("category", "string", False, "Category path or name."),
        Column("price", "number", False, "List price.", "currency"),
        Column("active", "boolean", False, "False for discontinued products (never recommended)."),
    ),
    derived=_PROVENANCE,
    key=("product_id",),
)

CAMPAIGNS = TableSpec(
    name="campaigns",
    description="Marketing campaigns (one row each).",
    columns=(
        Column("campaign_id", "id", True, "Campaign identifier."),
        Column("name", "string", False, "Campaign name."),
        Column("channel", "string", False, "email, sms, ads, ..."),
        Column("started_at", "timestamp", False, "Start of the campaign (UTC).", "UTC"),
        Column("ended_at", "timestamp", False, "End of the measurement window (UTC).", "UTC"),
    ),
    derived=_PROVENANCE,
    key=("campaign_id",),
)

CAMPAIGN_EXPOSURES = TableSpec(
    name="campaign_exposures",
    description="Who was assigned to which arm of a campaign. `arm` is 'control' or a treatment name.",
    columns=(
        Column("campaign_id", "id", True, "Campaign identifier."),
        Column("customer_id", "id", True, "Customer identifier."),
        Column("arm", "string", True, "'control' for the holdout, 'treatment' or a named treatment arm."),
        Column("sent_at", "timestamp", True, "When the message was sent (UTC).", "UTC"),
        Column("channel", "string", False, "email, sms, ads, ..."),
    ),
    derived=_PROVENANCE,
    key=("campaign_id", "customer_id"),
)

RESPONSES = TableSpec(
    name="responses",
    description="Observed responses to campaigns (visits, conversions, revenue).",
    columns=(
        Column("campaign_id", "id", True, "Campaign identifier."),
        Column("customer_id", "id", True, "Customer identifier."),
        Column("responded_at", "timestamp", True, "When the response happened (UTC).", "UTC"),
        Column("response_type", "string", True, "visit, conversion, ..."),
        Column("revenue", "number", False, "Revenue attributed to the response.", "currency"),
    ),
    derived=_PROVENANCE,
)

CONSENT_PURPOSES = ("profiling", "email", "sms", "ads")
CONSENT_STATUSES = ("granted", "denied", "revoked")

CONSENT = TableSpec(
    name="consent",
    description=(
        "Consent ledger: one row per decision, newest wins per customer and purpose. "
        "purpose in profiling/email/sms/ads; status in granted/denied/revoked."
    ),
    columns=(
        Column("customer_id", "id", True, "Customer identifier."),
        Column("purpose", "string", True, "profiling, email, sms or ads."),
        Column("status", "string", True, "granted, denied or revoked."),
        Column("recorded_at", "timestamp", True, "When the decision was made (UTC).", "UTC"),
        Column("source", "string", False, "Where it was recorded (web form, call centre, API key, ...)."),
    ),
    derived=_PROVENANCE,
)

ENGAGEMENT_CHANNELS = ("email", "sms", "push", "ads", "web", "other")
ENGAGEMENT_EVENTS = ("sent", "delivered", "open", "click", "unsubscribe", "bounce", "complaint", "conversion")

ENGAGEMENTS = TableSpec(
    name="engagements",
    description=(
        "Message events, one row each: sends and what followed them (delivery, opens, clicks, unsubscribes, "
        "bounces, complaints, conversions). channel in email/sms/push/ads/web/other. An unsubscribe "
        "suppresses that channel for the customer at once (email, sms and ads: consent revoked as of it)."
    ),
    columns=(
        Column("customer_id", "id", True, "Customer identifier."),
        Column("channel", "string", True, "email, sms, push, ads, web or other."),
        Column("event", "string", True, "sent, delivered, open, click, unsubscribe, bounce, complaint or conversion."),
        Column("occurred_at", "timestamp", True, "When the event happened (stored as UTC).", "UTC"),
        Column("campaign_id", "id", False, "Campaign the message belonged to."),
        Column("message_id", "id", False, "The message (one send); links an open or click to its send."),
        Column(
            "is_machine",
            "boolean",
            False,
            "True for an open made by a machine (a mail privacy proxy, a scanner), not by the person.",
        ),
    ),
    derived=_PROVENANCE,
)

OFFER_REWARD_KINDS = ("click", "conversion", "revenue")

OFFERS = TableSpec(
    name="offers",
    description=(
        "The offers a next-best-offer policy chooses from (one row each). `eligibility` holds conditions in the "
        "audience language (a JSON list of {field, op, value}, all must hold); an offer is live from "
        "`starts_at` to `ends_at` (either may be empty: no limit). See docs/offers.md."
    ),
    columns=(
        Column("offer_id", "id", True, "Offer identifier."),
        Column("name", "string", False, "Offer name."),
        Column("channel", "string", False, "email, sms, push, web, ..."),
        Column("cost", "number", False, "What one redemption costs the shop.", "currency"),
        Column("value", "number", False, "Margin or value of one conversion.", "currency"),
        Column(
            "eligibility",
            "json",
            False,
            "Who may get it: audience-language conditions as a JSON list (empty: everyone).",
        ),
        Column("starts_at", "timestamp", False, "Start of the offer's active window (UTC; may be in the future).", "UTC"),
        Column("ends_at", "timestamp", False, "End of the active window (UTC; may be in the future).", "UTC"),
    ),
    derived=_PROVENANCE,
    key=("offer_id",),
)

OFFER_DECISIONS = TableSpec(
    name="offer_decisions",
    description=(
        "The offer log: one row per decision (which offer a customer was given, and the probability with which "
        "the policy chose it), and its reward once observed. A reward arriving later is a new row with the "
        "same customer_id, offer_id and decided_at; the latest observed_at wins. reward_kind in "
        "click/conversion/revenue."
    ),
    columns=(
        Column("customer_id", "id", True, "Customer identifier."),
        Column("offer_id", "id", True, "The offer given (see `offers`)."),
        Column("decided_at", "timestamp", True, "When the decision was made (UTC).", "UTC"),
        Column("propensity", "number", True, "Probability with which the logging policy chose this offer, in (0, 1]."),
        Column("reward", "number", False, "Observed reward: 1/0 for click or conversion, an amount for revenue."),
        Column("reward_kind", "string", False, "click, conversion or revenue."),
        Column("observed_at", "timestamp", False, "When the reward was observed (UTC).", "UTC"),
        Column("holdout", "boolean", False, "True for a uniform-random holdout decision."),
    ),
    derived=_PROVENANCE,
)

INGESTIBLE: tuple[TableSpec, ...] = (
    TRANSACTIONS,
    CUSTOMERS,
    CUSTOMER_PII,
    PRODUCTS,
    CAMPAIGNS,
    CAMPAIGN_EXPOSURES,
    RESPONSES,
    CONSENT,
    ENGAGEMENTS,
    OFFERS,
    OFFER_DECISIONS,
)

QUARANTINE = TableSpec(
    name="quarantine",
    description="Rejected input rows with the reason; nothing is silently dropped.",
    columns=(),
    derived=(
        Column("load_id", "integer", False, "The load the row came with."),
        Column("table_name", "string", False, "Target table."),
        Column("source_file", "string", False, "File (or query) the row came from."),
        Column("source_row", "integer", False, "1-based data row in the source."),
        Column("reason_code", "string", False, "Machine-readable reason (e.g. non_positive_price)."),
        Column("reason", "string", False, "Plain-language reason and fix."),
        Column("column_name", "string", False, "Offending column."),
        Column("value", "string", False, "Offending value, as text."),
        Column("customer_id", "id", False, "Customer id of the row where known (for erasure)."),
        Column("raw", "json", False, "The whole source row as JSON."),
    ),
)

LOADS = TableSpec(
    name="loads",
    description="One row per ingest: file hash, counts and timing. A file hash seen before is not loaded again.",
    columns=(),
    derived=(
        Column("load_id", "integer", False, "Load number: 1, 2, 3 ... in the order the loads began."),
        Column("table_name", "string", False, "Target table."),
        Column("source", "string", False, "File path or SQL URL."),
        Column("content_hash", "id", False, "SHA-256 of the source bytes (or of the query result)."),
        Column("mapping_hash", "id", False, "SHA-256 of the mapping used."),
        Column("rows_read", "integer", False, "Data rows read."),
        Column("rows_loaded", "integer", False, "Rows added to the table."),
        Column("rows_anonymous", "integer", False, "Rows without a customer id (transactions only)."),
        Column("rows_quarantined", "integer", False, "Rows rejected to `quarantine`."),
        Column("started_at", "timestamp", False, "UTC."),
        Column("finished_at", "timestamp", False, "UTC."),
    ),
)

LOAD_COLUMNS = TableSpec(
    name="load_columns",
    description=(
        "Which source column filled which canonical column, per load: how erasure finds a person's id, "
        "e-mail or phone in a quarantined row's raw JSON (by column, never by searching the text)."
    ),
    columns=(),
    derived=(
        Column("load_id", "integer", False, "The load (see `loads`)."),
        Column("canonical", "string", False, "Our column name (e.g. customer_id, email)."),
        Column("source_column", "string", False, "The source's column name (a key of `quarantine.raw`)."),
    ),
)

SUPPRESSIONS = TableSpec(
    name="suppressions",
    description=(
        "Erased people, without personal data: a keyed pseudonym (HMAC-SHA256 under the workspace's secret "
        "audit salt) of the id and of the normalised e-mail and phone. Whoever comes back in a later file is "
        "suppressed (consent denied for every purpose, as of the erasure) until they give consent again."
    ),
    columns=(),
    derived=(
        Column("subject", "id", False, "Keyed pseudonym of the value (`customer:`, `email:` or `phone:` + 16 hex)."),
        Column("kind", "string", False, "customer_id, email or phone."),
        Column("erased_at", "timestamp", False, "When the person was erased (UTC)."),
    ),
)

SYSTEM_TABLES: tuple[TableSpec, ...] = (ANONYMOUS_TRANSACTIONS, QUARANTINE, LOADS, LOAD_COLUMNS, SUPPRESSIONS)

TABLES: dict[str, TableSpec] = {t.name: t for t in INGESTIBLE + SYSTEM_TABLES}
INGESTIBLE_TABLES: tuple[str, ...] = tuple(t.name for t in INGESTIBLE)

# Online Retail's non-product stock codes plus common ones; configurable per workspace.
DEFAULT_NON_PRODUCT_CODES: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "m",
    "D",
    "S",
    "B",
    "C2",
    "CRUK",
    "PADS",
    "BANK CHARGES",
    "AMAZONFEE",
    "ADJUST",
    "ADJUST2",
    "TEST001",
    "TEST002",
)


def table_spec(name: str) -> TableSpec:
    from targetwise.errors import ConfigError

    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown table {name!r}",
            fix=f"use one of: {', '.join(INGESTIBLE_TABLES)}",
        ) from None


def ddl(spec: TableSpec) -> str:
    """CREATE TABLE statement for a canonical table."""
    cols = ",\n  ".join(
        f"{c.name} {c.sql_type}" + (f" GENERATED ALWAYS AS ({c.generated}) VIRTUAL" if c.generated else "")
        for c in spec.all_columns
    )
    return f"CREATE TABLE IF NOT EXISTS {spec.name} (\n  {cols}\n)"


def tables_markdown() -> str:
    """The README's "Canonical tables" section, generated from :data:`TABLES`."""
    lines: list[str] = []
    for spec in TABLES.values():
        lines.append(f"### `{spec.name}`\n")
        lines.append(spec.description + "\n")
        lines.append("| column | type | required | meaning |")
        lines.append("|---|---|---|---|")
        for c in spec.columns:
            unit = f" ({c.unit})" if c.unit else ""
            lines.append(f"| `{c.name}` | {c.kind} | {'yes' if c.required else ''} | {c.description}{unit} |")
        for c in spec.derived:
            lines.append(f"| `{c.name}` | {c.kind} | derived | {c.description} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
