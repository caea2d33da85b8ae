"""Ingest: source columns resolved against the table, then every row parsed and checked once into
the temp table ``staged`` (with the index of its first failing check), duplicates marked."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from targetwise.config import Settings
from targetwise.errors import Location, SchemaError
from targetwise.io._ingest_duplicates import _mark_duplicates
from targetwise.io._ingest_parse import _is_plain_typed, _lit, _parse_expr, _q, _reads_as_timestamp
from targetwise.io._ingest_types import _ALLOWED_VALUES, _FUTURE_ALLOWED, _Check
from targetwise.io.mapping import Mapping, mappable_columns
from targetwise.io.readers import ROW_COLUMN, Source
from targetwise.schema import Column, TableSpec, line_hash_sql


def _resolve_columns(spec: TableSpec, source: Source, mapping: Mapping) -> dict[str, str]:
    """canonical name -> source column; fatal errors for missing or unknown columns."""
    present = [c for c in source.column_names if c != ROW_COLUMN]
    allowed = set(mappable_columns(spec.name))
    resolved: dict[str, str] = {}
    for canonical, src in mapping.columns.items():
        if src not in present:
            raise SchemaError(
                f"mapping {mapping.source} maps {canonical} to column {src!r}, which {source.name} lacks",
                location=Location(file=source.name, row=0, column=src),
                fix=f"columns in the file are: {', '.join(present)}",
            )
        resolved[canonical] = src
    mapped_sources = set(resolved.values())
    derived_sources = {s for cols in mapping.derive.values() for s in cols.values()}
    for name in present:
        if name in mapped_sources:
            continue
        if name in allowed and name not in resolved:
            resolved[name] = name
        elif name not in mapping.ignore and name not in derived_sources:
            raise SchemaError(
                f"{source.name} has column {name!r}, which is not a column of table {spec.name!r}",
                location=Location(file=source.name, row=0, column=name),
                fix=f"map it in a mapping file ([columns] {spec.name}_column = \"{name}\") or list it "
                f"under [options] ignore; canonical columns are: {', '.join(mappable_columns(spec.name))}",
            )
    missing = [c for c in spec.required_names if c not in resolved]
    if missing:
        raise SchemaError(
            f"{source.name} lacks required column(s) {', '.join(missing)} of table {spec.name!r}",
            location=Location(file=source.name, row=0, column=missing[0]),
            fix=f"add them, or map your column names with --mapping (columns found: {', '.join(present)})",
        )
    return resolved


def _stage(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    columns: dict[str, str],
    mapping: Mapping,
    *,
    tz: str,
    now: datetime,
    settings: Settings,
    sort_batch_rows: int,
    mark_duplicates: bool = True,
) -> list[_Check]:
    """Parse and check every row into the temp table ``staged`` (source_row, the canonical columns,
    line_hash for tables without a key, is_non_product for transactions, ``reason``: the index of the
    first failing check or NULL); mark duplicates; return the checks that ``reason`` indexes.

    ``mark_duplicates=False`` leaves the duplicate check (the last one returned) to the caller: a group
    of events posts staged together marks duplicates per post (:mod:`._ingest_group`)."""
    schema = source.schema
    selects = [f"src.{ROW_COLUMN} AS {ROW_COLUMN}"]
    checks: list[_Check] = []
    raw_texts: dict[str, str] = {}  # canonical -> SQL of the raw value as text, over src
    spec_cols = {c.name: c for c in spec.columns}
    for canonical, src_col in columns.items():
        column = spec_cols.get(canonical) or Column(canonical, "string", False, "personal data")
        fmt = None if src_col in source.iso_text_columns else mapping.date_format
        arrow_type = schema.field(src_col).type
        if column.kind == "timestamp" and not _reads_as_timestamp(arrow_type, fmt):
            raise _not_timestamps(con, source, canonical, src_col, arrow_type, mapping)
        parsed = _parse_expr(
            column, src_col, arrow_type, tz=tz, fmt=fmt, null_values=mapping.null_values,
            separators=(mapping.decimal, mapping.thousands),
        )  # fmt: skip
        selects.append(f"{parsed} AS {_q(canonical)}")
        raw_ref = _q("raw__" + canonical)
        raw_texts[canonical] = f"CAST(src.{_q(src_col)} AS VARCHAR)"
        ref = _q(canonical)
        numeric_id = column.kind == "id" and (pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type))
        if numeric_id:
            # NULL and NaN (pandas' missing value) are missing; any other value that gave no id is invalid_id
            selects.append(f"src.{_q(src_col)} AS {raw_ref}")
            missing = f"{raw_ref} IS NULL" + (f" OR isnan({raw_ref})" if pa.types.is_floating(arrow_type) else "")
        elif _is_plain_typed(arrow_type):
            # A typed value (number, timestamp, boolean) is never blank as text: pass it through;
            # it becomes text only in the reason_value of a failing row, not on every row.
            selects.append(f"src.{_q(src_col)} AS {raw_ref}")
            missing = f"{raw_ref} IS NULL"
        else:
            selects.append(f"CAST(src.{_q(src_col)} AS VARCHAR) AS {raw_ref}")
            if column.kind == "id":
                # an id is null exactly when the raw text is blank (spaces and tabs included)
                missing = f"{ref} IS NULL"
            elif column.kind == "string":
                missing = f"{raw_ref} IS NULL OR trim({raw_ref}) = ''"
            else:
                # a blank value never parses, so the text is trimmed only for values that did not
                # parse (trimming every value cost ~0.15 s per column at 10M lines)
                missing = f"{ref} IS NULL AND ({raw_ref} IS NULL OR trim({raw_ref}) = '')"
        raw_text = raw_texts[canonical]
        anonymous_ok = spec.name == "transactions" and canonical == "customer_id"
        if column.required and not anonymous_ok:
            checks.append(_Check(missing, "missing_value", canonical, raw_text))
        invalid_code = {
            "integer": "invalid_integer",
            "number": "invalid_number",
            "timestamp": "unparsable_timestamp",
            "boolean": "invalid_boolean",
            "json": "invalid_json",
        }.get(column.kind)
        if invalid_code:
            checks.append(_Check(f"{raw_ref} IS NOT NULL AND {ref} IS NULL", invalid_code, canonical, raw_text))
        if numeric_id:
            checks.append(_Check(f"{ref} IS NULL AND NOT ({missing})", "invalid_id", canonical, raw_text))
        if column.kind == "id":
            # strlen (bytes, O(1)) first: length() counts characters, and is needed only past the limit
            limit = settings.max_id_length
            checks.append(
                _Check(
                    f"strlen({ref}) > {limit} AND length({ref}) > {limit}",
                    "id_too_long",
                    canonical,
                    f"left({raw_text}, 80) || '... (' || length({raw_text}) || ' characters)'",
                    reason=f"id is longer than {limit} characters (TARGETWISE_MAX_ID_LENGTH); check the column "
                    "mapping (a text column mapped as an id?) or raise the limit",
                )
            )
        if column.kind == "timestamp" and (spec.name, canonical) not in _FUTURE_ALLOWED:
            future = f"{ref} > TIMESTAMP {_lit(f'{now:%Y-%m-%d %H:%M:%S.%f}')}"  # to the microsecond
            checks.append(_Check(future, "future_timestamp", canonical, raw_text))
        allowed = _ALLOWED_VALUES.get((spec.name, canonical))
        if allowed:
            values = ", ".join(_lit(v) for v in allowed)
            checks.append(_Check(f"{ref} IS NOT NULL AND {ref} NOT IN ({values})", "invalid_value", canonical, raw_text))
    if spec.name == "transactions":
        quantity, price = raw_texts["quantity"], raw_texts["unit_price"]
        checks += [
            _Check("quantity = 0", "zero_quantity", "quantity", quantity),
            _Check("unit_price <= 0", "non_positive_price", "unit_price", price),
            _Check("NOT isfinite(quantity * unit_price)", "amount_out_of_range", "unit_price", price),
            _Check("starts_with(order_id, 'C') AND quantity > 0", "cancellation_positive_quantity", "quantity", quantity),
        ]
    if spec.name == "offer_decisions":
        checks.append(_Check("propensity <= 0 OR propensity > 1", "invalid_propensity", "propensity",
                             raw_texts["propensity"]))
    if spec.name == "products" and "price" in columns:
        checks.append(_Check("price < 0", "negative_price", "price", raw_texts["price"]))
    # Every check is evaluated once, into the index of the first failing one. Code, column and
    # value are looked up from that small integer only for the failing rows (_labels): three
    # CASEs over every row cost ~0.1-0.2 s per million lines. Parse in the inner query, check in
    # the outer one; the raw text columns are only referenced, never materialised.
    first_failed = "CASE " + " ".join(f"WHEN {c.condition} THEN {i}" for i, c in enumerate(checks)) + " END"
    if not checks:
        first_failed = "CAST(NULL AS INTEGER)"
    outer = [ROW_COLUMN] + [_q(c) for c in columns]
    if not spec.key:
        # the same expression as the table's computed line_hash, NULL for the columns the source lacks
        outer.append(f"{line_hash_sql(spec.columns, lambda c: _q(c) if c in columns else None)} AS line_hash")
    if spec.name == "transactions":
        # evaluated once here for the tally and both inserts (the code list costs ~0.16 s per 10M lines)
        codes = ", ".join(_lit(c) for c in settings.non_product_codes) or "NULL"
        outer.append(f"product_id IN ({codes}) AS is_non_product")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {', '.join(outer)}, {first_failed} AS reason "
        f"FROM (SELECT {', '.join(selects)} FROM src)"
    )
    if spec.key:
        checks.append(_Check(None, "duplicate_key", spec.key[0], f"CAST(s.{_q(spec.key[0])} AS VARCHAR)"))
    else:
        duplicate = "CASE WHEN d.first_row IS NULL THEN 'already stored' ELSE 'same as row ' || d.first_row END"
        checks.append(_Check(None, "duplicate_line", None, duplicate))
    if not mark_duplicates:
        return checks
    _mark_duplicates(
        con, spec, columns, reason=len(checks) - 1, rows=source.num_rows, sort_batch_rows=sort_batch_rows
    )
    return checks


def _not_timestamps(
    con: duckdb.DuckDBPyConnection, source: Source, canonical: str, src_col: str, arrow_type: pa.DataType, mapping: Mapping
) -> SchemaError:
    """The fatal error for a timestamp column of another type (int64 Unix time from pandas, ...)."""
    row, value = con.execute(
        f"SELECT {ROW_COLUMN}, CAST({_q(src_col)} AS VARCHAR) FROM src WHERE {_q(src_col)} IS NOT NULL "
        f"ORDER BY {ROW_COLUMN} LIMIT 1"
    ).fetchone() or (None, None)
    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    fix = "write the column as timestamps or as ISO 8601 text (2011-12-09 12:50:00)"
    if numeric:
        fix = (
            'if they are Unix time, set date_format = "epoch_s" (seconds) or "epoch_ms" (milliseconds) under '
            f"[options] in {'a mapping file (--mapping)' if mapping.source == '<identity>' else mapping.source}; "
            "otherwise " + fix
        )
    return SchemaError(
        f"{source.name}: column {src_col!r}{'' if src_col == canonical else f' (mapped to {canonical})'} holds "
        f"{arrow_type} values, not timestamps; nothing was loaded",
        location=Location(file=source.name, row=row, column=src_col, value=value),
        fix=fix,
    )
