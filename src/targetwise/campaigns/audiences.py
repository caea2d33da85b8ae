"""Audiences: a small, safe filter language over a run's customer tables, and exports.

An audience definition is a list of conditions ``{"field", "op", "value"}``
combined with AND. Fields are columns of the run's customer tables joined on
``customer_id`` (``segments``, ``clv``, ``propensity``, ``features``,
``uplift``); a bare name must be unique across them, otherwise qualify it as
``table.column`` (``clv.clv``). Operators:

* ``==``, ``!=``: a number for numeric columns, text for text columns;
* ``>``, ``>=``, ``<``, ``<=``: numeric columns only, with a finite number;
* ``in``: a non-empty list of numbers or texts (at most 1,000; for ``customer_id``, at most 1,000,000).

``customer_id`` is a text field too (``customer_id in [...]``: an audience made from a file of ids);
the assistant's field catalogue never offers it, so no model is ever asked for or shown an id.

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

from targetwise.campaigns.hashing import hash_address_part, hash_identifier
from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.io import outputs

__all__ = [
    "AUDIENCE_TABLES",
    "DESTINATIONS",
    "EXPORT_COLUMNS",
    "GOOGLE_HEADERS",
    "META_HEADERS",
    "OPERATORS",
    "Condition",
    "ExportResult",
    "audience_fields",
    "audience_frame",
    "export_frame",
    "export_values",
    "parse_conditions",
    "parse_export_columns",
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
#: Export destinations; ``google`` and ``meta`` get their upload templates' columns, the others customer ids.
DESTINATIONS: tuple[str, ...] = ("csv", "parquet", "google", "meta")
MAX_IN_VALUES = 1000
#: ids a ``customer_id in [...]`` condition may list (an uploaded id file)
MAX_ID_VALUES = 1_000_000
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
    #: plain-language notes on what the file lacks (members left out, an empty file); never names anyone
    warnings: tuple[str, ...] = ()


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
    fields: dict[str, str] = {"customer_id": "text"}
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
        limit = MAX_ID_VALUES if condition.field == "customer_id" else MAX_IN_VALUES
        if not isinstance(value, list) or not value or len(value) > limit:
            shown = value if not isinstance(value, list) or len(value) <= 5 else f"a list of {len(value):,}"
            raise DataValidationError(
                f"condition {position}: 'in' needs a list of 1 to {limit} values, got {shown!r}",
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


# -- exports ----------------------------------------------------------------------------------------

#: Google Ads Customer Match "contact info" file: the template's headers, in its order.
#: Source: https://support.google.com/google-ads/answer/7659867 ("Email", "Phone", "First Name",
#: "Last Name", "Country" and "Zip"; headers in English, exactly these names).
GOOGLE_HEADERS: tuple[str, ...] = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
#: Meta customer list: the column headers Meta detects (email, phone, fn, ln, country, zip).
#: Source: https://www.facebook.com/business/help/2082575038703844
META_HEADERS: tuple[str, ...] = ("email", "phone", "fn", "ln", "country", "zip")
# pii column -> position in the header tuples above
_PII_KEYS: tuple[str, ...] = ("email", "phone", "first_name", "last_name", "country", "zip")
_ADDRESS = ("first_name", "last_name", "country", "zip")

#: Column groups a csv/parquet export may add next to ``customer_id``, and the columns each adds.
EXPORT_COLUMNS: dict[str, str] = {
    "segment": "cluster_name, rfm_segment",
    "clv": "clv, clv_lower, clv_upper",
    "scores": "every propensity score p_<task> (e.g. p_purchase_30d)",
    "recommendations": "recommended_products: the top-N product ids, best first, joined by '|'",
}
RECOMMENDATION_SEPARATOR = "|"
MAX_TOP_N = 50
NO_IDENTIFIER_FIX = (
    "load e-mail addresses and/or phone numbers (with country code) for these customers into customer_pii, "
    "e.g. `targetwise ingest customers customers.csv` with email/phone columns; or export destination=csv "
    "for customer ids"
)


def parse_export_columns(columns: str | Iterable[str] | None) -> tuple[str, ...]:
    """The column groups asked for (``"segment,clv"`` or a list), checked, without repeats, in the given order."""
    if columns is None:
        return ()
    items = columns.split(",") if isinstance(columns, str) else list(columns)
    chosen: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name not in EXPORT_COLUMNS:
            raise DataValidationError(
                f"unknown export column {item!r}",
                location=Location(column="columns", value=item),
                fix=f"choose from {', '.join(EXPORT_COLUMNS)} (comma-separated)",
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def export_values(
    columns: Sequence[str],
    *,
    segments: pd.DataFrame | None = None,
    clv: pd.DataFrame | None = None,
    propensity: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
    top_n: int = 5,
) -> pd.DataFrame:
    """``customer_id`` plus the chosen column groups (see :data:`EXPORT_COLUMNS`), one row per customer.

    Each table is a run output (``segments``, ``clv``, ``propensity``,
    ``recommendations``) and must be given when its group is chosen. A column the
    run lacks (no CLV interval) stays empty rather than disappearing, so the file's
    header depends only on ``columns`` (and, for scores, the run's tasks).
    """
    if not 1 <= int(top_n) <= MAX_TOP_N:
        raise DataValidationError(
            f"top_n must be 1 to {MAX_TOP_N}, got {top_n}", location=Location(column="top_n", value=top_n),
            fix="ask for e.g. the top 5 recommendations",
        )
    parts: list[pd.DataFrame] = []

    def pick(name: str, table: pd.DataFrame | None, wanted: Sequence[str]) -> None:
        if table is None:
            raise ConfigError(f"export column {name!r} needs the run's {name} table", fix="pass it")
        part = table.drop_duplicates("customer_id").set_index("customer_id")
        parts.append(part.reindex(columns=list(wanted)))

    for group in columns:
        if group == "segment":
            pick("segment", segments, ["cluster_name", "rfm_segment"])
        elif group == "clv":
            pick("clv", clv, ["clv", "clv_lower", "clv_upper"])
        elif group == "scores":
            scores = [c for c in (propensity.columns if propensity is not None else []) if str(c).startswith("p_")]
            pick("scores", propensity, scores)
        elif group == "recommendations":
            if recommendations is None:
                raise ConfigError("export column 'recommendations' needs the run's recommendations", fix="pass them")
            top = recommendations.sort_values(["customer_id", "rank"], kind="stable")
            top = top[top.groupby("customer_id").cumcount() < int(top_n)]
            joined = top.groupby("customer_id", sort=False)["product_id"].agg(
                lambda ids: RECOMMENDATION_SEPARATOR.join(str(i) for i in ids)
            )
            parts.append(joined.rename("recommended_products").to_frame())
        else:
            raise DataValidationError(f"unknown export column {group!r}", fix=f"choose from {', '.join(EXPORT_COLUMNS)}")
    if not parts:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=object)})
    joined = pd.concat(parts, axis=1, join="outer")
    joined.index.name = "customer_id"
    return joined.reset_index()


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip()
    )


def _contact_keys(
    row: Mapping[str, Any], platform: str, default_country_code: str | int | None
) -> tuple[dict[str, str], int]:
    """One customer's keys in the destination's form (hashed where it hashes them), and how many were invalid."""
    keys: dict[str, str] = {}
    invalid = 0
    country = row.get("country")
    for kind in _PII_KEYS:
        value = row.get(kind)
        if _missing(value):
            continue
        try:
            if kind in ("email", "phone"):
                keys[kind] = hash_identifier(
                    value, kind=kind, destination=platform, default_country_code=default_country_code
                )
            else:
                keys[kind] = hash_address_part(
                    value, kind=kind, destination=platform, country=None if _missing(country) else str(country)
                )
        except DataValidationError:
            invalid += 1
    address = all(k in keys for k in _ADDRESS)
    if platform == "google_customer_match" and not address:
        # Google matches on a mailing address only as a whole: first name, last name, country and zip
        for kind in _ADDRESS:
            keys.pop(kind, None)
    if "email" not in keys and "phone" not in keys and not address:
        return {}, invalid
    return keys, invalid


def export_frame(
    members: Sequence[str],
    *,
    destination: str,
    opted_out: Iterable[str] = (),
    pii: pd.DataFrame | None = None,
    default_country_code: str | int | None = None,
    values: pd.DataFrame | None = None,
) -> ExportResult:
    """The table to hand to ``destination`` for an audience's ``members``.

    ``csv``/``parquet``: ``customer_id``, then the columns of ``values`` (an
    :func:`export_values` frame) if given. ``google`` and ``meta``: the upload
    template's columns exactly (:data:`GOOGLE_HEADERS`: ``Email, Phone, First Name,
    Last Name, Country, Zip``, see https://support.google.com/google-ads/answer/7659867;
    :data:`META_HEADERS`: ``email, phone, fn, ln, country, zip``, see
    https://www.facebook.com/business/help/2082575038703844), no customer id. Values
    are in each platform's normal form and SHA-256 hashed where the platform hashes
    them (:mod:`targetwise.campaigns.hashing`: Google leaves country and zip in
    plain text, Meta hashes every key). ``pii`` has ``customer_id`` and any of
    ``email``, ``phone``, ``first_name``, ``last_name``, ``country``, ``zip``;
    a column it lacks stays empty (``customer_pii`` holds one full ``name``, and
    splitting it into first and last would be a guess). Google gets a mailing
    address only when all four parts are known, as it matches on nothing less.

    Invalid values are left out and counted (never sent half-normalised); a
    member with no e-mail, phone or whole address is counted in
    ``without_identifier``, and each such loss is also said in ``warnings``.
    When members may be contacted but none has a usable identifier, the export is
    refused (:class:`~targetwise.errors.DataValidationError`, 422) instead of
    producing a file with a header and no rows. An audience left empty by consent
    alone still gets its (empty) file, with a warning saying why.
    """
    if destination not in DESTINATIONS:
        raise ConfigError(f"unknown export destination {destination!r}", fix=f"use one of {', '.join(DESTINATIONS)}")
    blocked = set(opted_out)
    kept = [m for m in members if m not in blocked]
    excluded = len(members) - len(kept)
    warnings: list[str] = []
    if not members:
        warnings.append("the audience has no members: the file has a header only")
    elif not kept:
        warnings.append(f"all {len(members):,} members opted out of this channel or of profiling: the file has a header only")
    if destination in ("csv", "parquet"):
        frame = pd.DataFrame({"customer_id": pd.Series(kept, dtype=object)})
        if values is not None and len(values.columns) > 1:
            frame = frame.merge(values.drop_duplicates("customer_id"), on="customer_id", how="left", sort=False)
        return ExportResult(frame, len(members), len(frame), excluded, 0, 0, tuple(warnings))
    if values is not None and len(values.columns) > 1:
        raise DataValidationError(
            f"a {destination} file holds only the identifiers of its upload template; extra columns are for csv/parquet",
            location=Location(column="columns"),
            fix="drop columns=, or export destination=csv",
        )
    if pii is None:
        raise ConfigError(f"exporting to {destination} needs the customers' e-mail/phone", fix="pass pii=")
    platform = "google_customer_match" if destination == "google" else "meta"
    headers = GOOGLE_HEADERS if destination == "google" else META_HEADERS
    contact = pii[pii["customer_id"].isin(kept)].drop_duplicates("customer_id").set_index("customer_id")
    records = contact.to_dict("index")
    rows: list[list[str | None]] = []
    invalid = 0
    without = 0
    for customer in kept:
        keys, bad = _contact_keys(records.get(customer, {}), platform, default_country_code)
        invalid += bad
        if not keys:
            without += 1
            continue
        rows.append([keys.get(kind) for kind in _PII_KEYS])
    frame = pd.DataFrame(rows, columns=list(headers), dtype=object)
    if kept and not rows:
        raise DataValidationError(
            f"none of the {len(kept):,} members who may be contacted has a usable e-mail address or phone number "
            f"for {destination} ({without:,} without one, {invalid:,} invalid values): the file would have a header only",
            fix=NO_IDENTIFIER_FIX + (
                "; national phone numbers also need a default country code (country_code=)" if invalid else ""
            ),
            details={"members": len(members), "excluded_opt_out": excluded, "without_identifier": without,
                     "invalid_identifiers": invalid},
        )
    if without:
        warnings.append(
            f"{without:,} of {len(kept):,} members who may be contacted have no usable e-mail or phone "
            f"and are not in the file"
        )
    if invalid:
        warnings.append(
            f"{invalid:,} identifiers could not be normalised and were left out "
            "(check the addresses; national phone numbers need country_code=)"
        )
    return ExportResult(frame, len(members), len(frame), excluded, without, invalid, tuple(warnings))
