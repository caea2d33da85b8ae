"""Mapping files: how a user's columns become targetwise's canonical columns.

A mapping is a TOML file::

    table = "transactions"          # optional; checked against the ingest target
    [columns]                       # canonical name = source column name
    order_id = "InvoiceNo"
    product_id = "StockCode"
    [options]
    ignore = ["Description"]        # source columns deliberately not loaded
    date_format = "%m/%d/%Y %H:%M"  # strptime format when timestamps are not ISO 8601,
                                    # or "epoch_s" / "epoch_ms" for Unix time (UTC)
    timezone = "Europe/London"      # IANA zone of naive timestamps (default: the workspace's)
    delimiter = ","
    encoding = "utf-8"              # e.g. "latin-1", "utf-16" (a UTF-16 file with its byte-order mark)
    null_values = ["NULL", "N/A"]   # id values that mean "no id" (replaces DEFAULT_NULL_VALUES)
    decimal = ","                   # decimal separator of number columns (default ".")
    thousands = "."                 # thousands separator (default: none); ".", ",", " ", "'" or "_"
    [derive.products]               # also fill another table from the same file
    product_id = "StockCode"
    name = "Description"

Source columns neither mapped nor ignored are an error (no silent drops). A customers mapping may
also map the personal-data columns (``email``, ``phone``, ``name``, ``address``): the ingest keeps
them apart in ``customer_pii``.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targetwise.errors import ConfigError
from targetwise.schema import CUSTOMER_PII, INGESTIBLE_TABLES, table_spec

__all__ = ["DEFAULT_NULL_VALUES", "EPOCH_FORMATS", "PII_COLUMNS", "Mapping", "load_mapping", "mappable_columns"]

_OPTION_KEYS = {
    "ignore", "date_format", "timezone", "delimiter", "encoding", "non_product_codes", "null_values", "decimal",
    "thousands",
}  # fmt: skip

# Personal data a customers file may carry: the ingest splits it off into customer_pii.
PII_COLUMNS: tuple[str, ...] = tuple(c for c in CUSTOMER_PII.input_names if c != "customer_id")

# Separators a number may be written with: decimal separators, and thousands separators (with the
# no-break spaces spreadsheets write for " ").
DECIMAL_SEPARATORS = (".", ",")
THOUSANDS_SEPARATORS = (".", ",", " ", "'", "_", "\u00a0", "\u202f")

# Id values that spreadsheets, pandas and databases write for "no value". In an id column they
# mean the id is missing (a transaction line without customer is anonymous; elsewhere the row is
# quarantined as missing_value), compared with the id after trimming spaces and tabs. A mapping's
# ``null_values`` replaces this list; a blank id is always missing.
DEFAULT_NULL_VALUES: tuple[str, ...] = ("NULL", "null", "None", "nan", "NaN", "N/A", "#N/A")

# date_format values that read timestamps as Unix time (seconds or milliseconds since 1970-01-01 UTC).
EPOCH_FORMATS = {"epoch_s": 1_000_000, "epoch_ms": 1_000}  # name -> microseconds per unit


@dataclass(frozen=True)
class Mapping:
    """Canonical name -> source name for one table, plus read options and derived tables."""

    columns: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    date_format: str | None = None
    timezone: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    derive: dict[str, dict[str, str]] = field(default_factory=dict)
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES
    decimal: str = "."
    thousands: str | None = None
    source: str = "<identity>"

    def digest(self) -> str:
        fields: dict[str, object] = {
            "columns": self.columns,
            "ignore": list(self.ignore),
            "date_format": self.date_format,
            "timezone": self.timezone,
            "derive": self.derive,
        }
        if self.null_values != DEFAULT_NULL_VALUES:
            # only when set: the digests of mappings written before the option stay the same
            fields["null_values"] = sorted(self.null_values)
        if self.decimal != "." or self.thousands is not None:
            fields["numbers"] = [self.decimal, self.thousands]  # the same file read otherwise is another load
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def load_mapping(path: Path | str | None, *, table: str) -> Mapping:
    """Read and check a mapping file for ``table``; ``None`` means identity mapping."""
    if path is None:
        return Mapping()
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"mapping file {file} not found", fix="check the --mapping path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {file} is not valid TOML: {exc}", fix="fix the TOML syntax") from None
    declared = raw.get("table")
    if declared is not None and declared != table:
        raise ConfigError(
            f"mapping file {file} is for table {declared!r}, not {table!r}",
            fix=f"use `targetwise ingest {declared} ...` or another mapping",
        )
    unknown_sections = set(raw) - {"table", "columns", "options", "derive"}
    if unknown_sections:
        raise ConfigError(
            f"mapping file {file} has unknown section(s) {sorted(unknown_sections)}",
            fix="use only [columns], [options] and [derive.TABLE]",
        )
    columns = _string_dict(raw.get("columns", {}), file, "columns")
    allowed = mappable_columns(table)
    bad = sorted(set(columns) - set(allowed))
    if bad:
        raise ConfigError(
            f"mapping file {file} maps to unknown column(s) {bad} of table {table!r}",
            fix=f"canonical columns of {table} are: {', '.join(allowed)}"
            + ("" if table in ("customers", "customer_pii") or not set(bad) & set(PII_COLUMNS) else
               "; personal data (email, phone, name, address) is mapped in a customers or customer_pii mapping, "
               "or from this file under [derive.customer_pii]"),
        )
    options: dict[str, Any] = raw.get("options", {})
    unknown_opts = set(options) - _OPTION_KEYS
    if unknown_opts:
        raise ConfigError(
            f"mapping file {file} has unknown option(s) {sorted(unknown_opts)}",
            fix=f"allowed options: {', '.join(sorted(_OPTION_KEYS))}",
        )
    derive: dict[str, dict[str, str]] = {}
    for name, cols in raw.get("derive", {}).items():
        if name not in INGESTIBLE_TABLES or name == table:
            raise ConfigError(
                f"mapping file {file}: cannot derive table {name!r}",
                fix=f"derive one of: {', '.join(t for t in INGESTIBLE_TABLES if t != table)}",
            )
        dcols = _string_dict(cols, file, f"derive.{name}")
        dspec = table_spec(name)
        bad = sorted(set(dcols) - set(dspec.input_names))
        missing = sorted(set(dspec.required_names) - set(dcols))
        if bad or missing:
            raise ConfigError(
                f"mapping file {file}: [derive.{name}] has unknown {bad} or lacks required {missing} columns",
                fix=f"columns of {name}: {', '.join(dspec.input_names)}"
                + ("; personal data goes under [derive.customer_pii]" if set(bad) & set(PII_COLUMNS) else ""),
            )
        derive[name] = dcols
    null_values = options.get("null_values", DEFAULT_NULL_VALUES)
    decimal, thousands = _separators(options.get("decimal", "."), options.get("thousands"), file)
    return Mapping(
        columns=columns,
        ignore=tuple(options.get("ignore", ())),
        date_format=_date_format(options.get("date_format"), file),
        timezone=_timezone(options.get("timezone"), file),
        delimiter=options.get("delimiter"),
        encoding=_encoding(options.get("encoding", "utf-8"), file),
        derive=derive,
        null_values=DEFAULT_NULL_VALUES if null_values is DEFAULT_NULL_VALUES else _null_values(null_values, file),
        decimal=decimal,
        thousands=thousands,
        source=str(file),
    )


def mappable_columns(table: str) -> list[str]:
    """The canonical columns a mapping for ``table`` may name: its own, and for customers the personal
    data that the ingest keeps apart in customer_pii."""
    names = table_spec(table).input_names
    return names + list(PII_COLUMNS) if table == "customers" else names


def _separators(decimal: object, thousands: object, file: Path) -> tuple[str, str | None]:
    """The decimal and thousands separators of number columns, checked now."""
    if decimal not in DECIMAL_SEPARATORS:
        raise ConfigError(
            f"mapping file {file}: [options] decimal = {decimal!r} is not a decimal separator",
            fix='write decimal = "," (numbers such as 1234,50) or decimal = "." (the default)',
        )
    if thousands is not None and (thousands not in THOUSANDS_SEPARATORS or thousands == decimal):
        shown = ", ".join(repr(t) for t in THOUSANDS_SEPARATORS)
        raise ConfigError(
            f"mapping file {file}: [options] thousands = {thousands!r} is not a thousands separator"
            + (f" (it is also the decimal separator {decimal!r})" if thousands == decimal else ""),
            fix=f"use one of {shown}, different from decimal = {decimal!r}, or leave thousands out",
        )
    return str(decimal), None if thousands is None else str(thousands)


def _timezone(value: object, file: Path) -> str | None:
    """An IANA zone name, checked now: an unknown zone would otherwise fail deep inside the ingest."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"mapping file {file}: [options] timezone = {value!r} is not a known time zone",
            fix='use an IANA name such as timezone = "Europe/London" (or "UTC")',
        ) from None
    return value


