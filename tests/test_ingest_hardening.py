"""Ingest hardening (issue 17): ids by their value, not their number type or a null spelling; epoch
timestamps; unknown time zones; over-long ids; binary and UTF-16 files. Every test states the exact
outcome: the stored values, the quarantine reasons, or the one-line error with its fix."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import random
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import fetch_rows
from targetwise.config import get_settings
from targetwise.errors import ConfigError, DataValidationError, SchemaError
from targetwise.io.ingest import ingest, ingest_arrow
from targetwise.io.mapping import DEFAULT_NULL_VALUES, Mapping, load_mapping
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace

HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
TABLES = ("transactions", "anonymous_transactions", "quarantine", "loads")


def write(folder: Path, text: str, name: str = "lines.csv", *, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def lines_parquet(folder: Path, name: str, **columns: pa.Array | list) -> Path:
    """A transactions Parquet file: the given columns over typed defaults for the others."""
    n = len(next(iter(columns.values())))
    table = {
        "customer_id": pa.array(["A"] * n),
        "order_id": pa.array([str(100 + i) for i in range(n)]),
        "ordered_at": pa.array([datetime(2011, 1, 2, 10, 0)] * n, pa.timestamp("us")),
        "product_id": pa.array(["P1"] * n),
        "quantity": pa.array([1] * n, pa.int64()),
        "unit_price": pa.array([2.5] * n),
    }
    table.update(columns)
    path = folder / name
    pq.write_table(pa.table(table), path)
    return path


def _random_bytes(low: int, high: int, n: int = 4000) -> bytes:
    rng = random.Random(17)
    return bytes(rng.randrange(low, high) for _ in range(n))


@pytest.fixture
def lenient(tmp_path: Path) -> Workspace:
    """A workspace that quarantines however many rows fail (small files made mostly of bad rows)."""
    settings = get_settings(workspace=tmp_path / "lenient", duckdb_threads=2, max_reject_fraction=1.0)
    return Workspace.init(settings.workspace, settings)


def counts(ws: Workspace) -> dict[str, int]:
    return {t: fetch_rows(ws, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def quarantined(ws: Workspace) -> list[tuple]:
    return fetch_rows(ws, "SELECT source_row, reason_code, column_name, value FROM quarantine ORDER BY source_row")


# -- 1. whole-number floats in id columns ------------------------------------------------------


def test_float64_customer_id_from_parquet_is_the_same_customer_as_in_csv(workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, "transactions", write(tmp_path, HEADER + "17850,1,2011-01-01 10:00,P1,1,2.5\n"))
    # what pandas writes when one id is missing: float64, 17850.0 and NaN (a null in Parquet)
    frame = pd.DataFrame(
        {"customer_id": [17850, None], "order_id": ["2", "3"], "ordered_at": ["2011-01-02 10:00"] * 2,
         "product_id": ["P1", "P2"], "quantity": [1, 1], "unit_price": [2.5, 2.5]}
    )  # fmt: skip
    assert frame["customer_id"].dtype == "float64"
    path = tmp_path / "lines.parquet"
    frame.to_parquet(path, index=False)
    summary = ingest(workspace, "transactions", path)
    assert (summary.rows_loaded, summary.rows_anonymous, summary.rows_quarantined) == (1, 1, 0)
    assert "1 customer_id value(s) in float column 'customer_id' were whole numbers (e.g. 17850.0)" in " ".join(
        summary.warnings
    )
    assert fetch_rows(workspace, "SELECT customer_id, count(*) FROM transactions GROUP BY ALL") == [("17850", 2)]
    assert fetch_rows(workspace, "SELECT order_id FROM anonymous_transactions") == [("3",)]


def test_whole_floats_in_every_id_column_become_integer_text(workspace: Workspace, tmp_path: Path) -> None:
    path = lines_parquet(
        tmp_path,
        "floats.parquet",
        customer_id=pa.array([17850.0, -0.0, 9007199254740992.0], pa.float64()),
        order_id=pa.array([536365.0, 536366.0, 536367.0], pa.float64()),
        product_id=pa.array([85123.0, 2.0, 3.0], pa.float32()),
    )
    summary = ingest(workspace, "transactions", path)
    assert summary.rows_loaded == 3 and summary.rows_quarantined == 0
    assert fetch_rows(workspace, "SELECT customer_id, order_id, product_id FROM transactions ORDER BY order_id") == [
        ("17850", "536365", "85123"),
        ("0", "536366", "2"),
        ("9007199254740992", "536367", "3"),
    ]
    # the note quotes a value from this file, not a fixed example
    notes = " ".join(summary.warnings)
    assert "3 order_id value(s) in float column 'order_id' were whole numbers (e.g. 536365.0)" in notes
    assert "stored as their integer text (536365)" in notes


def test_int64_and_decimal_ids_are_plain_integer_text(workspace: Workspace, tmp_path: Path) -> None:
    import decimal

    path = lines_parquet(
        tmp_path,
        "ints.parquet",
        customer_id=pa.array([17850, 12346], pa.int64()),
        order_id=pa.array([536365, 536366], pa.uint32()),
        product_id=pa.array([decimal.Decimal("85123"), decimal.Decimal("7.00")], pa.decimal128(10, 2)),
    )
    assert ingest(workspace, "transactions", path).rows_loaded == 2
    assert fetch_rows(workspace, "SELECT customer_id, order_id, product_id FROM transactions ORDER BY order_id") == [
        ("17850", "536365", "85123"),
        ("12346", "536366", "7"),
    ]


def test_non_whole_infinite_and_inexact_float_ids_are_quarantined_nan_is_missing(
    lenient: Workspace, tmp_path: Path
) -> None:
    path = lines_parquet(
        tmp_path,
        "bad.parquet",
        # NaN written as a value (not a null): pandas' missing value, so an anonymous line
        customer_id=pa.array([17850.5, math.inf, -math.inf, 1e300, math.nan, 17850.0], pa.float64()),
    )
    summary = ingest(lenient, "transactions", path)
    assert summary.reasons == {"invalid_id": 4}
    assert (summary.rows_loaded, summary.rows_anonymous) == (1, 1)
    assert quarantined(lenient) == [
        (1, "invalid_id", "customer_id", "17850.5"),
        (2, "invalid_id", "customer_id", "inf"),
        (3, "invalid_id", "customer_id", "-inf"),
        (4, "invalid_id", "customer_id", "1e+300"),
    ]
    reason = fetch_rows(lenient, "SELECT DISTINCT reason FROM quarantine")[0][0]
    assert "fraction" in reason and "whole numbers" in reason


def test_float_product_id_of_a_keyed_table(lenient: Workspace) -> None:
    frame = pd.DataFrame({"product_id": [85123.0, 1.5, float("nan")], "name": ["mug", "half", "none"]})
    summary = ingest_arrow(lenient, "products", source_from_frame(frame, name="catalogue"))
    assert summary.reasons == {"invalid_id": 1, "missing_value": 1}
    assert fetch_rows(lenient, "SELECT product_id, name FROM products") == [("85123", "mug")]
    assert [r[1:] for r in quarantined(lenient)] == [("invalid_id", "product_id", "1.5"), ("missing_value", "product_id", None)]


# -- 2. null-like strings in id columns ---------------------------------------------------------


NULL_SPELLINGS = ["NULL", "null", "None", "nan", "NaN", "N/A", "#N/A", "  NULL\t", "   "]


def test_null_spellings_of_a_customer_id_are_anonymous_lines(workspace: Workspace, tmp_path: Path) -> None:
    rows = [f"{c},{i},2011-01-01 10:00,P1,1,2.5" for i, c in enumerate(NULL_SPELLINGS)]
    rows += ["Null,90,2011-01-01 10:00,P1,1,2.5", "NA,91,2011-01-01 10:00,P1,1,2.5", "NULLS,92,2011-01-01 10:00,P1,1,2.5"]
    summary = ingest(workspace, "transactions", write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert (summary.rows_anonymous, summary.rows_loaded, summary.rows_quarantined) == (9, 3, 0)
    # not in the list (exact spelling): real ids
    assert fetch_rows(workspace, "SELECT customer_id FROM transactions ORDER BY 1") == [("NA",), ("NULLS",), ("Null",)]
    assert fetch_rows(workspace, "SELECT count(*) FROM anonymous_transactions") == [(9,)]
    assert fetch_rows(workspace, "SELECT rows_anonymous FROM loads") == [(9,)]


def test_null_spellings_of_a_required_id_are_missing_values(lenient: Workspace, tmp_path: Path) -> None:
    text = HEADER + "A,1,2011-01-01,N/A,1,2.5\nA,#N/A,2011-01-01,P1,1,2.5\nA,3,2011-01-01,P1,1,2.5\n"
    summary = ingest(lenient, "transactions", write(tmp_path, text))
    assert summary.reasons == {"missing_value": 2}
    assert quarantined(lenient) == [(1, "missing_value", "product_id", "N/A"), (2, "missing_value", "order_id", "#N/A")]
    customers = write(tmp_path, "customer_id,country\nNULL,UK\nnan,FR\nC1,DE\n", "customers.csv")
    summary = ingest(lenient, "customers", customers)
    assert (summary.rows_loaded, summary.reasons) == (1, {"missing_value": 2})
    assert fetch_rows(lenient, "SELECT customer_id FROM customers") == [("C1",)]


def test_a_mapping_null_values_list_replaces_the_default(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path, '[options]\nnull_values = ["-", "unknown"]\n', "m.toml")
    text = HEADER + "-,1,2011-01-01,P1,1,2.5\n unknown ,2,2011-01-01,P1,1,2.5\nNULL,3,2011-01-01,P1,1,2.5\n,4,2011-01-01,P1,1,2.5\n"
    summary = ingest(workspace, "transactions", write(tmp_path, text), mapping=mapping)
    assert (summary.rows_anonymous, summary.rows_loaded) == (3, 1)
    assert fetch_rows(workspace, "SELECT customer_id FROM transactions") == [("NULL",)]  # no longer a null value


def test_an_empty_null_values_list_keeps_only_blank_ids_missing(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path, "[options]\nnull_values = []\n", "m.toml")
    text = HEADER + "NULL,1,2011-01-01,P1,1,2.5\n  ,2,2011-01-01,P1,1,2.5\n"
    summary = ingest(workspace, "transactions", write(tmp_path, text), mapping=mapping)
    assert (summary.rows_anonymous, summary.rows_loaded) == (1, 1)


def test_null_values_option_is_checked_and_part_of_the_mapping_digest(tmp_path: Path) -> None:
    assert DEFAULT_NULL_VALUES == ("NULL", "null", "None", "nan", "NaN", "N/A", "#N/A")
    for text, match in (
        ('null_values = "NULL"', r"null_values must be a list of strings, not 'NULL'"),
        ("null_values = [1]", r"null_values must be a list of strings"),
        ('null_values = [" NULL"]', r"entry ' NULL' is blank or padded"),
    ):
        path = write(tmp_path, f"[options]\n{text}\n", "m.toml")
        with pytest.raises(ConfigError, match=match):
            load_mapping(path, table="transactions")
    # the digest of a mapping without the option is the one written before the option existed
    old = {"columns": {}, "ignore": [], "date_format": None, "timezone": None, "derive": {}}
    assert Mapping().digest() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()
    assert Mapping(null_values=("-",)).digest() != Mapping().digest()


# -- 3a. epoch timestamps ------------------------------------------------------------------------


def test_int64_epoch_timestamps_without_a_format_are_one_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    path = lines_parquet(tmp_path, "epoch.parquet", ordered_at=pa.array([None, 1300000000], pa.int64()))
    before = counts(workspace)
    with pytest.raises(SchemaError) as caught:
        ingest(workspace, "transactions", path)
    message = str(caught.value)
    assert message.startswith(f"{path}: column 'ordered_at' holds int64 values, not timestamps; nothing was loaded")
    assert f"(file {path}, row 2, column 'ordered_at', value '1300000000')" in message
    assert caught.value.fix.startswith(
        'if they are Unix time, set date_format = "epoch_s" (seconds) or "epoch_ms" (milliseconds) under [options] '
        "in a mapping file (--mapping); otherwise"
    )
    assert "\n" not in message
    assert counts(workspace) == before


@pytest.mark.parametrize(
    ("fmt", "values", "expected"),
    [
        ("epoch_s", pa.array([1300000000, 0, -86400, 1000000000], pa.int64()),
         [datetime(2011, 3, 13, 7, 6, 40), datetime(1970, 1, 1), datetime(1969, 12, 31), datetime(2001, 9, 9, 1, 46, 40)]),
        ("epoch_ms", pa.array([1300000000123, 0, -86400000, 1000000000000], pa.int64()),
         [datetime(2011, 3, 13, 7, 6, 40, 123000), datetime(1970, 1, 1), datetime(1969, 12, 31), datetime(2001, 9, 9, 1, 46, 40)]),
        ("epoch_s", pa.array([1300000000.5, 0.0, -86400.0, 1e9], pa.float64()),
         [datetime(2011, 3, 13, 7, 6, 40, 500000), datetime(1970, 1, 1), datetime(1969, 12, 31), datetime(2001, 9, 9, 1, 46, 40)]),
    ],
)  # fmt: skip
def test_epoch_formats_read_typed_numbers_as_utc_instants(
    workspace: Workspace, tmp_path: Path, fmt: str, values: pa.Array, expected: list[datetime]
) -> None:
    path = lines_parquet(tmp_path, "epoch.parquet", ordered_at=values)
    # Unix time is UTC: the shop's time zone does not shift it
    mapping = write(tmp_path, f'[options]\ndate_format = "{fmt}"\ntimezone = "Europe/London"\n', "m.toml")
    assert ingest(workspace, "transactions", path, mapping=mapping).rows_loaded == 4
    stored = fetch_rows(workspace, "SELECT ordered_at FROM transactions ORDER BY source_row")
    assert [r[0] for r in stored] == expected


def test_epoch_format_reads_digit_text_in_csv(lenient: Workspace, tmp_path: Path) -> None:
    text = HEADER + (
        "A,1,1300000000,P1,1,2.5\nA,2, 1000000000 ,P1,1,2.5\nA,3,13e8,P1,1,2.5\nA,4,1300000000.5,P1,1,2.5\n"
        "A,5,2011-03-13,P1,1,2.5\nA,6,99999999999999,P1,1,2.5\nA,7,1_300_000_000,P1,1,2.5\n"
        "B,8,1300000001,P1,1,2.5\nB,9,1300000002,P1,1,2.5\nB,10,1300000003,P1,1,2.5\n"
    )
    mapping = write(tmp_path, '[options]\ndate_format = "epoch_s"\n', "m.toml")
    summary = ingest(lenient, "transactions", write(tmp_path, text), mapping=mapping)
    assert summary.reasons == {"unparsable_timestamp": 5}
    assert [r[1:] for r in quarantined(lenient)] == [
        ("unparsable_timestamp", "ordered_at", v) for v in ("13e8", "1300000000.5", "2011-03-13", "99999999999999", "1_300_000_000")
    ]
    assert fetch_rows(lenient, "SELECT order_id, ordered_at FROM transactions WHERE customer_id = 'A' ORDER BY 2") == [
        ("2", datetime(2001, 9, 9, 1, 46, 40)),
        ("1", datetime(2011, 3, 13, 7, 6, 40)),
    ]


def test_epoch_ms_text_and_a_strptime_format_on_integer_dates(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path, '[options]\ndate_format = "epoch_ms"\n', "m.toml")
    ingest(workspace, "transactions", write(tmp_path, HEADER + "A,1,1300000000123,P1,1,2.5\n"), mapping=mapping)
    assert fetch_rows(workspace, "SELECT ordered_at FROM transactions") == [(datetime(2011, 3, 13, 7, 6, 40, 123000),)]
    path = lines_parquet(tmp_path, "yyyymmdd.parquet", ordered_at=pa.array([20110313], pa.int64()))
    mapping = write(tmp_path, '[options]\ndate_format = "%Y%m%d"\n', "m2.toml")
    ingest(workspace, "transactions", path, mapping=mapping)
    assert fetch_rows(workspace, "SELECT ordered_at FROM transactions WHERE order_id = '100'") == [(datetime(2011, 3, 13),)]


def test_a_date_format_that_is_no_format_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[options]\ndate_format = "epoch"\n', "m.toml")
    with pytest.raises(ConfigError, match=r"date_format = 'epoch' is not a date format.*epoch_s"):
        load_mapping(path, table="transactions")


# -- 3b. unknown time zones --------------------------------------------------------------------


def test_an_unknown_mapping_timezone_is_a_config_error_when_the_mapping_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[options]\ntimezone = "Mars/Olympus"\n', "mars.toml")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path, table="transactions")
    assert str(caught.value) == (
        f"mapping file {path}: [options] timezone = 'Mars/Olympus' is not a known time zone. "
        'Fix: use an IANA name such as timezone = "Europe/London" (or "UTC")'
    )


def test_an_unknown_timezone_in_a_mapping_object_fails_cleanly_and_loads_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    before = counts(workspace)
    path = write(tmp_path, HEADER + "A,1,2011-01-01,P1,1,2.5\n")
    with pytest.raises(ConfigError, match=r"mapping file m\.toml: \[options\] timezone = 'Mars/Olympus' .*Europe/London"):
        ingest(workspace, "transactions", path, mapping=Mapping(timezone="Mars/Olympus", source="m.toml"))
    assert counts(workspace) == before


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[options]\nencoding = "utf-9"\n', "m.toml")
    with pytest.raises(ConfigError, match=r"encoding = 'utf-9' is not a known text encoding"):
        load_mapping(path, table="transactions")


# -- 4. over-long ids --------------------------------------------------------------------------


def test_ids_over_the_default_limit_are_quarantined(workspace: Workspace, tmp_path: Path) -> None:
    assert workspace.settings.max_id_length == 256
    long_id, at_limit, wide = "X" * 257, "Y" * 256, "é" * 256  # 512 bytes, 256 characters: within the limit
    text = HEADER + f"{long_id},1,2011-01-01,P1,1,2.5\n{at_limit},2,2011-01-01,P1,1,2.5\nA,3,2011-01-01,{wide},1,2.5\n"
    text += f"A,4,2011-01-01,{'P' * 300},1,2.5\n"
    summary = ingest(workspace, "transactions", write(tmp_path, text))
    assert (summary.reasons, summary.rows_loaded) == ({"id_too_long": 2}, 2)
    rows = fetch_rows(
        workspace, "SELECT source_row, reason_code, column_name, value, reason FROM quarantine ORDER BY 1"
    )
    assert [r[:4] for r in rows] == [
        (1, "id_too_long", "customer_id", "X" * 80 + "... (257 characters)"),
        (4, "id_too_long", "product_id", "P" * 80 + "... (300 characters)"),
    ]
    assert rows[0][4].startswith("id is longer than 256 characters (TARGETWISE_MAX_ID_LENGTH)")
    # the raw row keeps the whole id
    raw = fetch_rows(workspace, "SELECT raw FROM quarantine WHERE source_row = 1")[0][0]
    assert json.loads(raw)["customer_id"] == long_id


def test_the_id_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETWISE_MAX_ID_LENGTH", "12")
    assert get_settings().max_id_length == 12
    with pytest.raises(ConfigError, match="max_id_length"):
        get_settings(max_id_length=0)
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=2, max_id_length=5)
    ws = Workspace.init(settings.workspace, settings)
    text = HEADER + "ABCDE,1,2011-01-01,P1,1,2.5\nABCDEF,2,2011-01-01,P1,1,2.5\n"
    summary = ingest(ws, "transactions", write(tmp_path, text))
    assert (summary.reasons, summary.rows_loaded) == ({"id_too_long": 1}, 1)
    assert fetch_rows(ws, "SELECT value, reason FROM quarantine")[0][1].startswith("id is longer than 5 characters")


# -- 5. binary files and UTF-16 ----------------------------------------------------------------


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lines.csv", HEADER + "A,1,2011-01-01,P1,1,2.5\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "match", "fix"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "is not CSV text: it is a PNG image", "CSV (UTF-8) or Parquet"),
        (_zip_bytes(), r"is not CSV text: it is a zip archive \(an Excel \.xlsx workbook is one\)", "save the sheet as CSV"),
        (gzip.compress((HEADER + "A,1,2011-01-01,P1,1,2.5\n").encode(), mtime=0), "is not CSV text: it is gzip-compressed",
         "name the file .csv.gz"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "is not CSV text: it is a PDF document", "not as a printable document"),
        (b"PAR1\x15\x04\x15\x10" + bytes(32), "is not CSV text: it is a Parquet file", "name the file .parquet"),
        (_random_bytes(1, 256),
         r"is not valid utf-8: byte 0x[0-9a-f]{2} at line \d+; \d+% of its first bytes are control characters, "
         "so it is probably not text at all", "export the data as CSV (UTF-8) or Parquet; if it is text"),
        (_random_bytes(1, 128),
         r"looks binary \(2\d% of its first bytes are control characters\), not CSV", "CSV (UTF-8) or Parquet"),
    ],
    ids=["png", "zip", "gzip_without_suffix", "pdf", "parquet", "random_high_bytes", "random_ascii_bytes"],
)  # fmt: skip
def test_binary_files_are_one_clear_line_naming_what_they_are(
    workspace: Workspace, tmp_path: Path, content: bytes, match: str, fix: str
) -> None:
    path = tmp_path / "lines.csv"
    path.write_bytes(content)
    before = counts(workspace)
    with pytest.raises(DataValidationError, match=match) as caught:
        ingest(workspace, "transactions", path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert fix in (caught.value.fix or "")
    assert counts(workspace) == before


def test_a_header_that_starts_like_a_signature_is_still_text(workspace: Workspace, tmp_path: Path) -> None:
    """PAR1, GIF8 and %PDF- are letters a header can start with: they mean a binary format only with binary bytes."""
    text = "PAR1," + HEADER[len("customer_id,"):] + "A,1,2011-01-01,P1,1,2.5\n"
    mapping = write(tmp_path, '[columns]\ncustomer_id = "PAR1"\n', "m.toml")
    assert ingest(workspace, "transactions", write(tmp_path, text), mapping=mapping).rows_loaded == 1


UTF16_TEXT = HEADER + "Zoë,1,2011-01-01 10:00,P€1,2,3.5\n日本,2,2011-01-02,P2,1,1.25\n"


@pytest.mark.parametrize(
    ("encoding", "option", "evidence"),
    [("utf-16", "utf-16", "byte-order mark FF FE"), ("utf-16-le", "utf-16-le", "little-endian, no byte-order mark"),
     ("utf-16-be", "utf-16-be", "big-endian, no byte-order mark")],
)  # fmt: skip
def test_utf16_without_a_mapping_says_which_encoding_option_reads_it(
    workspace: Workspace, tmp_path: Path, encoding: str, option: str, evidence: str
) -> None:
    path = write(tmp_path, UTF16_TEXT, encoding=encoding)
    with pytest.raises(DataValidationError) as caught:
        ingest(workspace, "transactions", path)
    assert caught.value.message == f"file {path} is UTF-16 text ({evidence}), not UTF-8: it looks binary (NUL bytes) when read as UTF-8"
    assert caught.value.fix == (
        f'set encoding = "{option}" under [options] in a mapping file (--mapping), or re-export the file as UTF-8'
    )
    # ... and that option does read it, every character intact
    mapping = write(tmp_path, f'[options]\nencoding = "{option}"\n', "m.toml")
    summary = ingest(workspace, "transactions", path, mapping=mapping)
    assert (summary.rows_loaded, summary.rows_quarantined) == (2, 0)
    assert fetch_rows(
        workspace, "SELECT customer_id, order_id, ordered_at, product_id, quantity, unit_price FROM transactions ORDER BY 2"
    ) == [
        ("Zoë", "1", datetime(2011, 1, 1, 10, 0), "P€1", 2, 3.5),
        ("日本", "2", datetime(2011, 1, 2), "P2", 1, 1.25),
    ]


def test_a_large_utf16_file_is_read_in_blocks_and_spooled(tmp_path: Path) -> None:
    from conftest import spooling_workspace

    ws = spooling_workspace(tmp_path, "spool", 0)  # every CSV spooled: the block-wise reader
    rows = "".join(f"Zoë{i},{i},2011-01-01,P{i % 7},1,2.5\n" for i in range(40_000))  # > the 64 KiB header probe
    path = write(tmp_path, HEADER + rows, encoding="utf-16")
    mapping = write(tmp_path, '[options]\nencoding = "utf-16"\n', "m.toml")
    assert ingest(ws, "transactions", path, mapping=mapping).rows_loaded == 40_000
    assert fetch_rows(ws, "SELECT min(customer_id), count(DISTINCT customer_id) FROM transactions") == [("Zoë0", 40_000)]
