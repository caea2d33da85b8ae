"""Ingest from a database query: the result is streamed in batches (never held whole by pandas or
the driver), every value read as text like CSV, and spooled to a temporary Parquet file past the
spool threshold. The database is a real SQLite file through SQLAlchemy."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import fetch_rows, spool_files, spooling_workspace
from targetwise.errors import DataValidationError, IngestError, SchemaError
from targetwise.io import readers
from targetwise.io.ingest import ingest
from targetwise.io.readers import _text_array, read_source

N_ROWS = 2_500
BATCH = 700  # 4 batches: 700, 700, 700, 400

MAPPING_TOML = (
    '[columns]\ncustomer_id = "cust"\norder_id = "inv"\nordered_at = "ts"\nproduct_id = "sku"\n'
    'quantity = "qty"\nunit_price = "price"\n'
)


def rows() -> list[tuple]:
    out = []
    for i in range(1, N_ROWS + 1):
        cust = None if i % 500 == 0 else f"C{i % 37}"  # 5 anonymous lines
        qty: object = 2 if i % 11 else -1  # returns every 11th line
        inv = f"C{1000 + i // 3}" if qty == -1 else str(1000 + i // 3)
        price: object = 1.25 + (i % 7)
        if i == 1_234:
            price = 0.0  # non_positive_price
        if i == 1_999:
            qty = "2.5"  # invalid_integer: SQLite keeps the text in an INTEGER column
        ts = f"2020-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"
        out.append((cust, inv, ts, f"P{i % 53}", qty, price))
    out.append(out[99])  # an exact duplicate of row 100, as row 2,501
    return out


@pytest.fixture
def shop(tmp_path: Path) -> str:
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE sales (cust TEXT, inv TEXT, ts TEXT, sku TEXT, qty INTEGER, price REAL)")
        con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)", rows())
    return f"sqlite:///{db}"


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "SQL_BATCH_ROWS", BATCH)


QUERY = "SELECT * FROM sales ORDER BY rowid"


@pytest.mark.usefixtures("small_batches")
def test_streamed_and_spooled_query_results_store_the_same(tmp_path: Path, shop: str) -> None:
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING_TOML)
    memory, spooled = spooling_workspace(tmp_path, "memory", 1024), spooling_workspace(tmp_path, "spool", 0)
    summaries = []
    for ws in (memory, spooled):
        s = ingest(ws, "transactions", shop, query=QUERY, mapping=mapping_path)
        summaries.append(s)
        assert s.rows_read == N_ROWS + 1
        assert s.reasons == {"non_positive_price": 1, "invalid_integer": 1, "duplicate_line": 1}
        assert s.rows_anonymous == 5
        assert s.rows_loaded == N_ROWS + 1 - 3 - 5
        assert spool_files(ws) == []  # the spool does not outlive the ingest
    # row numbers follow the query's order across batches: the bad rows are named exactly
    assert fetch_rows(spooled, "SELECT source_row, reason_code, value FROM quarantine ORDER BY 1") == [
        (1_234, "non_positive_price", "0"),  # REAL 0.0, as Arrow writes a double
        (1_999, "invalid_integer", "2.5"),
        (2_501, "duplicate_line", "same as row 100"),
    ]
    columns = "customer_id, order_id, ordered_at, product_id, quantity, unit_price, is_return, linked_order_id, line_amount, source_row, line_hash"
    for sql in (
        f"SELECT {columns} FROM transactions ORDER BY ALL",
        "SELECT order_id, ordered_at, source_row FROM anonymous_transactions ORDER BY ALL",
        "SELECT source_row, reason_code, column_name, value, customer_id, raw FROM quarantine ORDER BY ALL",
    ):
        assert fetch_rows(memory, sql) == fetch_rows(spooled, sql), sql
    # a value read from the database lands as it was written
    assert fetch_rows(spooled, "SELECT order_id, ordered_at, quantity, unit_price FROM transactions WHERE source_row = 7") == [
        ("1002", dt.datetime(2020, 8, 8, 7, 7), 2, 1.25)
    ]
    # the same result is recognised on either path (one hash over the query and every batch)
    again = ingest(spooled, "transactions", shop, query=QUERY, mapping=mapping_path)
    assert again.already_loaded and again.load_id == summaries[1].load_id


@pytest.mark.usefixtures("small_batches")
def test_read_source_holds_or_spools_the_same_batches(tmp_path: Path, shop: str) -> None:
    held = read_source(shop, query=QUERY, spool_dir=tmp_path / "spool", spool_bytes=1 << 30)
    spooled = read_source(shop, query=QUERY, spool_dir=tmp_path / "spool", spool_bytes=10_000)
    try:
        assert held.table is not None and not held.spooled
        assert spooled.spooled and spooled.parquet_path is not None and spooled.parquet_path.exists()
        assert held.num_rows == spooled.num_rows == N_ROWS + 1
        assert held.content_hash == spooled.content_hash
        assert held.column_names == spooled.column_names == ["cust", "inv", "ts", "sku", "qty", "price", "source_row"]
        import pyarrow.parquet as pq

        from_spool = pq.read_table(spooled.parquet_path)
        assert from_spool.equals(held.table)
        assert from_spool.column("source_row").to_pylist() == list(range(1, N_ROWS + 2))
        assert from_spool.column("qty").to_pylist()[:3] == ["2", "2", "2"]  # integers as text
        assert from_spool.column("price").to_pylist()[:2] == ["2.25", "3.25"]
    finally:
        spooled.discard()
    assert not spooled.parquet_path.exists()


@pytest.mark.usefixtures("small_batches")
def test_a_database_error_part_way_through_loads_nothing_and_leaves_no_spool(tmp_path: Path, shop: str) -> None:
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING_TOML)
    ws = spooling_workspace(tmp_path, "ws", 0)
    # SQLite evaluates abs() row by row while the result is fetched: row 1,800 (third batch, after
    # two batches went to the spool) raises "integer overflow".
    failing = (
        "SELECT cust, inv, ts, sku, CASE WHEN rowid = 1800 THEN abs(-9223372036854775807 - 1) ELSE qty END AS qty, "
        "price FROM sales ORDER BY rowid"
    )
    with pytest.raises(IngestError, match=r"query against sqlite:///\S+ failed: integer overflow") as info:
        ingest(ws, "transactions", shop, query=failing, mapping=mapping_path)
    assert "check the SQL" in info.value.fix
    assert spool_files(ws) == []
    assert fetch_rows(ws, "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM loads)") == [(0, 0)]


def test_queries_are_sent_as_written_and_bad_results_are_refused(tmp_path: Path, shop: str) -> None:
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING_TOML)
    ws = spooling_workspace(tmp_path, "ws", 1024)
    # a time literal: ':00' is not a bind parameter
    s = ingest(ws, "transactions", shop, query="SELECT * FROM sales WHERE ts >= '2020-12-01 10:00:00'", mapping=mapping_path)
    expected = sum(1 for r in rows()[:N_ROWS] if r[2] >= "2020-12-01 10:00:00")
    assert s.rows_read == expected > 0
    like = read_source(shop, query="SELECT * FROM sales WHERE sku LIKE 'P1%'")  # '%' is not a placeholder
    assert like.num_rows == sum(1 for r in rows() if r[3].startswith("P1")) > 0
    with pytest.raises(SchemaError, match=r"query sqlite:///\S+ :: SELECT cust, cust .*column 'cust' appears twice in the query result"):
        read_source(shop, query="SELECT cust, cust FROM sales")
    with pytest.raises(SchemaError, match="reserves for row numbers"):
        read_source(shop, query="SELECT cust AS source_row FROM sales")
    with pytest.raises(DataValidationError, match="query returned no rows"):
        read_source(shop, query="SELECT * FROM sales WHERE 1 = 0")
    with pytest.raises(IngestError, match=r"query against sqlite:///\S+ failed: no such table: nope"):
        read_source(shop, query="SELECT * FROM nope")


def test_typed_database_values_become_the_text_the_ingest_reads_back(tmp_path: Path) -> None:
    aware = dt.datetime(2020, 1, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    cases = [
        ([1, None, -3], ["1", None, "-3"]),
        ([1.25, 1e20, None], ["1.25", "1e+20", None]),
        ([decimal.Decimal("2.550"), None], ["2.550", None]),
        ([True, False, None], ["true", "false", None]),
        ([dt.datetime(2020, 1, 1, 10, 30), None], ["2020-01-01 10:30:00.000000", None]),
        ([aware], ["2020-01-01 10:00:00.000000+0200"]),  # one offset: kept
        ([aware, aware.astimezone(dt.UTC)], ["2020-01-01 10:00:00.000000+0200"] * 2),  # same instant
        ([dt.date(2020, 1, 2)], ["2020-01-02"]),
        ([None, None], [None, None]),
        (["00123", " a "], ["00123", " a "]),  # text untouched
        ([1, "a"], ["1", "a"]),  # mixed types (SQLite allows them): value by value
        ([2**70], [str(2**70)]),  # beyond 64 bits
        ([dt.timedelta(days=1)], ["1 day, 0:00:00"]),  # not a count of microseconds
    ]
    for values, expected in cases:
        array, typed_time = _text_array(values)
        assert array.type == pa.string()
        assert array.to_pylist() == expected, values
        assert typed_time == (values in ([None, None], [aware], [aware, aware.astimezone(dt.UTC)]) or isinstance(values[0], dt.date)), values
    # and the ingest reads those timestamp texts back to the same instants (stored as naive UTC)
    db = tmp_path / "times.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE s (cust TEXT, inv TEXT, ts TEXT, sku TEXT, qty INTEGER, price REAL)")
        con.executemany(
            "INSERT INTO s VALUES (?, ?, ?, ?, 1, 1.0)",
            [
                ("A", "1", "2020-01-01 10:30:00.000000", "P"),
                ("A", "2", "2020-01-01 08:00:00.000000Z", "P"),
                ("A", "3", "2020-01-01 10:00:00.000000+0200", "P"),
            ],
        )
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING_TOML)
    ws = spooling_workspace(tmp_path, "ws", 1024)
    ingest(ws, "transactions", f"sqlite:///{db}", query="SELECT * FROM s", mapping=mapping_path)
    assert fetch_rows(ws, "SELECT order_id, ordered_at FROM transactions ORDER BY 1") == [
        ("1", dt.datetime(2020, 1, 1, 10, 30)),
        ("2", dt.datetime(2020, 1, 1, 8, 0)),
        ("3", dt.datetime(2020, 1, 1, 8, 0)),
    ]


def test_typed_database_timestamps_ignore_a_text_date_format(tmp_path: Path) -> None:
    """A mapping's date_format describes text as the user's systems write it; timestamps the database
    returns typed are written by targetwise in ISO form, so the format must not apply to them (it
    would quarantine every row), while a text column in the same result still follows it."""
    db = tmp_path / "typed.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE s (cust TEXT, inv TEXT, ts TIMESTAMP, sku TEXT, qty INTEGER, price REAL, shown TEXT)")
        con.executemany(
            "INSERT INTO s VALUES (?, ?, ?, ?, 1, 1.0, ?)",
            [("A", "1", "2020-01-31 10:30:00", "P", "31/01/2020 10:30"), ("A", "2", "2020-02-01 08:00:00", "P", "01/02/2020 08:00")],
        )
    url = f"sqlite:///{db}?detect_types=1"  # the driver returns TIMESTAMP columns as datetime objects
    source = read_source(url, query="SELECT * FROM s ORDER BY inv")
    assert source.iso_text_columns == {"ts"}
    assert source.table is not None and source.table.column("ts").to_pylist()[0] == "2020-01-31 10:30:00.000000"
    mapping = (
        '[columns]\ncustomer_id = "cust"\norder_id = "inv"\nordered_at = "{ts}"\nproduct_id = "sku"\n'
        'quantity = "qty"\nunit_price = "price"\n[options]\ndate_format = "%d/%m/%Y %H:%M"\nignore = ["{other}"]\n'
    )
    expected = [("1", dt.datetime(2020, 1, 31, 10, 30)), ("2", dt.datetime(2020, 2, 1, 8, 0))]
    for column in ("ts", "shown"):  # typed timestamps, and text in the mapping's format
        path = tmp_path / f"{column}.toml"
        path.write_text(mapping.format(ts=column, other="shown" if column == "ts" else "ts"))
        ws = spooling_workspace(tmp_path, f"ws_{column}", 1024)
        s = ingest(ws, "transactions", url, query="SELECT * FROM s ORDER BY inv", mapping=path)
        assert (s.rows_loaded, s.reasons) == (2, {}), column
        assert fetch_rows(ws, "SELECT order_id, ordered_at FROM transactions ORDER BY 1") == expected