def _date_format(value: object, file: Path) -> str | None:
    if value is None or (isinstance(value, str) and (value in EPOCH_FORMATS or "%" in value)):
        return value
    raise ConfigError(
        f"mapping file {file}: [options] date_format = {value!r} is not a date format",
        fix='write a strptime format such as date_format = "%d/%m/%Y %H:%M", or "epoch_s" / "epoch_ms" '
        "for Unix seconds / milliseconds",
    )


def _encoding(value: object, file: Path) -> str:
    try:
        if not isinstance(value, str):
            raise LookupError
        codecs.lookup(value)
    except LookupError:
        raise ConfigError(
            f"mapping file {file}: [options] encoding = {value!r} is not a known text encoding",
            fix='use a name such as "utf-8", "latin-1", "cp1252" or "utf-16"',
        ) from None
    return value


def _null_values(value: object, file: Path) -> tuple[str, ...]:
    """The mapping's own list of id values meaning "no id"; entries are compared with the trimmed id."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"mapping file {file}: [options] null_values must be a list of strings, not {value!r}",
            fix='write e.g. null_values = ["NULL", "N/A"] (or [] to treat only blank ids as missing)',
        )
    padded = [v for v in value if v != v.strip(" \t") or v == ""]
    if padded:
        raise ConfigError(
            f"mapping file {file}: [options] null_values entry {padded[0]!r} is blank or padded; "
            "ids are compared after trimming spaces and tabs, so it would never match",
            fix="remove the entry or its surrounding spaces (a blank id is always missing)",
        )
    return tuple(dict.fromkeys(value))


def _string_dict(value: object, file: Path, section: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(
            f"mapping file {file}: [{section}] must map names to strings",
            fix='write lines like order_id = "InvoiceNo"',
        )
    return dict(value)
