"""Read a Delta Lake or Apache Iceberg table in place, as the same :class:`~targetwise.io.readers.Source`
a Parquet file gives.

A lake table is read at one version: a Delta table at its latest version or ``version=N`` (time
travel), an Iceberg table at its current snapshot or ``snapshot_id``. Its record batches are
streamed (never the whole table at once) and held in memory only while they stay under the spool
size; past it, what was held and every later batch go to a temporary Parquet file in the
workspace, as a large query result does (:class:`~targetwise.io.readers._HeldBatches`). Columns keep
their types (the ingest parses typed Parquet columns already); each row gets its ``source_row``
in the table's scan order.

The content hash covers the table's URI, the version (snapshot) and its data files' paths and
sizes, never the rows: re-ingesting the same version is recognised without reading a row, and a
new version is a new load (whose lines already stored are quarantined as duplicates).

The readers are the optional ``[lake]`` extra: ``deltalake`` (delta-rs) and ``pyiceberg``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from targetwise.errors import DataValidationError, IngestError, Location, TargetwiseError
from targetwise.io.readers import ROW_COLUMN, Source, _check_column_names, _HeldBatches, _row_numbers

__all__ = ["LAKE_FORMATS", "LakeTable", "lake_format", "open_lake"]

LAKE_FORMATS = ("delta", "iceberg")

# Rows per record batch asked of the Delta reader (Iceberg's reader yields its own batches).
LAKE_BATCH_ROWS = 131_072

_EXTRA_FIX = "pip install 'targetwise[lake]'"


@dataclass(frozen=True)
class LakeTable:
    """One version of a lake table, opened: its display name and content hash, known before any row
    is read (so a version loaded before is recognised at the cost of its metadata), and
    :meth:`read`, which streams the rows into a :class:`Source`."""

    name: str
    content_hash: str
    # opens the scan: (Arrow schema, record batches); called once, by read()
    scan: Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]

    def read(self, *, spool_dir: Path | None = None, spool_bytes: int | None = None) -> Source:
        """The rows with their ``source_row``, held or spooled (see the module docstring); call
        ``Source.discard()`` when done."""
        schema, batches = self.scan()
        return _collect(self.name, self.content_hash, schema, batches, spool_dir=spool_dir, spool_bytes=spool_bytes)


def lake_format(location: str | Path, *, format: str | None = None) -> str | None:
    """``"delta"`` or ``"iceberg"`` for a lake table location, None for a file (or a database URL).

    An explicit ``format`` wins; otherwise a folder holding ``_delta_log`` is Delta and a
    ``*.metadata.json`` file is Iceberg.
    """
    if format is not None:
        chosen = format.strip().lower()
        if chosen not in LAKE_FORMATS:
            raise IngestError(
                f"--format {format!r} is not a table format targetwise reads",
                fix="use --format delta or --format iceberg (CSV and Parquet files are recognised by their name)",
            )
        return chosen
    text = str(location)
    if text.lower().endswith(".metadata.json"):
        return "iceberg"
    if "://" not in text:
        path = Path(text)
        if path.is_dir() and (path / "_delta_log").is_dir():
            return "delta"
    return None


def open_lake(
    location: str | Path,
    *,
    format: str,
    version: int | None = None,
    snapshot_id: int | None = None,
    catalog_uri: str | None = None,
    catalog_name: str = "default",
) -> LakeTable:
    """Open one version of a Delta or Iceberg table (its metadata only; ``LakeTable.read()`` reads the rows).

    ``version`` is a Delta version, ``snapshot_id`` an Iceberg snapshot. With ``catalog_uri``
    (Iceberg only), ``location`` is the table's ``namespace.table`` in that catalog (a pyiceberg
    catalog URI such as ``sqlite:///catalog.db`` or ``https://rest-catalog``); otherwise it is the
    table's metadata JSON file.
    """
    if format == "delta":
        if snapshot_id is not None or catalog_uri is not None:
            raise IngestError(
                "--snapshot-id and --catalog-uri are for Iceberg tables",
                fix="use --version N for a Delta table",
            )
        return _open_delta(str(location), version)
    if format == "iceberg":
        if version is not None:
            raise IngestError("--version is for Delta tables", fix="use --snapshot-id ID for an Iceberg table")
        return _open_iceberg(str(location), snapshot_id, catalog_uri=catalog_uri, catalog_name=catalog_name)
    raise IngestError(f"unknown table format {format!r}", fix="use --format delta or --format iceberg")


def _require(module: str, what: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise IngestError(f"reading {what} tables needs the {module} package, which is not installed",
                          fix=_EXTRA_FIX) from None  # fmt: skip


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def _open_delta(location: str, version: int | None) -> LakeTable:
    deltalake = _require("deltalake", "Delta")
    from deltalake.exceptions import DeltaError, DeltaProtocolError, TableNotFoundError

    uri = str(Path(location).resolve()) if "://" not in location else location
    try:
        table = deltalake.DeltaTable(uri)
        latest = table.version()
        if version is not None and version != latest:
            if not 0 <= version <= latest:
                raise IngestError(
                    f"Delta table {location} has no version {version} (versions 0 to {latest})",
                    fix=f"use --version between 0 and {latest}, or leave it out for the latest",
                )
            table = deltalake.DeltaTable(uri, version=version)
    except TableNotFoundError:
        raise IngestError(
            f"no Delta table at {location}",
            fix="name the table's folder (the one holding _delta_log), or check the URI and its credentials",
        ) from None
    except DeltaError as exc:
        raise IngestError(f"cannot read Delta table {location}: {_first_line(exc)}",
                          fix="check the table (a vacuumed version cannot be read back)") from None  # fmt: skip
    read_version = table.version()
    adds = pa.table(table.get_add_actions(flatten=True))
    files = sorted(zip(adds.column("path").to_pylist(), adds.column("size_bytes").to_pylist(), strict=True))
    name = f"{location} (Delta version {read_version})"
    content_hash = _hash("delta", table.table_uri, read_version, files)

    def scan() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        try:
            dataset = table.to_pyarrow_dataset()
        except DeltaProtocolError:
            # features the pyarrow dataset cannot apply (deletion vectors, ...): delta-rs's own engine reads it
            query = deltalake.QueryBuilder().register("t", table).execute("SELECT * FROM t")
            reader = pa.RecordBatchReader.from_stream(query)
            return reader.schema, iter(reader)
        return dataset.schema, iter(dataset.to_batches(batch_size=LAKE_BATCH_ROWS))

    return LakeTable(name=name, content_hash=content_hash, scan=scan)


def _open_iceberg(
    location: str, snapshot_id: int | None, *, catalog_uri: str | None, catalog_name: str
) -> LakeTable:
    _require("pyiceberg", "Iceberg")
    from pyiceberg.exceptions import NoSuchTableError

    if catalog_uri is not None:
        from pyiceberg.catalog import load_catalog

        try:
            table = load_catalog(catalog_name, uri=catalog_uri).load_table(location)
        except NoSuchTableError:
            raise IngestError(f"no Iceberg table {location} in catalog {catalog_name!r} at {catalog_uri}",
                              fix="name the table as namespace.table, and the catalog with --catalog-name") from None  # fmt: skip
        except Exception as exc:  # the catalog's driver or server
            raise IngestError(f"cannot open Iceberg catalog {catalog_uri}: {_first_line(exc)}",
                              fix="check the catalog URI and that its driver is installed") from None  # fmt: skip
    else:
        from pyiceberg.table import StaticTable

        metadata = location
        if "://" not in location:
            path = Path(location)
            if path.is_dir():
                raise IngestError(
                    f"{location} is a folder; an Iceberg table is read from its metadata file",
                    fix="name the table's current metadata/*.metadata.json file, or use --catalog-uri",
                )
            if not path.exists():
                raise IngestError(
                    f"file {location} not found", fix="check the path to the table's metadata JSON file"
                )
            metadata = str(path.resolve())
        try:
            table = StaticTable.from_metadata(metadata)
        except Exception as exc:  # pyiceberg raises plain ValueError/OSError/pydantic errors here
            raise IngestError(f"cannot read Iceberg metadata {location}: {_first_line(exc)}",
                              fix="name the table's current metadata/*.metadata.json file") from None  # fmt: skip
    if snapshot_id is not None:
        snapshot = table.snapshot_by_id(snapshot_id)
        if snapshot is None:
            known = ", ".join(str(s.snapshot_id) for s in table.snapshots()) or "none"
            raise IngestError(f"Iceberg table {location} has no snapshot {snapshot_id} (snapshots: {known})",
                              fix="use one of its snapshot ids, or leave --snapshot-id out for the current one")  # fmt: skip
    else:
        snapshot = table.current_snapshot()
        if snapshot is None:
            raise DataValidationError(f"Iceberg table {location} has no snapshot (no data was ever written)",
                                      location=Location(file=location), fix="write data to the table first")  # fmt: skip
    scan = table.scan(snapshot_id=snapshot.snapshot_id)
    files = sorted(
        (task.file.file_path, task.file.file_size_in_bytes,
         sorted((d.file_path, d.file_size_in_bytes) for d in task.delete_files))
        for task in scan.plan_files()
    )  # fmt: skip

    def read_scan() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        reader = scan.to_arrow_batch_reader()
        return reader.schema, iter(reader)

    return LakeTable(
        name=f"{location} (Iceberg snapshot {snapshot.snapshot_id})",
        content_hash=_hash("iceberg", table.metadata.location, snapshot.snapshot_id, files),
        scan=read_scan,
    )


def _plain_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type the ingest reads: dictionary -> its values, views and extension types -> their plain form."""
    if isinstance(arrow_type, pa.ExtensionType):
        return _plain_type(arrow_type.storage_type)
    if pa.types.is_dictionary(arrow_type):
        return _plain_type(arrow_type.value_type)
    if arrow_type == pa.string_view():
        return pa.string()
    if arrow_type == pa.binary_view():
        return pa.binary()
    return arrow_type


