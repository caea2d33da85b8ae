"""Large CSV files are spooled to a temporary Parquet file in blocks (bounded memory) and loaded
from there: the result must be identical to the in-memory path, and the spool must not outlive
the ingest. `csv_spool_mb = 0` forces the spooled path on small files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE, fetch_rows, spool_files, spooling_workspace
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.io.ingest import ingest
from targetwise.io.readers import read_source
from targetwise.io.workspace import Workspace

HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"


def test_spooled_and_in_memory_ingest_store_the_same(tmp_path: Path) -> None:
    memory, spooled = spooling_workspace(tmp_path, "memory", 1024), spooling_workspace(tmp_path, "spool", 0)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "A,1,2020-01-01 10:00,P1,2,3.5\nA,2,2020-01-02,P1,2.5,3.5\nA,3,2999-01-01,P1,1,1\n"
        + "A,1,2020-01-01 10:00,P1,2,3.5\n" + "".join(f"B,{i},2020-02-01,P2,1,1.0\n" for i in range(10, 20))
    )  # fmt: skip
    for ws in (memory, spooled):
        first = ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
        assert (first.rows_read, first.rows_loaded, first.reasons) == (7517, 7413, {"duplicate_line": 104})
        second = ingest(ws, "transactions", bad)
        assert (second.rows_loaded, second.reasons) == (11, {"invalid_integer": 1, "future_timestamp": 1, "duplicate_line": 1})
        assert spool_files(ws) == []  # removed after each ingest
    columns = "customer_id, order_id, ordered_at, product_id, quantity, unit_price, is_return, linked_order_id, line_amount, source_row, line_hash"
    for sql in (
        f"SELECT {columns} FROM transactions ORDER BY ALL",
        "SELECT source_file, source_row, reason_code, column_name, value, customer_id, raw FROM quarantine ORDER BY ALL",
        "SELECT product_id, name FROM products ORDER BY ALL",
        "SELECT customer_id, country FROM customers ORDER BY ALL",
    ):
        assert fetch_rows(memory, sql) == fetch_rows(spooled, sql), sql
    raw = fetch_rows(spooled, "SELECT raw FROM quarantine WHERE reason_code = 'invalid_integer'")
    assert json.loads(raw[0][0])["quantity"] == "2.5"  # raw text kept exactly


def test_same_content_is_recognised_across_the_two_paths(tmp_path: Path) -> None:
    ws = spooling_workspace(tmp_path, "ws", 1024)
    first = ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    ws_spooling = Workspace.open(ws.path, get_settings(workspace=ws.path, duckdb_threads=2, csv_spool_mb=0))
    again = ingest(ws_spooling, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    assert again.already_loaded and again.load_id == first.load_id
    assert spool_files(ws_spooling) == []


def test_compressed_files_count_eight_times_their_size(tmp_path: Path) -> None:
    text = HEADER + "".join(f"A,{i},2020-01-01,P1,1,2\n" for i in range(20_000))
    path = tmp_path / "lines.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    size = path.stat().st_size
    assert size * 8 > len(text) / 4  # sanity of the fixture
    below = read_source(path, spool_dir=tmp_path / "spool", spool_bytes=size * 8)
    above = read_source(path, spool_dir=tmp_path / "spool", spool_bytes=size * 8 - 1)
    try:
        assert below.table is not None and not below.spooled
        assert above.spooled and above.parquet_path is not None and above.parquet_path.exists()
        assert above.num_rows == below.num_rows == 20_000
        assert above.content_hash == below.content_hash
        assert above.column_names == below.column_names
        spooled = pd.read_parquet(above.parquet_path)
        assert spooled["source_row"].tolist() == list(range(1, 20_001))
        assert spooled.drop(columns="source_row").equals(below.table.to_pandas().drop(columns="source_row"))
    finally:
        above.discard()
    assert not above.parquet_path.exists()


def test_a_bad_row_deep_in_a_spooled_file_is_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    ws = spooling_workspace(tmp_path, "ws", 0)
    good = "".join(f"A,{i},2020-01-01,P1,1,2\n" for i in range(300_000))
    path = tmp_path / "ragged.csv"
    path.write_text(HEADER + good + "A,1,2020-01-01,P1,1,2,surplus\n" + good)
    with pytest.raises(DataValidationError, match=r"ragged\.csv cannot be parsed as CSV"):
        ingest(ws, "transactions", path)
    assert spool_files(ws) == []
    assert fetch_rows(ws, "SELECT count(*) FROM transactions") == [(0,)]
    assert fetch_rows(ws, "SELECT count(*) FROM loads") == [(0,)]


def test_a_header_only_file_is_refused_on_the_spooled_path_too(tmp_path: Path) -> None:
    ws = spooling_workspace(tmp_path, "ws", 0)
    path = tmp_path / "empty.csv"
    path.write_text(HEADER)
    with pytest.raises(DataValidationError, match="header but no data rows"):
        ingest(ws, "transactions", path)
    assert spool_files(ws) == []
