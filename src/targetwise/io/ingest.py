"""Ingest: validate a source against a canonical table and load it, all or nothing.

Guarantees
----------
* **All or nothing**: one DuckDB transaction per ingest. A failure (or a killed
  process) leaves the workspace exactly as it was.
* **Idempotent**: a source whose content hash (with the same mapping) was loaded
  before adds nothing; lines equal to lines already stored are quarantined as
  duplicates, never added twice.
* **Nothing lost, nothing coerced**: a value that does not parse, a zero or
  negative price, a future date, an exact duplicate line ... goes to the
  ``quarantine`` table with its reason, row number and raw values. Lines without a
  customer id go to ``anonymous_transactions``. Returns are kept and linked to
  the purchase they reverse. Column-level problems (missing or unknown columns,
  or more rejected rows than ``max_reject_fraction``) stop the ingest with a
  message naming file, row, column, value and the fix.

Layout
------
This module runs one ingest in one transaction; its stages live in private modules, in the
order they run: :mod:`._ingest_stage` (columns resolved, every value parsed and checked once,
with the SQL of :mod:`._ingest_parse`; duplicates marked by :mod:`._ingest_duplicates`),
:mod:`._ingest_quarantine` (tallies, the reject-fraction stop, quarantined rows) and
:mod:`._ingest_load` (insert/upsert, returns linked, derived tables, suppression of people
erased earlier). Reason codes and the summary are in :mod:`._ingest_types`. The quarantine is read
back (``targetwise quarantine``) with :func:`quarantined_rows`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from targetwise.errors import ConfigError, DataValidationError, IngestError, Location, WorkspaceError
from targetwise.io._ingest_load import _derive, _load, _record_columns, _suppress_returning
from targetwise.io._ingest_parse import _lit, _q
from targetwise.io._ingest_quarantine import (
    QuarantinedRow,
    QuarantinePage,
    _check_reject_fraction,
    _quarantine,
    _tally,
    quarantined_rows,
)
from targetwise.io._ingest_stage import _resolve_columns, _stage
from targetwise.io._ingest_types import PII_COLUMNS, REASONS, IngestSummary
from targetwise.io.lake import lake_format, open_lake
from targetwise.io.mapping import Mapping, load_mapping
from targetwise.io.readers import Source, read_source
from targetwise.io.workspace import LOAD_SEQUENCE, Workspace
from targetwise.schema import TABLES, TableSpec, table_spec

__all__ = [
    "PII_COLUMNS",
    "REASONS",
    "IngestSummary",
    "QuarantinePage",
    "QuarantinedRow",
    "ingest",
    "ingest_arrow",
    "quarantined_rows",
]


# Hashes sorted at once when looking for repeated ones: 50M (400 MB); a larger file is split by hash.
SORT_BATCH_ROWS = 50_000_000


def ingest(
    workspace: Workspace,
    table: str,
    location: str | Path,
    *,
    mapping: Mapping | str | Path | None = None,
    query: str | None = None,
    format: str | None = None,
    version: int | None = None,
    snapshot_id: int | None = None,
    catalog_uri: str | None = None,
    catalog_name: str = "default",
    now: datetime | None = None,
) -> IngestSummary:
    """Load a CSV/Parquet file (or, with ``query``, a database URL) into ``table``.

    A Delta or Iceberg table (``format``, or detected: a folder with ``_delta_log``, a
    ``*.metadata.json`` file) is read in place at ``version`` / ``snapshot_id`` (default: the
    latest) through :func:`targetwise.io.lake.open_lake` (a version already loaded is recognised from its
    metadata before any row is read).
    """
    spec = table_spec(table)
    if spec.name not in TABLES or spec.name in ("quarantine", "loads", "anonymous_transactions"):
        raise IngestError(f"table {table!r} is maintained by targetwise and cannot be ingested")
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping, table=table)
    settings = workspace.settings
    spool_dir, spool_bytes = workspace.path / "tmp", settings.csv_spool_mb * 2**20
    if format is None and catalog_uri is not None:
        format = "iceberg"  # only Iceberg tables are named in a catalog
    lake = None if query is not None and format is None else lake_format(location, format=format)
    if lake is not None:
        if query is not None:
            raise IngestError("--query reads a database, not a lake table", fix="leave out --query or --format")
        opened = open_lake(
            location, format=lake, version=version, snapshot_id=snapshot_id, catalog_uri=catalog_uri,
            catalog_name=catalog_name,
        )  # fmt: skip
        earlier = _loaded_before(workspace, table, opened.content_hash, mapping)
        if earlier is not None:  # this version was loaded: known from its metadata, no row read
            return earlier
        source = opened.read(spool_dir=spool_dir, spool_bytes=spool_bytes)
    else:
        if version is not None or snapshot_id is not None or catalog_uri is not None:
            raise IngestError(
                f"--version, --snapshot-id and --catalog-uri read a lake table, and {location} is not one",
                fix="add --format delta or --format iceberg",
            )
        source = read_source(
            location, query=query, delimiter=mapping.delimiter, encoding=mapping.encoding,
            spool_dir=spool_dir, spool_bytes=spool_bytes,
        )  # fmt: skip
    try:
        return ingest_arrow(workspace, table, source, mapping=mapping, now=now)
    finally:
        source.discard()


def ingest_arrow(
    workspace: Workspace,
    table: str,
    source: Source,
    *,
    mapping: Mapping | None = None,
    now: datetime | None = None,
    _after_insert: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> IngestSummary:
    """Validate and load an already-read source (also used by the events API)."""
    spec = table_spec(table)
    mapping = mapping or Mapping()
    settings = workspace.settings
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    summary = IngestSummary(load_id=0, table=table, source=source.name, rows_read=source.num_rows)
    columns = _resolve_columns(spec, source, mapping)
    started = datetime.now(UTC).replace(tzinfo=None)
    tz = mapping.timezone or settings.business_timezone

    try:
        with workspace.connect() as con:
            previous = con.execute(
                "SELECT load_id FROM loads WHERE table_name = ? AND content_hash = ? AND mapping_hash = ?",
                [table, source.content_hash, mapping.digest()],
            ).fetchone()
            if previous is not None:
                summary.already_loaded = True
                summary.load_id = previous[0]
                summary.warnings.append(f"this content was already loaded as load {previous[0]}; nothing added")
                return summary
            scan = source.scan_sql()
            if scan is None:
                con.register("src", source.table)
            else:
                con.execute(f"CREATE OR REPLACE TEMP VIEW src AS {scan}")
            try:
                con.execute("BEGIN TRANSACTION")
                # a number from the sequence: never handed out twice, also to concurrent ingests
                (load_id,) = con.execute(f"SELECT nextval('{LOAD_SEQUENCE}')").fetchone()  # type: ignore[misc]
                summary.load_id = load_id = int(load_id)
                # Rows carry their source_row: the stored order of the rows does not matter, and
                # without it DuckDB writes the insert in parallel (~30% faster at 10M lines).
                con.execute("SET preserve_insertion_order = false")
                _set_timezone(con, tz, mapping)
                checks = _stage(
                    con, spec, source, columns, mapping, tz=tz, now=now, settings=settings,
                    sort_batch_rows=SORT_BATCH_ROWS,
                )
                con.execute("SET TimeZone='UTC'")
                summary.warnings += _float_id_notes(con, spec, source, columns)
                tally = _tally(con, spec)
                _check_reject_fraction(con, checks, tally, source, summary, settings)
                _quarantine(con, spec, checks, tally, source, summary, load_id)
                _load(con, spec, tally, summary, load_id)
                if _after_insert is not None:
                    _after_insert(con)
                for derived_table, derived_cols in mapping.derive.items():
                    summary.derived[derived_table] = _derive(
                        con, derived_table, derived_cols, columns, load_id, schema=source.schema, mapping=mapping
                    )
                _record_columns(con, load_id, columns)
                _suppress_returning(con, workspace, summary, [table, *mapping.derive])
                if table == "engagements":
                    _unsubscribe(con, summary)
                con.execute(
                    "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        load_id,
                        table,
                        source.name,
                        source.content_hash,
                        mapping.digest(),
                        summary.rows_read,
                        summary.rows_loaded + summary.rows_updated,
                        summary.rows_anonymous,
                        summary.rows_quarantined,
                        started,
                        datetime.now(UTC).replace(tzinfo=None),
                    ],
                )
                con.execute("COMMIT")
            except BaseException:
                # closing the connection discards the open transaction anyway
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            finally:
                # after a fatal error the database is invalidated; the original error follows
                with contextlib.suppress(duckdb.Error):
                    if scan is None:
                        con.unregister("src")
                    else:
                        con.execute("DROP VIEW IF EXISTS src")
    except duckdb.Error as exc:
        if _is_bad_parquet(exc, source):
            raise DataValidationError(
                f"file {source.name} is not a readable Parquet file: {_first_line(exc)}; nothing was loaded",
                location=Location(file=source.name),
                fix="write the file again, or use CSV",
            ) from None
        if not isinstance(exc, (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException)):
            raise
        # disk full, read-only folder, memory limit: the environment, not a bug
        landed = _load_recorded(workspace, summary.load_id) if summary.load_id else False
        if landed:
            summary.warnings.append(f"the load was committed, then the database reported: {_first_line(exc)}")
            return summary
        outcome = "nothing was loaded" if landed is False else (
            f"it is one transaction: `targetwise status` shows whether load {summary.load_id} landed"
        )
        raise IngestError(
            f"could not load {source.name} into {table}; {outcome}: {_first_line(exc)}",
            fix="free disk space (or raise TARGETWISE_DUCKDB_MEMORY_LIMIT) and check that the workspace "
            "folder is writable, then ingest again",
        ) from None
    return summary


def _loaded_before(workspace: Workspace, table: str, content_hash: str, mapping: Mapping) -> IngestSummary | None:
    """The already-loaded summary if this content (with this mapping) was loaded into ``table`` before."""
    with workspace.connect() as con:
        previous = con.execute(
            "SELECT load_id, source, rows_read FROM loads WHERE table_name = ? AND content_hash = ? AND mapping_hash = ?",
            [table, content_hash, mapping.digest()],
        ).fetchone()
    if previous is None:
        return None
    load_id, source_name, rows_read = previous
    summary = IngestSummary(load_id=int(load_id), table=table, source=source_name, rows_read=int(rows_read))
    summary.already_loaded = True
    summary.warnings.append(f"this content was already loaded as load {load_id}; nothing added")
    return summary


def _unsubscribe(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
    """Unsubscribes in this load suppress their channel at once (see io.unsubscribes)."""
    from targetwise.io.unsubscribes import apply_unsubscribes

    revoked, other = apply_unsubscribes(con, summary.load_id)
    if revoked:
        summary.warnings.append(f"{revoked:,} unsubscribe(s) recorded as consent revoked for their channel")
    if other:
        summary.warnings.append(
            f"{other:,} unsubscribe(s) on push/web/other: those channels have no consent purpose, so no opt-out "
            "was recorded; suppress them in the sending platform"
        )


def _set_timezone(con: duckdb.DuckDBPyConnection, tz: str, mapping: Mapping) -> None:
    """The session zone in which naive timestamps are read while staging. Mapping files and settings are
    checked against the IANA database when read; a zone DuckDB still does not know is the same clear error."""
    try:
        con.execute(f"SET TimeZone = {_lit(tz)}")
    except (duckdb.NotImplementedException, duckdb.InvalidInputException):
        where = f"mapping file {mapping.source}: [options] timezone" if mapping.timezone else "TARGETWISE_BUSINESS_TIMEZONE"
        raise ConfigError(
            f"{where} = {tz!r} is not a known time zone",
            fix='use an IANA name such as "Europe/London" (or "UTC")',
        ) from None


def _float_id_notes(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, source: Source, columns: dict[str, str]
) -> list[str]:
    """Say how many whole-number floats became integer ids (nothing is converted silently)."""
    ids = {c.name for c in spec.columns if c.kind == "id"}
    notes = []
    for canonical, src_col in columns.items():
        if canonical in ids and pa.types.is_floating(source.schema.field(src_col).type):
            n, example = con.execute(  # type: ignore[misc]
                f"SELECT count({_q(canonical)}), min({_q(canonical)}) FROM staged WHERE reason IS NULL"
            ).fetchone()
            if n:
                notes.append(
                    f"{n:,} {canonical} value(s) in float column {src_col!r} were whole numbers "
                    f"(e.g. {example}.0), stored as their integer text ({example}), as the same ids read from CSV"
                )
    return notes


def _is_bad_parquet(exc: duckdb.Error, source: Source) -> bool:
    """A DuckDB error raised while scanning the source Parquet file (corrupt pages, not the workspace)."""
    if (
        source.parquet_path is None
        or source.spooled  # our own temporary copy of a CSV: an error there is not the user's file
        or isinstance(exc, (duckdb.OutOfMemoryException, duckdb.FatalException))
    ):
        return False
    return str(source.parquet_path) in str(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _load_recorded(workspace: Workspace, load_id: int) -> bool | None:
    """After a failed commit: did the load land anyway (all or nothing)? None if that cannot be read now."""
    try:
        with workspace.connect(read_only=True) as con:
            found = con.execute("SELECT count(*) FROM loads WHERE load_id = ?", [load_id]).fetchone()
    except (duckdb.Error, WorkspaceError):
        return None
    return bool(found and found[0])
