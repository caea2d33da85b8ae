"""Ingest: the outcome of staging counted in one scan, the stop when too many rows are invalid, and
the rejected rows written to ``quarantine`` with their reason, row number and raw values."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from targetwise.config import Settings
from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.io._ingest_parse import _lit, _q
from targetwise.io._ingest_types import REASONS, IngestSummary, _Check, _Tally
from targetwise.io.readers import ROW_COLUMN, Source
from targetwise.io.workspace import Workspace
from targetwise.schema import INGESTIBLE_TABLES, TableSpec


def _labels(checks: list[_Check]) -> tuple[str, str, str, str]:
    """SQL of reason_code, reason (the plain-language text), reason_column and reason_value for a
    failing row ``s`` of staged joined to ``src`` (and ``dup_rows d``)."""

    def case(values: list[str]) -> str:
        return "CASE s.reason " + " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate(values)) + " END"

    return (
        case([_lit(c.code) for c in checks]),
        case([_lit(c.reason or REASONS[c.code]) for c in checks]),
        case(["NULL" if c.column is None else _lit(c.column) for c in checks]),
        case([c.value for c in checks]),
    )


def _tally(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> _Tally:
    valid = {"rows": "count(*)"}
    if spec.name == "transactions":
        valid |= {
            "customer": "count(*) FILTER (customer_id IS NOT NULL)",
            "anonymous": "count(*) FILTER (customer_id IS NULL)",
            "non_product": "count(*) FILTER (is_non_product)",
            "returns": "count(*) FILTER (quantity < 0)",
            "customer_returns": "count(*) FILTER (quantity < 0 AND customer_id IS NOT NULL)",
        }
    rows = con.execute(
        f"SELECT reason, count(*), min({ROW_COLUMN}), {', '.join(valid.values())} FROM staged GROUP BY reason"
    ).fetchall()
    counts = dict.fromkeys(valid, 0)
    rejected: dict[int, tuple[int, int]] = {}
    for reason, n, first, *named in rows:
        if reason is None:
            counts = dict(zip(valid, (int(v) for v in named), strict=True))
        else:
            rejected[int(reason)] = (int(n), int(first))
    return _Tally(rejected, counts)


def _check_reject_fraction(
    con: duckdb.DuckDBPyConnection,
    checks: list[_Check],
    tally: _Tally,
    source: Source,
    summary: IngestSummary,
    settings: Settings,
) -> None:
    by_code: dict[str, list[int]] = {}  # code -> [rows, first row]
    for index, (n, first) in tally.rejected.items():
        if checks[index].condition is None:  # duplicates are not errors in the data
            continue
        entry = by_code.setdefault(checks[index].code, [0, first])
        entry[0] += n
        entry[1] = min(entry[1], first)
    rejected = sum(n for n, _ in by_code.values())
    if summary.rows_read and rejected / summary.rows_read > settings.max_reject_fraction:
        code, (count, first_row) = max(by_code.items(), key=lambda item: item[1][0])
        _, _, column_sql, value_sql = _labels(checks[:-1])  # the last one, the duplicate check, is not counted
        column, value = con.execute(
            f"SELECT {column_sql}, {value_sql} FROM staged s JOIN src ON src.{ROW_COLUMN} = s.{ROW_COLUMN} "
            f"WHERE s.{ROW_COLUMN} = ?",
            [first_row],
        ).fetchone()  # type: ignore[misc]
        raise DataValidationError(
            f"{rejected:,} of {summary.rows_read:,} rows of {source.name} are invalid "
            f"(most often {code}: {count:,} rows, e.g. {REASONS[code]}); nothing was loaded",
            location=Location(file=source.name, row=first_row, column=column, value=value),
            fix="this usually means a wrong mapping, delimiter or date_format; check the first bad row "
            f"(or raise TARGETWISE_MAX_REJECT_FRACTION above {settings.max_reject_fraction})",
            details={"reasons": {c: v[0] for c, v in sorted(by_code.items(), key=lambda item: -item[1][0])}},
        )


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    checks: list[_Check],
    tally: _Tally,
    source: Source,
    summary: IngestSummary,
    load_id: int,
) -> None:
    reasons: dict[str, int] = {}
    for index, (n, _) in tally.rejected.items():
        reasons[checks[index].code] = reasons.get(checks[index].code, 0) + n
    summary.reasons = dict(sorted(reasons.items(), key=lambda item: -item[1]))
    summary.rows_quarantined = sum(reasons.values())
    dup_join = "" if spec.key else f"LEFT JOIN dup_rows d ON d.{ROW_COLUMN} = s.{ROW_COLUMN}"
    if summary.rows_quarantined:
        raw_cols = [c for c in source.column_names if c != ROW_COLUMN]
        struct = "{" + ", ".join(f"{_lit(c)}: src.{_q(c)}" for c in raw_cols) + "}"
        code, reason, column, value = _labels(checks)
        has_customer = "customer_id" in {r[0] for r in con.execute("DESCRIBE staged").fetchall()}
        customer = "s.customer_id" if has_customer else "NULL"
        con.execute(
            f"""
            INSERT INTO quarantine
            SELECT ?, ?, ?, s.{ROW_COLUMN}, {code}, {reason}, {column}, {value},
                   {customer}, CAST(to_json({struct}) AS VARCHAR)
            FROM staged s JOIN src ON src.{ROW_COLUMN} = s.{ROW_COLUMN} {dup_join}
            WHERE s.reason IS NOT NULL
            """,
            [load_id, spec.name, source.name],
        )
    if not spec.key:
        con.execute("DROP TABLE dup_rows")


# -- reading the quarantine -------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantinedRow:
    """One rejected row as a person reads it: where it came from, what was wrong, what to do."""

    load_id: int
    table: str
    source_file: str
    row: int
    column: str | None
    value: str | None
    reason_code: str
    reason: str  # what is wrong
    fix: str  # what to do (empty where the reason says it all)


@dataclass(frozen=True)
class QuarantinePage:
    """Quarantined rows matching a filter: ``total`` of them, counted ``by_reason``, the first ``rows``."""

    total: int
    by_reason: dict[str, int]
    rows: tuple[QuarantinedRow, ...]


def quarantined_rows(
    workspace: Workspace, *, reason: str | None = None, table: str | None = None, limit: int = 20
) -> QuarantinePage:
    """The quarantine, newest load first and in file order within a load, filtered by reason code and
    target table; ``limit`` rows (``total`` and ``by_reason`` count every match)."""
    if reason is not None and reason not in REASONS:
        raise ConfigError(f"unknown quarantine reason {reason!r}", fix=f"reasons are: {', '.join(REASONS)}")
    if table is not None and table not in INGESTIBLE_TABLES:
        raise ConfigError(f"unknown table {table!r}", fix=f"use one of: {', '.join(INGESTIBLE_TABLES)}")
    if limit < 0:
        raise ConfigError(f"limit must be 0 or more, not {limit}", fix="pass --limit 20 (or 0 for the counts only)")
    where, params = [], []
    if reason is not None:
        where.append("reason_code = ?")
        params.append(reason)
    if table is not None:
        where.append("table_name = ?")
        params.append(table)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with workspace.connect(read_only=True) as con:
        counts = con.execute(
            f"SELECT reason_code, count(*) FROM quarantine {clause} GROUP BY 1 ORDER BY 2 DESC, 1", params
        ).fetchall()
        rows = con.execute(
            f"SELECT load_id, table_name, source_file, source_row, column_name, value, reason_code, reason "
            f"FROM quarantine {clause} ORDER BY load_id DESC, source_row LIMIT ?",
            [*params, int(limit)],
        ).fetchall()
    by_reason = {str(code): int(n) for code, n in counts}
    return QuarantinePage(
        total=sum(by_reason.values()),
        by_reason=by_reason,
        rows=tuple(
            QuarantinedRow(int(load), str(tname), str(src), int(row), column, value, str(code), *_reason_and_fix(text))
            for load, tname, src, row, column, value, code, text in rows
        ),
    )


def _reason_and_fix(text: str | None) -> tuple[str, str]:
    """A stored reason ("what is wrong; what to do") split into its two halves."""
    what, _, fix = (text or "").partition("; ")
    return what, fix
