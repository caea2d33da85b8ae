"""Audiences: a small, safe filter language over a run's customer tables, and exports.

An audience definition is a list of conditions ``{"field", "op", "value"}``
combined with AND. Fields are columns of the run's customer tables joined on
``customer_id`` (``segments``, ``clv``, ``propensity``, ``features``,
``uplift``); a bare name must be unique across them, otherwise qualify it as
``table.column`` (``clv.clv``). Operators:

* ``==``, ``!=``: a number for numeric columns, text for text columns;
* ``>``, ``>=``, ``<``, ``<=``: numeric columns only, with a finite number;
* ``in``: a non-empty list of numbers or texts (at most 1,000).

Nothing is evaluated or turned into SQL: each condition becomes one vectorised
pandas comparison on a column chosen from a fixed list. A missing value never
matches any condition (also not ``!=``): "unknown" is not "different".

Consent is not optional here: :func:`select_audience` always removes the ids in
``exclude`` (customers who objected to profiling), and :func:`export_frame`
is given the opt-outs of the destination's purpose by its caller.

Everything is pure pandas over frames; reading runs, consent and personal data
is the caller's job (the service or the CLI).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from targetwise.campaigns.hashing import hash_identifier
from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.io import outputs

__all__ = [
    "AUDIENCE_TABLES",
    "DESTINATIONS",
    "OPERATORS",
    "Condition",
    "ExportResult",
    "audience_fields",
    "audience_frame",
    "export_frame",
    "parse_conditions",
    "select_audience",
    "slugify",
]

#: Run outputs that can be filtered on, in join order, with the run file each comes from.
AUDIENCE_TABLES: dict[str, str] = {
    "segments": outputs.SEGMENTS.path,
    "clv": outputs.CLV.path,
    "propensity": outputs.PROPENSITY.path,
    "features": outputs.FEATURES.path,
    "uplift": outputs.UPLIFT.path,
}
OPERATORS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in")
Destination = Literal["csv", "parquet", "google", "meta"]
#: Export destinations; ``google`` and ``meta`` get hashed e-mail/phone, the others customer ids.
DESTINATIONS: tuple[str, ...] = ("csv", "parquet", "google", "meta")
MAX_IN_VALUES = 1000
# Columns that are structured text (JSON) rather than filterable values.
_NOT_FILTERABLE = {"customer_id", "drivers_purchase_30d", "reason"}


@dataclass(frozen=True)
class Condition:
    """One filter condition: ``field op value``."""

    field: str
    op: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExportResult:
    """An export table and what was left out of it (counts only, never who)."""

    frame: pd.DataFrame
    members: int
    exported: int
    excluded_opt_out: int
    without_identifier: int
    invalid_identifiers: int


def slugify(name: str) -> str:
    """A file-safe audience name: lower case letters, digits and dashes (max 48 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:48].strip("-")
    if not slug:
        raise DataValidationError(
            f"audience name {name!r} has no letters or digits", fix="name it e.g. 'lapsed high value'"
        )
    return slug


