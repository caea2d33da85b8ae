"""Mapping files: how a user's columns become targetwise's canonical columns.

A mapping is a TOML file::

    table = "transactions"          # optional; checked against the ingest target
    [columns]                       # canonical name = source column name
    order_id = "InvoiceNo"
    product_id = "StockCode"
    [options]
    ignore = ["Description"]        # source columns deliberately not loaded
    date_format = "%m/%d/%Y %H:%M"  # strptime format when timestamps are not ISO 8601
    timezone = "Europe/London"      # zone of naive timestamps (default: the workspace's)
    delimiter = ","
    encoding = "utf-8"
    [derive.products]               # also fill another table from the same file
    product_id = "StockCode"
    name = "Description"

Source columns neither mapped nor ignored are an error (no silent drops).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targetwise.errors import ConfigError
from targetwise.schema import INGESTIBLE_TABLES, table_spec

__all__ = ["Mapping", "load_mapping"]

_OPTION_KEYS = {"ignore", "date_format", "timezone", "delimiter", "encoding", "non_product_codes"}


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
    source: str = "<identity>"

    def digest(self) -> str:
        payload = json.dumps(
            {
                "columns": self.columns,
                "ignore": list(self.ignore),
                "date_format": self.date_format,
                "timezone": self.timezone,
                "derive": self.derive,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


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
    spec = table_spec(table)
    bad = sorted(set(columns) - set(spec.input_names))
    if bad:
        raise ConfigError(
            f"mapping file {file} maps to unknown column(s) {bad} of table {table!r}",
            fix=f"canonical columns of {table} are: {', '.join(spec.input_names)}",
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
                fix=f"columns of {name}: {', '.join(dspec.input_names)}",
            )
        derive[name] = dcols
    return Mapping(
        columns=columns,
        ignore=tuple(options.get("ignore", ())),
        date_format=options.get("date_format"),
        timezone=options.get("timezone"),
        delimiter=options.get("delimiter"),
        encoding=options.get("encoding", "utf-8"),
        derive=derive,
        source=str(file),
    )


def _string_dict(value: object, file: Path, section: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(
            f"mapping file {file}: [{section}] must map names to strings",
            fix='write lines like order_id = "InvoiceNo"',
        )
    return dict(value)