def _collect(
    name: str,
    content_hash: str,
    lake_schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    *,
    spool_dir: Path | None,
    spool_bytes: int | None,
) -> Source:
    names = list(lake_schema.names)
    _check_column_names(name, names, where="schema")
    types = [_plain_type(f.type) for f in lake_schema]
    # field metadata (Iceberg's field ids) dropped: the spool's schema is the ingest's
    schema = pa.schema(
        [pa.field(n, t) for n, t in zip(names, types, strict=True)] + [pa.field(ROW_COLUMN, pa.int64())]
    )
    sink = _HeldBatches(schema, spool_dir, spool_bytes)
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            columns = [
                column if column.type == t else column.cast(t)
                for column, t in zip(batch.columns, types, strict=True)
            ]
            sink.add(pa.RecordBatch.from_arrays([*columns, _row_numbers(batch.num_rows, first=sink.rows + 1)],
                                                schema=schema))  # fmt: skip
        sink.close()
    except TargetwiseError:
        sink.abandon()
        raise
    except Exception as exc:  # a data file gone or unreadable (the lake readers' own error types)
        sink.abandon()
        raise IngestError(
            f"cannot read {name}: {_first_line(exc)}; nothing was loaded",
            fix="check that the table's data files are there and readable (a vacuumed or expired version cannot "
            "be read back); ingest the latest version instead",
        ) from None
    except BaseException:
        sink.abandon()
        raise
    if sink.rows == 0:
        sink.abandon()
        raise DataValidationError(f"{name} has no rows", location=Location(file=name),
                                  fix="check the version or snapshot; nothing would be loaded")  # fmt: skip
    if sink.spool is not None:
        return Source(table=None, name=name, content_hash=content_hash, parquet_path=sink.spool.path,
                      parquet_schema=schema, parquet_rows=sink.rows, spooled=True)  # fmt: skip
    return Source(
        table=pa.Table.from_batches(sink.held, schema=schema), name=name, content_hash=content_hash
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
