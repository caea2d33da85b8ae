"""Ingest from a Delta Lake or Apache Iceberg table read in place: one version (snapshot) at a time,
streamed and spooled like a query result, recognised when the same version comes again. The tables
are written for real with deltalake (delta-rs) and pyiceberg (a SqlCatalog on SQLite)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import ONLINE_RETAIL_SAMPLE, fetch_rows, spool_files, spooling_workspace
from targetwise.errors import IngestError
from targetwise.io import lake
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace

deltalake = pytest.importorskip("deltalake")
pytest.importorskip("pyiceberg")

from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

# The Online Retail columns as a lake table types them; timestamps read as UTC to compare exactly.
MAPPING_TOML = (
    '[columns]\norder_id = "InvoiceNo"\nproduct_id = "StockCode"\nquantity = "Quantity"\n'
    'ordered_at = "InvoiceDate"\nunit_price = "UnitPrice"\ncustomer_id = "CustomerID"\n'
    '[options]\ntimezone = "UTC"\nignore = ["Description"]\n'
)
N_FIRST, N_SECOND = 300, 150
STORED = "SELECT order_id, product_id, quantity, unit_price, customer_id, ordered_at FROM transactions"


def retail_lines() -> list[tuple]:
    """Distinct Online Retail sample lines with a customer id, typed: (invoice, stock code,
    description, quantity, timestamp, price, customer)."""
    import csv

    seen, lines = set(), []
    with ONLINE_RETAIL_SAMPLE.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["CustomerID"]:
                continue
            line = (
                row["InvoiceNo"], row["StockCode"], row["Description"], int(row["Quantity"]),
                dt.datetime.fromisoformat(row["InvoiceDate"]), float(row["UnitPrice"]), row["CustomerID"],
            )  # fmt: skip
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return lines


def arrow_lines(lines: list[tuple], *, dates_as_text: bool = False) -> pa.Table:
    names = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    columns = [list(c) for c in zip(*lines, strict=True)]
    types = [pa.string(), pa.string(), pa.string(), pa.int64(),
             pa.string() if dates_as_text else pa.timestamp("us"), pa.float64(), pa.string()]  # fmt: skip
    return pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)


def expected(lines: list[tuple]) -> list[tuple]:
    """What the workspace stores for these lines (order, product, quantity, price, customer, when)."""
    return sorted((inv, sku, qty, price, cust, when) for inv, sku, _, qty, when, price, cust in lines)


@pytest.fixture
def mapping_path(tmp_path: Path) -> Path:
    path = tmp_path / "lake.toml"
    path.write_text(MAPPING_TOML)
    return path


@pytest.fixture
def lines() -> list[tuple]:
    lines = retail_lines()
    assert len(lines) >= N_FIRST + N_SECOND
    return lines[: N_FIRST + N_SECOND]


def _delta_table(path: Path, lines: list[tuple]) -> Path:
    deltalake.write_deltalake(path, arrow_lines(lines[:N_FIRST]))
    deltalake.write_deltalake(path, arrow_lines(lines[N_FIRST:]), mode="append")
    return path


def _iceberg_table(tmp_path: Path, batches: list[pa.Table]) -> tuple[str, list[int]]:
    """An Iceberg table in a SQLite catalog, one append per batch: (its metadata file, snapshot ids)."""
    catalog = SqlCatalog(
        "shop", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=(tmp_path / "wh").as_uri()
    )
    catalog.create_namespace("retail")
    table = catalog.create_table("retail.sales", schema=batches[0].schema)
    snapshots = []
    for batch in batches:
        table.append(batch)
        snapshots.append(table.current_snapshot().snapshot_id)
    return table.metadata_location.removeprefix("file://"), snapshots


def _check_versions(ws: Workspace, lines: list[tuple], read, first: str, latest: str) -> None:
    """Version 0 gives exactly its lines, again nothing, the latest exactly the new lines."""
    s0 = read(first)
    assert (s0.rows_read, s0.rows_loaded, s0.rows_quarantined) == (N_FIRST, N_FIRST, 0)
    assert sorted(fetch_rows(ws, STORED)) == expected(lines[:N_FIRST])

    again = read(first)
    assert again.already_loaded and again.load_id == s0.load_id
    assert fetch_rows(ws, "SELECT count(*) FROM transactions") == [(N_FIRST,)]

    s1 = read(latest)
    assert not s1.already_loaded
    assert s1.rows_read == N_FIRST + N_SECOND and s1.rows_loaded == N_SECOND
    assert s1.reasons == {"duplicate_line": N_FIRST}  # lines already stored are never added twice
    assert sorted(fetch_rows(ws, STORED)) == expected(lines)
    assert fetch_rows(ws, "SELECT load_id, source FROM loads ORDER BY 1") == [
        (s0.load_id, s0.source),
        (s1.load_id, s1.source),
    ]
    assert read(latest).already_loaded


def test_delta_versions_ingest_exactly_their_lines(tmp_path: Path, workspace: Workspace, mapping_path: Path,
                                                    lines: list[tuple]) -> None:  # fmt: skip
    table = _delta_table(tmp_path / "sales_delta", lines)

    def read(version: str):
        return ingest(
            workspace, "transactions", table, mapping=mapping_path, version=None if version == "latest" else 0
        )

    _check_versions(workspace, lines, read, "0", "latest")
    names = [name for (name,) in fetch_rows(workspace, "SELECT source FROM loads ORDER BY load_id")]
    assert names == [f"{table} (Delta version 0)", f"{table} (Delta version 1)"]
    # a version loaded before is known from the log alone: with its data files gone it is still recognised
    for data_file in table.glob("*.parquet"):
        data_file.unlink()
    again = read("0")
    assert again.already_loaded and again.rows_read == N_FIRST and again.source == names[0]
    # ... while a version not loaded yet needs its files: one clear error, nothing loaded
    deltalake.write_deltalake(table, arrow_lines(lines[:5]), mode="append")
    for data_file in table.glob("*.parquet"):
        data_file.unlink()
    with pytest.raises(IngestError, match=r"cannot read .*\(Delta version 2\): .*nothing was loaded"):
        read("latest")
    assert fetch_rows(workspace, "SELECT count(*) FROM loads") == [(2,)]
    assert spool_files(workspace) == []


def test_iceberg_snapshots_ingest_exactly_their_lines(tmp_path: Path, workspace: Workspace, mapping_path: Path,
                                                      lines: list[tuple]) -> None:  # fmt: skip
    metadata, (first, latest) = _iceberg_table(
        tmp_path, [arrow_lines(lines[:N_FIRST]), arrow_lines(lines[N_FIRST:])]
    )
    assert lake.lake_format(metadata) == "iceberg"

    def read(snapshot: str):
        return ingest(workspace, "transactions", metadata, mapping=mapping_path,
                      snapshot_id=None if snapshot == "latest" else first)  # fmt: skip

    _check_versions(workspace, lines, read, "first", "latest")
    names = [name for (name,) in fetch_rows(workspace, "SELECT source FROM loads ORDER BY load_id")]
    assert names == [f"{metadata} (Iceberg snapshot {first})", f"{metadata} (Iceberg snapshot {latest})"]
    # a snapshot loaded before is known from the metadata and manifests alone, without its data files
    for data_file in (tmp_path / "wh").rglob("data/*.parquet"):
        data_file.unlink()
    assert read("first").already_loaded
    # the same snapshot named through the catalog is the same content: nothing added
    via_catalog = ingest(workspace, "transactions", "retail.sales", mapping=mapping_path,
                         catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}", catalog_name="shop")  # fmt: skip
    assert via_catalog.already_loaded


def _bad_lines(lines: list[tuple]) -> list[tuple]:
    """The first 40 lines with dates as text; line 7 has a negative price, line 23 an unparsable date."""
    bad = [(*line[:4], line[4].strftime("%Y-%m-%d %H:%M:%S"), *line[5:]) for line in lines[:40]]
    bad[6] = (*bad[6][:5], -2.5, bad[6][6])
    bad[22] = (*bad[22][:4], "31/02/2011 10:00", *bad[22][5:])
    return bad


BAD_QUARANTINE = (
    "SELECT source_file, source_row, column_name, value, reason_code FROM quarantine ORDER BY source_row"
)


@pytest.mark.parametrize("spool_mb", [1024, 0], ids=["in-memory", "spooled"])
def test_delta_bad_values_are_quarantined_naming_table_version_row_column(
    tmp_path: Path, mapping_path: Path, lines: list[tuple], spool_mb: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake, "LAKE_BATCH_ROWS", 16)  # three batches: row numbers run on across them
    ws = spooling_workspace(tmp_path, "ws", spool_mb)
    bad = _bad_lines(lines)
    table = tmp_path / "bad_delta"
    deltalake.write_deltalake(table, arrow_lines(bad, dates_as_text=True))
    summary = ingest(ws, "transactions", table, mapping=mapping_path)
    assert summary.reasons == {"non_positive_price": 1, "unparsable_timestamp": 1}
    assert summary.rows_loaded == 38
    name = f"{table} (Delta version 0)"
    assert fetch_rows(ws, BAD_QUARANTINE) == [
        (name, 7, "unit_price", "-2.5", "non_positive_price"),
        (name, 23, "ordered_at", "31/02/2011 10:00", "unparsable_timestamp"),
    ]
    good = [line for i, line in enumerate(lines[:40]) if i not in (6, 22)]
    assert sorted(fetch_rows(ws, STORED)) == expected(good)
    assert spool_files(ws) == []  # the spool does not outlive the ingest


def test_iceberg_bad_values_are_quarantined_naming_table_snapshot_row_column(
    tmp_path: Path, workspace: Workspace, mapping_path: Path, lines: list[tuple]
) -> None:
    metadata, (snapshot,) = _iceberg_table(tmp_path, [arrow_lines(_bad_lines(lines), dates_as_text=True)])
    summary = ingest(workspace, "transactions", metadata, mapping=mapping_path, format="iceberg")
    assert summary.reasons == {"non_positive_price": 1, "unparsable_timestamp": 1}
    assert summary.rows_loaded == 38
    name = f"{metadata} (Iceberg snapshot {snapshot})"
    assert fetch_rows(workspace, BAD_QUARANTINE) == [
        (name, 7, "unit_price", "-2.5", "non_positive_price"),
        (name, 23, "ordered_at", "31/02/2011 10:00", "unparsable_timestamp"),
    ]


def test_lake_errors_say_what_to_do(tmp_path: Path, workspace: Workspace, mapping_path: Path,
                                    lines: list[tuple], monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    table = _delta_table(tmp_path / "sales_delta", lines)
    with pytest.raises(IngestError, match=r"has no version 7 \(versions 0 to 1\)"):
        ingest(workspace, "transactions", table, mapping=mapping_path, version=7)
    plain = tmp_path / "plain_folder"
    plain.mkdir()
    with pytest.raises(IngestError, match="is a folder, not a file") as folder:
        ingest(workspace, "transactions", plain, mapping=mapping_path)
    assert "--format delta" in (folder.value.fix or "")
    with pytest.raises(IngestError, match="no Delta table at"):
        ingest(workspace, "transactions", plain, mapping=mapping_path, format="delta")
    with pytest.raises(IngestError, match="'orc' is not a table format"):
        ingest(workspace, "transactions", table, mapping=mapping_path, format="orc")
    with pytest.raises(IngestError, match="--version is for Delta tables"):
        ingest(workspace, "transactions", table, mapping=mapping_path, format="iceberg", version=0)
    # without the extra installed (the import fails), one line with the fix
    monkeypatch.setitem(sys.modules, "deltalake", None)
    with pytest.raises(IngestError, match="needs the deltalake package") as missing:
        ingest(workspace, "transactions", table, mapping=mapping_path)
    assert missing.value.fix == "pip install 'targetwise[lake]'"
    assert fetch_rows(workspace, "SELECT count(*) FROM loads") == [(0,)]


def test_cli_ingests_a_delta_version(tmp_path: Path, mapping_path: Path, lines: list[tuple]) -> None:
    from typer.testing import CliRunner

    from targetwise.cli import app

    table = _delta_table(tmp_path / "sales_delta", lines)
    ws = tmp_path / "shop"
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(app, [str(a) for a in args], env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"})

    assert invoke("init", ws).exit_code == 0
    r = invoke(
        "ingest", "transactions", table, "--format", "delta", "--version", 0, "-m", mapping_path, "-w", ws
    )
    assert r.exit_code == 0, r.output
    assert f"loaded {N_FIRST} new + 0 updated rows into transactions from {N_FIRST} read" in r.output
    r = invoke(
        "ingest", "transactions", table, "--format", "delta", "--version", 0, "-m", mapping_path, "-w", ws
    )
    assert r.exit_code == 0 and "already loaded" in r.output
    r = invoke(
        "ingest", "transactions", table, "--format", "delta", "--version", 9, "-m", mapping_path, "-w", ws
    )
    assert r.exit_code != 0 and "has no version 9" in r.output
