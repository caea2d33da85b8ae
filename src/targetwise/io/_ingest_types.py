"""Ingest: what its stages share: reason codes and texts, the row checks, the summary of one load."""

from __future__ import annotations

from dataclasses import dataclass, field

from targetwise.io.mapping import PII_COLUMNS
from targetwise.schema import (
    CONSENT_PURPOSES,
    CONSENT_STATUSES,
    ENGAGEMENT_CHANNELS,
    ENGAGEMENT_EVENTS,
    OFFER_REWARD_KINDS,
)

__all__ = ["PII_COLUMNS", "REASONS", "IngestSummary"]


# reason_code -> plain-language reason with the fix.
REASONS: dict[str, str] = {
    "missing_value": "required value is empty; fill it in the source",
    "invalid_integer": "not a whole number; write digits only (no decimals, no thousands separators unless "
    "declared under [options] in the mapping: thousands = \".\")",
    "invalid_number": "not a finite number; use a dot as decimal separator and no currency signs, or declare the "
    "file's separators under [options] in the mapping (decimal = \",\", thousands = \".\")",
    "unparsable_timestamp": "timestamp not understood; use ISO 8601 (2011-12-09 12:50:00) or set date_format in the mapping",
    "future_timestamp": "timestamp lies in the future; check the clock or the date format (day/month swapped?)",
    "invalid_boolean": "not a boolean; use true/false, yes/no or 1/0",
    "invalid_json": "not valid JSON; attributes must be a JSON object",
    "zero_quantity": "quantity is 0; a line must buy (> 0) or return (< 0) something",
    "non_positive_price": "unit price is zero or negative; free items and adjustments are not sales lines",
    "cancellation_positive_quantity": "order id marks a cancellation ('C...') but quantity is positive",
    "amount_out_of_range": "quantity x unit price is too large to be a finite amount; check the units",
    "negative_price": "price is negative",
    "invalid_propensity": "propensity must be a probability in (0, 1]: the chance with which the offer was chosen",
    "invalid_value": "value is not one of the allowed values",
    "duplicate_line": "exact duplicate of an earlier line (in this file or already stored)",
    "duplicate_key": "the same key appears again later in this file; the last occurrence is loaded",
    "invalid_id": "a number with a fraction, an infinite one or one too large to be exact cannot be an id; "
    "write ids as text or whole numbers",
    "id_too_long": "id is longer than TARGETWISE_MAX_ID_LENGTH characters; check the column mapping (a text "
    "column mapped as an id?) or raise the limit",
}


_ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("consent", "purpose"): CONSENT_PURPOSES,
    ("consent", "status"): CONSENT_STATUSES,
    ("engagements", "channel"): ENGAGEMENT_CHANNELS,
    ("engagements", "event"): ENGAGEMENT_EVENTS,
    ("offer_decisions", "reward_kind"): OFFER_REWARD_KINDS,
}
#: timestamps that may lie in the future (an offer's active window is often planned ahead)
_FUTURE_ALLOWED: frozenset[tuple[str, str]] = frozenset({("offers", "starts_at"), ("offers", "ends_at")})


@dataclass(frozen=True)
class _Check:
    """One row-level check. Staging stores only the index of a row's first failing check
    (``staged.reason``); code, column and raw value are looked up for the failing rows alone."""

    condition: str | None  # SQL over the parsed columns; None for the duplicate checks run after staging
    code: str
    column: str | None
    value: str  # SQL of the offending raw value as text, over ``src`` (and ``staged s``, ``dup_rows d``)
    reason: str | None = None  # the plain-language reason where it says more than REASONS[code]


@dataclass(frozen=True)
class _Tally:
    """Counts over ``staged`` from one scan: per failed check (rows, first row), and of the valid rows."""

    rejected: dict[int, tuple[int, int]]  # check index -> (rows, first source_row)
    valid: dict[str, int]  # the named counts of valid rows (see _tally)


@dataclass
class IngestSummary:
    """What one ingest did. ``already_loaded`` means the same content was loaded before (``load_id`` is
    then that load's number)."""

    load_id: int  # 0 until the load has its number
    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_updated: int = 0
    rows_anonymous: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)
    pii_rows: int = 0
    non_product_lines: int = 0
    return_lines: int = 0
    returns_linked: int = 0
    already_loaded: bool = False
    warnings: list[str] = field(default_factory=list)