def audience_frame(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Join the given customer tables on ``customer_id`` (outer join, one row per customer).

    Every column appears as ``table.column``; a column whose bare name occurs in
    only one table also appears under its bare name. ``tables`` keys must be
    names from :data:`AUDIENCE_TABLES`.
    """
    unknown = [name for name in tables if name not in AUDIENCE_TABLES]
    if unknown:
        raise ConfigError(f"unknown audience table(s) {unknown}", fix=f"use {list(AUDIENCE_TABLES)}")
    parts: list[pd.DataFrame] = []
    counts: dict[str, int] = {}
    for name in AUDIENCE_TABLES:
        if name not in tables:
            continue
        table = tables[name]
        if "customer_id" not in table.columns:
            raise DataValidationError(f"table {name!r} has no customer_id column", fix="check the run outputs")
        if not table["customer_id"].is_unique:
            raise DataValidationError(
                f"table {name!r} has repeated customer ids", fix="a customer table has one row per customer"
            )
        cols = [c for c in table.columns if c not in _NOT_FILTERABLE]
        for c in cols:
            counts[c] = counts.get(c, 0) + 1
        part = table.set_index("customer_id")[cols]
        part.columns = [f"{name}.{c}" for c in cols]
        parts.append(part)
    if not parts:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=object)})
    joined = pd.concat(parts, axis=1, join="outer")
    joined.index.name = "customer_id"
    bare = {q: q.split(".", 1)[1] for q in joined.columns if counts[q.split(".", 1)[1]] == 1}
    for qualified, name in bare.items():
        joined[name] = joined[qualified]
    return joined.reset_index().sort_values("customer_id", kind="stable").reset_index(drop=True)


def audience_fields(frame: pd.DataFrame) -> dict[str, str]:
    """Filterable fields of an :func:`audience_frame` and their kind (``number`` or ``text``)."""
    fields: dict[str, str] = {}
    for column in frame.columns:
        if column == "customer_id":
            continue
        fields[column] = "number" if _is_numeric(frame[column]) else "text"
    return fields


def parse_conditions(raw: Iterable[Mapping[str, Any]]) -> list[Condition]:
    """Check the shape of raw conditions (fields are checked against the data later)."""
    conditions: list[Condition] = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping) or set(item) - {"field", "op", "value"} or "field" not in item or "op" not in item:
            raise DataValidationError(
                f"condition {position} must be an object with keys field, op, value; got {item!r}",
                fix='write e.g. {"field": "clv", "op": ">=", "value": 100}',
            )
        if item["op"] not in OPERATORS:
            raise DataValidationError(
                f"condition {position} has unknown operator {item['op']!r}",
                location=Location(column=str(item["field"]), value=item["op"]),
                fix=f"use one of {', '.join(OPERATORS)}",
            )
        conditions.append(Condition(str(item["field"]), str(item["op"]), item.get("value")))
    return conditions


def select_audience(
    frame: pd.DataFrame,
    conditions: Sequence[Condition],
    *,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Customer ids (sorted) of ``frame`` meeting every condition, minus ``exclude``.

    ``frame`` is an :func:`audience_frame`; ``exclude`` holds the customers who
    objected to profiling and is always applied. No condition selects everyone
    in the frame (still minus ``exclude``).
    """
    fields = audience_fields(frame)
    mask = np.ones(len(frame), dtype=bool)
    for position, condition in enumerate(conditions, start=1):
        mask &= _condition_mask(frame, fields, condition, position)
    excluded = set(exclude)
    ids = frame.loc[mask, "customer_id"].astype(str)
    return sorted(i for i in ids if i not in excluded)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _number(value: Any, condition: Condition, position: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataValidationError(
            f"condition {position} compares numeric field {condition.field!r} with {value!r}, which is not a finite number",
            location=Location(column=condition.field, value=value),
            fix="give a number, e.g. 100 or 0.5",
        )
    return float(value)


def _text(value: Any, condition: Condition, position: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataValidationError(
            f"condition {position} compares text field {condition.field!r} with {value!r}",
            location=Location(column=condition.field, value=value),
            fix="give a text value (or a list of them with 'in')",
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _condition_mask(frame: pd.DataFrame, fields: dict[str, str], condition: Condition, position: int) -> np.ndarray:
    if condition.field not in fields:
        ambiguous = sorted(f for f in fields if f.endswith(f".{condition.field}"))
        hint = (
            f"it is in several tables; write one of {', '.join(ambiguous)}"
            if ambiguous
            else f"fields of this run: {', '.join(sorted(f for f in fields if '.' not in f)) or 'none'}"
        )
        raise DataValidationError(
            f"condition {position} uses unknown field {condition.field!r}",
            location=Location(column=condition.field),
            fix=hint,
        )
    kind = fields[condition.field]
    column = frame[condition.field]
    present = column.notna().to_numpy()
    op, value = condition.op, condition.value
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise DataValidationError(
                f"condition {position}: 'in' needs a list of 1 to {MAX_IN_VALUES} values, got {value!r}",
                location=Location(column=condition.field),
                fix='write e.g. {"op": "in", "value": ["Champions", "Loyal"]}',
            )
        if kind == "number":
            numbers = [_number(v, condition, position) for v in value]
            return present & column.isin(numbers).to_numpy()
        texts = [_text(v, condition, position) for v in value]
        return present & column.astype("string").isin(texts).fillna(False).to_numpy(dtype=bool)
    if kind == "number":
        number = _number(value, condition, position)
        values = column.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            result = {
                "==": values == number,
                "!=": values != number,
                ">": values > number,
                ">=": values >= number,
                "<": values < number,
                "<=": values <= number,
            }[op]
        return present & result
    if op not in ("==", "!="):
        raise DataValidationError(
            f"condition {position}: operator {op!r} needs a numeric field, but {condition.field!r} is text",
            location=Location(column=condition.field, value=op),
            fix="use ==, != or in for text fields",
        )
    text = _text(value, condition, position)
    equal = (column.astype("string") == text).fillna(False).to_numpy(dtype=bool)
    return present & (equal if op == "==" else ~equal)


def export_frame(
    members: Sequence[str],
    *,
    destination: str,
    opted_out: Iterable[str] = (),
    pii: pd.DataFrame | None = None,
    default_country_code: str | int | None = None,
) -> ExportResult:
    """The table to hand to ``destination`` for an audience's ``members``.

    ``csv``/``parquet``: one column ``customer_id``. ``google`` (Customer
    Match) and ``meta`` (Custom Audiences): hashed identifiers only, columns
    ``email_sha256`` and ``phone_sha256`` in each platform's normal form (see
    :mod:`targetwise.campaigns.hashing`), no customer id. ``pii`` (columns
    ``customer_id``, ``email``, ``phone``) is needed for those two. Invalid
    addresses are left out and counted, never sent half-normalised; members
    with no usable identifier are counted in ``without_identifier``.
    """
    if destination not in DESTINATIONS:
        raise ConfigError(f"unknown export destination {destination!r}", fix=f"use one of {', '.join(DESTINATIONS)}")
    blocked = set(opted_out)
    kept = [m for m in members if m not in blocked]
    excluded = len(members) - len(kept)
    if destination in ("csv", "parquet"):
        frame = pd.DataFrame({"customer_id": pd.Series(kept, dtype=object)})
        return ExportResult(frame, len(members), len(frame), excluded, 0, 0)
    if pii is None:
        raise ConfigError(f"exporting to {destination} needs the customers' e-mail/phone", fix="pass pii=")
    platform = "google_customer_match" if destination == "google" else "meta"
    contact = pii[pii["customer_id"].isin(kept)].drop_duplicates("customer_id").set_index("customer_id")
    emails: list[str | None] = []
    phones: list[str | None] = []
    invalid = 0
    without = 0
    for customer in kept:
        email_hash = phone_hash = None
        if customer in contact.index:
            row = contact.loc[customer]
            for kind in ("email", "phone"):
                value = row.get(kind)
                if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                    continue
                try:
                    digest = hash_identifier(
                        value, kind=kind, destination=platform, default_country_code=default_country_code
                    )
                except DataValidationError:
                    invalid += 1
                    continue
                if kind == "email":
                    email_hash = digest
                else:
                    phone_hash = digest
        if email_hash is None and phone_hash is None:
            without += 1
            continue
        emails.append(email_hash)
        phones.append(phone_hash)
    frame = pd.DataFrame(
        {"email_sha256": pd.Series(emails, dtype=object), "phone_sha256": pd.Series(phones, dtype=object)}
    )
    return ExportResult(frame, len(members), len(frame), excluded, without, invalid)
