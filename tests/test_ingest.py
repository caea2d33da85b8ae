"""Ingest: validation, quarantine, anonymous lines, returns, idempotency and atomicity."""

from __future__ import annotations

import gzip
import json
import lzma
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.errors import ConfigError, DataValidationError, IngestError, SchemaError
from targetwise.io.ingest import ingest, ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.pipeline.demo import bundled_online_retail

HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"


def write(tmp_path: Path, text: str, name: str = "lines.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(ws: Workspace) -> dict[str, int]:
    with ws.connect(read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("transactions", "anonymous_transactions", "quarantine", "loads", "products", "customers")
        }


def quarantine(ws: Workspace) -> pd.DataFrame:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT * FROM quarantine ORDER BY source_row").df()


# -- real data: exact counts --------------------------------------------------------------


def test_online_retail_sample_exact_counts(workspace: Workspace) -> None:
    s = ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    # Independent pandas computation on the sample: 7,517 rows, 104 exact duplicates,
    # no anonymous lines (the sample holds 100 chosen customers), 498 invoices.
    raw = pd.read_csv(ONLINE_RETAIL_SAMPLE, dtype=str, keep_default_na=False)
    assert s.rows_read == len(raw) == 7517
    assert s.reasons == {"duplicate_line": 104}
    assert s.rows_loaded == 7517 - 104
    assert s.rows_anonymous == 0
    with workspace.connect(read_only=True) as con:
        orders, customers, cancels = con.execute(
            "SELECT count(DISTINCT order_id), count(DISTINCT customer_id), "
            "count(*) FILTER (starts_with(order_id, 'C')) FROM transactions"
        ).fetchone()
    assert orders == raw["InvoiceNo"].nunique() == 498
    assert customers == 100
    unique = raw.drop_duplicates(subset=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"])
    assert len(unique) == s.rows_loaded
    assert cancels == unique["InvoiceNo"].str.startswith("C").sum() == 218
    assert s.derived == {"products": raw["StockCode"].nunique(), "customers": 100}


def test_derived_catalogue_takes_the_most_frequent_value_ties_alphabetical(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price,Description\n"
        + "A,1,2020-01-01,P1,1,2,blue mug\nA,2,2020-01-02,P1,1,2,BLUE MUG\nA,3,2020-01-03,P1,1,2,blue mug\n"
        + "A,4,2020-01-04,P2,1,2,zebra\nA,5,2020-01-05,P2,1,2,apple\n"  # tie: alphabetically first wins
        + "A,6,2020-01-06,P3,1,2,\n",  # no name at all: product kept, name null
    )
    mapping = write(tmp_path, '[derive.products]\nproduct_id = "product_id"\nname = "Description"\n', "m.toml")
    assert ingest(workspace, "transactions", path, mapping=mapping).derived == {"products": 3}
    with workspace.connect(read_only=True) as con:
        names = dict(con.execute("SELECT product_id, name FROM products").fetchall())
    assert names == {"P1": "blue mug", "P2": "apple", "P3": None}


def test_derived_product_names_match_an_independent_count_on_the_sample(workspace: Workspace) -> None:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    raw = pd.read_csv(ONLINE_RETAIL_SAMPLE, dtype=str, keep_default_na=False)
    raw["Description"] = raw["Description"].str.strip()
    named = raw[raw["Description"] != ""]
    counts_ = named.groupby(["StockCode", "Description"]).size().reset_index(name="n")
    expected = counts_.sort_values(["StockCode", "n", "Description"], ascending=[True, False, True]).drop_duplicates("StockCode")
    with workspace.connect(read_only=True) as con:
        got = dict(con.execute("SELECT product_id, name FROM products WHERE name IS NOT NULL").fetchall())
    assert got == dict(zip(expected["StockCode"], expected["Description"], strict=True))


@pytest.mark.slow
def test_online_retail_full_exact_counts(workspace: Workspace) -> None:
    """The bundled 541,909-line file; expected numbers from an independent pandas pass
    (see README of ../shared/datasets/online_retail for the UCI totals)."""
    csv_path, mapping = bundled_online_retail()
    s = ingest(workspace, "transactions", csv_path, mapping=mapping)
    assert s.rows_read == 541_909
    assert s.reasons == {"non_positive_price": 2_517, "duplicate_line": 5_265}
    assert s.rows_loaded == 401_562
    assert s.rows_anonymous == 132_565
    assert s.rows_read == s.rows_loaded + s.rows_anonymous + s.rows_quarantined  # nothing lost
    with workspace.connect(read_only=True) as con:
        orders, customers, cancels, returns = con.execute(
            "SELECT count(DISTINCT order_id), count(DISTINCT customer_id), "
            "count(*) FILTER (starts_with(order_id, 'C')), count(*) FILTER (is_return) FROM transactions"
        ).fetchone()
        anon_orders = con.execute("SELECT count(DISTINCT order_id) FROM anonymous_transactions").fetchone()[0]
        # the 40 rejected lines with a customer id keep it in quarantine (erasure can find them)
        q_customers = con.execute("SELECT count(customer_id) FROM quarantine WHERE reason_code='non_positive_price'").fetchone()[0]
    assert (orders, customers, cancels, returns, anon_orders) == (22_186, 4_371, 8_872, 8_872, 1_610)
    assert q_customers == 40


# -- validation cases ------------------------------------------------------------------------


def test_missing_required_column_is_fatal_and_names_it(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_id,ordered_at,product_id,quantity\nA,1,2020-01-01,P,1\n")
    with pytest.raises(SchemaError, match=r"lacks required column\(s\) unit_price.*Fix: add them, or map"):
        ingest(workspace, "transactions", path)
    assert counts(workspace)["loads"] == 0


def test_unknown_column_is_fatal_unless_ignored(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.strip() + ",colour\nA,1,2020-01-01,P,1,2.5,red\n")
    with pytest.raises(SchemaError, match=r"column 'colour'.*not a column of table 'transactions'.*ignore"):
        ingest(workspace, "transactions", path)
    mapping = write(tmp_path, '[options]\nignore = ["colour"]\n', "m.toml")
    assert ingest(workspace, "transactions", path, mapping=mapping).rows_loaded == 1


def test_a_source_row_column_is_reserved_in_csv_and_parquet(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.strip() + ",source_row\nA,1,2020-01-01,P1,1,2.5,7\n")
    with pytest.raises(SchemaError, match=r"column named 'source_row', which targetwise reserves") as info:
        ingest(workspace, "transactions", path)
    assert info.value.location.column == "source_row"
    table = pa.table({"customer_id": ["A"], "source_row": [7]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(SchemaError, match=r"column named 'source_row', which targetwise reserves"):
        ingest(workspace, "transactions", tmp_path / "t.parquet")
    assert counts(workspace)["loads"] == 0


def test_duplicate_header_is_fatal(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_id,order_id\nA,1,2\n")
    with pytest.raises(SchemaError, match=r"column 'order_id' appears twice.*row 0"):
        ingest(workspace, "transactions", path)


def test_row_level_problems_are_quarantined_with_row_column_value(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "A,1,2020-01-01 10:00,P1,2,3.5\n"  # ok (row 1)
        + "A,2,2020-01-02 10:00,P1,2.5,3.5\n"  # fractional quantity (row 2)
        + "A,3,2020-01-03 10:00,P1,1,abc\n"  # bad price (row 3)
        + "A,4,not a date,P1,1,1.0\n"  # unparsable date (row 4)
        + "A,5,2999-01-01 00:00,P1,1,1.0\n"  # future (row 5)
        + "A,6,2020-01-06 10:00,P1,1,0\n"  # zero price (row 6)
        + "A,7,2020-01-07 10:00,P1,1,-4\n"  # negative price (row 7)
        + "A,8,2020-01-08 10:00,P1,0,1.0\n"  # zero quantity (row 8)
        + "A,9,2020-01-09 10:00,,1,1.0\n"  # missing product (row 9)
        + "A,10,2020-01-10 10:00,P1,1,nan\n"  # NaN price (row 10)
        + "A,11,2020-01-11 10:00,P1,1,1e400\n"  # overflow (row 11)
        + "A,12,2020-01-12 10:00,P1,2,3.5\n"
        + "A,13,2020-01-13 10:00,P1,2,3.5\n"
        + "A,14,2020-01-14 10:00,P1,2,3.5\n"
        + "".join(f"B,{i},2020-02-01 10:00,P2,1,1.0\n" for i in range(100, 108)),
    )
    s = ingest(workspace, "transactions", path)
    q = quarantine(workspace).set_index("source_row")
    assert s.rows_loaded == 12 and s.rows_quarantined == 10
    expected = {
        2: ("invalid_integer", "quantity", "2.5"),
        3: ("invalid_number", "unit_price", "abc"),
        4: ("unparsable_timestamp", "ordered_at", "not a date"),
        5: ("future_timestamp", "ordered_at", "2999-01-01 00:00"),
        6: ("non_positive_price", "unit_price", "0"),
        7: ("non_positive_price", "unit_price", "-4"),
        8: ("zero_quantity", "quantity", "0"),
        9: ("missing_value", "product_id", None),
        10: ("invalid_number", "unit_price", "nan"),
        11: ("invalid_number", "unit_price", "1e400"),
    }
    for row, (code, column, value) in expected.items():
        got_value = None if pd.isna(q.loc[row, "value"]) else q.loc[row, "value"]
        assert (q.loc[row, "reason_code"], q.loc[row, "column_name"], got_value) == (code, column, value), row
    assert q.loc[3, "source_file"] == str(path)
    assert json.loads(q.loc[3, "raw"])["unit_price"] == "abc"  # the whole raw row is kept
    assert "decimal separator" in q.loc[3, "reason"]


def test_anonymous_lines_are_kept_apart_and_counted(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\n,2,2020-01-01,P1,1,2\n  ,3,2020-01-02,P2,1,2\n")
    s = ingest(workspace, "transactions", path)
    assert (s.rows_loaded, s.rows_anonymous, s.rows_quarantined) == (1, 2, 0)
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT list(order_id ORDER BY order_id) FROM anonymous_transactions").fetchone()[0] == ["2", "3"]
        assert con.execute("SELECT count(*) FROM transactions WHERE customer_id IS NULL").fetchone()[0] == 0


def test_returns_are_kept_and_linked_to_the_purchase(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "A,100,2020-01-01 10:00,P1,3,2\n"
        + "A,101,2020-02-01 10:00,P1,1,2\n"
        + "A,C102,2020-02-05 10:00,P1,-1,2\n"  # reverses the latest earlier purchase: 101
        + "B,C103,2020-02-05 10:00,P9,-1,2\n"  # nothing to link
        + "A,C104,2020-02-06 10:00,P1,5,2\n",  # 'C' with positive quantity: quarantined
    )
    s = ingest(workspace, "transactions", path)
    assert (s.return_lines, s.returns_linked) == (2, 1)
    assert s.reasons == {"cancellation_positive_quantity": 1}
    with workspace.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT order_id, is_return, linked_order_id, line_amount FROM transactions ORDER BY source_row"
        ).fetchall()
    assert rows == [("100", False, None, 6.0), ("101", False, None, 2.0), ("C102", True, "101", -2.0), ("C103", True, None, -2.0)]


def test_a_return_links_to_a_purchase_loaded_earlier(workspace: Workspace, tmp_path: Path) -> None:
    first = write(tmp_path, HEADER + "A,100,2020-01-01 10:00,P1,3,2\nA,101,2020-01-03 10:00,P2,1,4\n", "jan.csv")
    ingest(workspace, "transactions", first)
    later = write(
        tmp_path,
        HEADER
        + "A,C200,2020-02-01 10:00,P1,-1,2\n"  # reverses stored order 100
        + "A,102,2020-02-02 10:00,P2,1,4\n"
        + "A,C201,2020-02-03 10:00,P2,-1,4\n"  # latest earlier P2 purchase: 102 from this file, not 101
        + "A,C202,2019-12-01 10:00,P1,-1,2\n",  # before any purchase: not linked
        "feb.csv",
    )
    s = ingest(workspace, "transactions", later)
    assert (s.return_lines, s.returns_linked) == (3, 2)
    with workspace.connect(read_only=True) as con:
        links = dict(con.execute("SELECT order_id, linked_order_id FROM transactions WHERE is_return").fetchall())
    assert links == {"C200": "100", "C201": "102", "C202": None}


def test_an_id_of_blanks_or_tabs_is_missing(workspace: Workspace, tmp_path: Path) -> None:
    good = "".join(f"A,{i},2020-01-01,P1,1,2\n" for i in range(10, 20))
    path = write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\nA,\t,2020-01-01,P1,1,2\nA,2,2020-01-01,  ,1,2\n" + good)
    s = ingest(workspace, "transactions", path)
    assert (s.rows_loaded, s.reasons) == (11, {"missing_value": 2})
    q = quarantine(workspace).set_index("source_row")
    assert (q.loc[2, "column_name"], q.loc[3, "column_name"]) == ("order_id", "product_id")


def test_ids_lose_padding_and_nothing_else(workspace: Workspace) -> None:
    """Spaces and tabs around an id go; a leading control character, '!' or a non-ASCII letter stays."""
    given = ["\tA1", "A2\t", " A3 ", "\x01A4", "A5\x01", "\u00e9A6", "!A7", " \t A8\t "]
    frame = pd.DataFrame({
        "customer_id": given, "order_id": [str(i) for i in range(len(given))], "ordered_at": ["2020-01-01"] * len(given),
        "product_id": ["P1"] * len(given), "quantity": ["1"] * len(given), "unit_price": ["2"] * len(given),
    })
    ingest_arrow(workspace, "transactions", source_from_frame(frame, name="ids"))
    with workspace.connect(read_only=True) as con:
        stored = [r[0] for r in con.execute("SELECT customer_id FROM transactions ORDER BY source_row").fetchall()]
    assert stored == ["A1", "A2", "A3", "\x01A4", "A5\x01", "\u00e9A6", "!A7", "A8"]


def test_exact_duplicates_keep_the_first_and_point_to_it(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\nA,1,2020-01-01,P1,1,2\nA,1,2020-01-01,P1,2,2\n")
    s = ingest(workspace, "transactions", path)
    assert (s.rows_loaded, s.reasons) == (2, {"duplicate_line": 1})
    assert quarantine(workspace).loc[0, "value"] == "same as row 1"


@pytest.mark.parametrize("batch", [50_000_000, 3])  # 3: the hashes are sorted in four parts by value
def test_duplicates_are_found_however_the_hashes_are_split(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    from targetwise.io import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "SORT_BATCH_ROWS", batch)
    lines = [f"A,{i},2020-01-0{1 + i % 5},P{i % 3},1,2" for i in range(1, 9)]
    lines[3] = lines[0]  # row 4 = row 1
    lines[6] = lines[1]  # row 7 = row 2
    lines.append(lines[1])  # row 9 = row 2
    lines.append("A,1,2020-01-03,P1,1,2")  # row 10: the values of row 1 (A,1,2020-01-02,P1,1,2) but for the date
    s = ingest(workspace, "transactions", write(tmp_path, HEADER + "\n".join(lines) + "\n"))
    assert (s.rows_loaded, s.reasons) == (7, {"duplicate_line": 3})
    q = quarantine(workspace).set_index("source_row")["value"].to_dict()
    assert q == {4: "same as row 1", 7: "same as row 2", 9: "same as row 2"}


def test_non_product_codes_are_flagged_not_dropped(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-01-01,POST,1,18\nA,1,2020-01-01,BANK CHARGES,1,15\nA,1,2020-01-01,P1,1,2\n")
    s = ingest(workspace, "transactions", path)
    assert (s.rows_loaded, s.non_product_lines) == (3, 2)
    with workspace.connect(read_only=True) as con:
        flagged = con.execute("SELECT list(product_id ORDER BY product_id) FROM transactions WHERE is_non_product").fetchone()[0]
    assert flagged == ["BANK CHARGES", "POST"]


def test_mostly_invalid_file_is_fatal_and_points_at_the_first_bad_row(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\nA,2,01/02/2020,P1,1,2\nA,3,01/03/2020,P1,1,2\n")
    with pytest.raises(
        DataValidationError,
        match=r"2 of 3 rows.*unparsable_timestamp.*nothing was loaded \(file .*lines.csv, row 2, column 'ordered_at', value '01/02/2020'\).*date_format",
    ):
        ingest(workspace, "transactions", path)
    assert counts(workspace) == {k: 0 for k in counts(workspace)}
    mapping = write(tmp_path, '[options]\ndate_format = "%d/%m/%Y"\n', "m.toml")
    s = ingest(workspace, "transactions", path, mapping=mapping)
    assert s.rows_loaded == 2 and s.reasons == {"unparsable_timestamp": 1}  # ISO row no longer matches the format


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (HEADER.encode(), "has a header but no data rows"),
        (b"\x00\x01\x02garbage\xff\xfe", "looks binary"),
        ("customer_id,order_id,ordered_at,product_id,quantity,unit_price\nZoë,1,2020-01-01,P,1,2\n".encode("latin-1"), r"not valid utf-8: byte 0xeb at line 2.*encoding"),
        (b"\n\nA,1\n", "has no header line"),
        (HEADER.encode() + b"A,1,2020-01-01,P1,1,2\nA,2,2020-01-01\n", "cannot be parsed as CSV"),
    ],
)
def test_unreadable_files_give_one_clear_error(workspace: Workspace, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        ingest(workspace, "transactions", path)
    assert counts(workspace)["loads"] == 0


def test_latin1_file_loads_when_encoding_is_set(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "Zoë,1,2020-01-01,P,1,2\n").encode("latin-1"))
    mapping = write(tmp_path, '[options]\nencoding = "latin-1"\n', "m.toml")
    ingest(workspace, "transactions", path, mapping=mapping)
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id FROM transactions").fetchone()[0] == "Zoë"


def test_bom_semicolons_and_whitespace_ids(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffcustomer_id;order_id;ordered_at;product_id;quantity;unit_price\n 007 ;1;2020-01-01;P;1;2\n".encode())
    ingest(workspace, "transactions", path)
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id FROM transactions").fetchone()[0] == "007"  # zero padding kept


def test_timezones_naive_in_business_zone_and_offsets_honoured(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-07-01 10:00:00,P,1,2\nA,2,2020-07-01T10:00:00+02:00,P,1,2\nA,3,2020-01-15 10:00:00,P,1,2\n")
    mapping = write(tmp_path, '[options]\ntimezone = "Europe/London"\n', "m.toml")
    ingest(workspace, "transactions", path, mapping=mapping)
    with workspace.connect(read_only=True) as con:
        got = [str(r[0]) for r in con.execute("SELECT ordered_at FROM transactions ORDER BY order_id").fetchall()]
    assert got == ["2020-07-01 09:00:00", "2020-07-01 08:00:00", "2020-01-15 10:00:00"]  # BST = UTC+1, GMT = UTC


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2020-07-01", "2020-06-30 23:00:00"),  # naive: business time (BST = UTC+1)
        ("2020-07-01 10:00", "2020-07-01 09:00:00"),
        ("2020-07-01T10:00", "2020-07-01 09:00:00"),
        ("2020-07-01 10:00:00", "2020-07-01 09:00:00"),
        ("2020-07-01T10:00:00", "2020-07-01 09:00:00"),
        ("2020-07-01 10:00:00.5", "2020-07-01 09:00:00.500000"),
        ("2020-07-01 10:00+05", "2020-07-01 05:00:00"),  # 19 characters like HH:MM:SS, but an offset
        ("2020-07-01 10:00-05", "2020-07-01 15:00:00"),
        ("2020-07-01T10:00:00Z", "2020-07-01 10:00:00"),
        ("2020-07-01 10:00:00+02:00", "2020-07-01 08:00:00"),
        (" 2020-07-01 10:00:00 ", "2020-07-01 09:00:00"),
    ],
)
def test_every_timestamp_shape_lands_on_the_same_instant(workspace: Workspace, tmp_path: Path, text: str, utc: str) -> None:
    """The fast path for offset-free shapes and the general one agree; an offset is never read as business time."""
    path = write(tmp_path, HEADER + f'A,1,"{text}",P,1,2\n')
    mapping = write(tmp_path, '[options]\ntimezone = "Europe/London"\n', "m.toml")
    s = ingest(workspace, "transactions", path, mapping=mapping)
    assert (s.rows_loaded, s.reasons) == (1, {})
    with workspace.connect(read_only=True) as con:
        assert str(con.execute("SELECT ordered_at FROM transactions").fetchone()[0]) == utc


# -- idempotency and atomicity ----------------------------------------------------------------------


def test_same_file_twice_adds_nothing(workspace: Workspace) -> None:
    first = ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    before = counts(workspace)
    second = ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    assert second.already_loaded and second.load_id == first.load_id
    assert counts(workspace) == before


def test_overlapping_file_adds_only_new_lines(workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, "transactions", write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\nA,2,2020-01-02,P1,1,2\n", "a.csv"))
    s = ingest(workspace, "transactions", write(tmp_path, HEADER + "A,2,2020-01-02,P1,1,2\nA,3,2020-01-03,P1,1,2\n", "b.csv"))
    assert (s.rows_loaded, s.reasons) == (1, {"duplicate_line": 1})
    assert quarantine(workspace).loc[0, "value"] == "already stored"
    assert counts(workspace)["transactions"] == 3


def test_stored_duplicates_are_found_at_the_edges_of_the_new_files_time_range(workspace: Workspace, tmp_path: Path) -> None:
    # Only stored lines inside the new file's [first, last] time stamps are compared; the edges are inclusive.
    stored = HEADER + "A,1,2020-01-01 10:00:00.123456,P1,1,2\n,9,2020-01-05,P2,1,3\nA,5,2020-01-03,P1,1,2\nA,7,2020-03-01,P3,1,2\n"
    ingest(workspace, "transactions", write(tmp_path, stored, "a.csv"))
    new = HEADER + "A,1,2020-01-01 10:00:00.123456,P1,1,2\nA,5,2020-01-03 00:00:01,P1,1,2\n,9,2020-01-05,P2,1,3\n"
    s = ingest(workspace, "transactions", write(tmp_path, new, "b.csv"))
    assert (s.rows_loaded, s.rows_anonymous, s.reasons) == (1, 0, {"duplicate_line": 2})
    q = quarantine(workspace)
    assert q["source_row"].tolist() == [1, 3] and set(q["value"]) == {"already stored"}


def test_failure_mid_ingest_leaves_workspace_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, "transactions", write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\n", "a.csv"))
    before = counts(workspace)

    def boom(con: duckdb.DuckDBPyConnection) -> None:
        # rows are already inserted in this transaction when the failure strikes
        assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 2  # 1 old + 1 new; price 0 quarantined
        raise OSError("disk vanished")

    frame = pd.DataFrame({"customer_id": ["B", "C"], "order_id": ["9", "10"], "ordered_at": ["2020-02-01"] * 2,
                          "product_id": ["P1", "P2"], "quantity": ["1", "1"], "unit_price": ["2", "0"]})
    with pytest.raises(OSError, match="disk vanished"):
        ingest_arrow(workspace, "transactions", source_from_frame(frame, name="events"), _after_insert=boom)
    assert counts(workspace) == before
    # and the same data loads afterwards (the failed attempt left no load record behind)
    assert ingest_arrow(workspace, "transactions", source_from_frame(frame, name="events")).rows_loaded == 1


# -- other sources and tables ------------------------------------------------------------------------


def test_gzip_xz_and_parquet_sources_load_the_same(workspace: Workspace, tmp_path: Path) -> None:
    text = HEADER + "A,1,2020-01-01,P1,1,2.5\nB,2,2020-01-02,P2,3,1.25\n"
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "t2.csv.xz").write_bytes(lzma.compress(text.replace("A,1", "A,5").encode()))
    table = pa.table({"customer_id": ["C"], "order_id": ["7"], "ordered_at": pa.array([pd.Timestamp("2020-01-03")]),
                      "product_id": ["P1"], "quantity": pa.array([4], pa.int64()), "unit_price": [1.5]})
    pq.write_table(table, tmp_path / "t.parquet")
    assert ingest(workspace, "transactions", tmp_path / "t.csv.gz").rows_loaded == 2
    assert ingest(workspace, "transactions", tmp_path / "t2.csv.xz").rows_loaded == 1  # B,2 is a duplicate
    assert ingest(workspace, "transactions", tmp_path / "t.parquet").rows_loaded == 1
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT sum(line_amount) FROM transactions").fetchone()[0] == pytest.approx(2.5 + 3.75 + 2.5 + 6.0)


def test_parquet_rows_keep_their_file_row_numbers_across_row_groups(workspace: Workspace, tmp_path: Path) -> None:
    # 30 rows in row groups of 7 (DuckDB scans them in parallel); typed, time-zone-aware timestamps.
    n = 30
    stamps = pd.date_range("2020-01-01 10:00", periods=n, freq="h", tz="Europe/Berlin")
    quantity = [1] * n
    quantity[9] = 0  # file row 10: zero quantity
    price = [2.0] * n
    price[23] = -1.0  # file row 24: negative price
    table = pa.table({
        "customer_id": [f"C{i % 4}" for i in range(n)], "order_id": [str(i) for i in range(n)],
        "ordered_at": pa.array(stamps), "product_id": ["P1"] * n,
        "quantity": pa.array(quantity, pa.int64()), "unit_price": price,
    })  # fmt: skip
    pq.write_table(table, tmp_path / "lines.parquet", row_group_size=7)
    s = ingest(workspace, "transactions", tmp_path / "lines.parquet")
    assert (s.rows_read, s.rows_loaded, s.reasons) == (30, 28, {"zero_quantity": 1, "non_positive_price": 1})
    q = quarantine(workspace)
    assert q[["source_row", "reason_code", "value"]].values.tolist() == [[10, "zero_quantity", "0"], [24, "non_positive_price", "-1.0"]]
    assert json.loads(q.loc[0, "raw"])["order_id"] == "9"  # the raw row is the file's 10th
    with workspace.connect(read_only=True) as con:
        rows = con.execute("SELECT source_row, order_id, ordered_at FROM transactions ORDER BY source_row").fetchall()
    assert [r[0] for r in rows] == [r for r in range(1, 31) if r not in (10, 24)]
    assert all(int(order) == row - 1 for row, order, _ in rows)
    # 10:00 in Berlin (winter) is 09:00 UTC, stored naive
    assert rows[0][2] == pd.Timestamp("2020-01-01 09:00").to_pydatetime()


def test_corrupt_parquet_pages_are_a_clear_error_and_load_nothing(workspace: Workspace, tmp_path: Path) -> None:
    n = 5000
    table = pa.table({
        "customer_id": [f"C{i % 50}" for i in range(n)], "order_id": [str(i // 3) for i in range(n)],
        "ordered_at": pa.array(pd.date_range("2020-01-01", periods=n, freq="min")), "product_id": [f"P{i % 70}" for i in range(n)],
        "quantity": pa.array([1] * n, pa.int64()), "unit_price": [2.5] * n,
    })  # fmt: skip
    path = tmp_path / "broken.parquet"
    pq.write_table(table, path, compression="snappy")
    data = bytearray(path.read_bytes())
    for i in range(200, len(data) - 2000):  # the data pages; the footer stays readable
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    before = counts(workspace)
    with pytest.raises(DataValidationError, match=r"broken\.parquet is not a readable Parquet file.*nothing was loaded") as info:
        ingest(workspace, "transactions", path)
    assert "write the file again" in info.value.fix
    assert counts(workspace) == before


def test_sql_query_source(workspace: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE sales (cust TEXT, inv TEXT, ts TEXT, sku TEXT, qty INTEGER, price REAL)")
        con.executemany("INSERT INTO sales VALUES (?,?,?,?,?,?)", [("A", "1", "2020-01-01 10:00:00", "P", 2, 1.5), ("B", "2", "2020-01-02 11:00:00", "P", 1, 0.0)])
    mapping = write(tmp_path, '[columns]\ncustomer_id="cust"\norder_id="inv"\nordered_at="ts"\nproduct_id="sku"\nquantity="qty"\nunit_price="price"\n', "m.toml")
    s = ingest(workspace, "transactions", f"sqlite:///{db}", query="SELECT * FROM sales", mapping=mapping)
    assert (s.rows_loaded, s.reasons) == (1, {"non_positive_price": 1})
    with pytest.raises(IngestError, match=r"query against sqlite:///.*failed"):
        ingest(workspace, "transactions", f"sqlite:///{db}", query="SELECT * FROM nope", mapping=mapping)


def test_customers_with_personal_data_are_split_off(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,signup_at,country,email,phone\nA,2020-01-01,UK,a@example.com,+441234\nB,2020-01-02,FR,,\nA,2020-01-03,UK,a2@example.com,\n", "c.csv")
    s = ingest(workspace, "customers", path)
    assert (s.rows_loaded, s.pii_rows, s.reasons) == (2, 2, {"duplicate_key": 1})
    with workspace.connect(read_only=True) as con:
        cols = [r[0] for r in con.execute("DESCRIBE customers").fetchall()]
        pii = con.execute("SELECT customer_id, email FROM customer_pii ORDER BY 1").fetchall()
    assert "email" not in cols and "phone" not in cols
    assert pii == [("A", "a2@example.com"), ("B", None)]  # the last occurrence of a key wins


def test_consent_values_are_checked(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,purpose,status,recorded_at\nA,email,granted,2020-01-01\nA,telepathy,granted,2020-01-01\nB,ads,maybe,2020-01-01\n"
        "B,sms,revoked,2020-02-01\nC,profiling,denied,2020-02-01\n", "c.csv")
    s = ingest(workspace, "consent", path)
    assert (s.rows_loaded, s.reasons) == (3, {"invalid_value": 2})


def test_mapping_errors_are_config_errors(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "A,1,2020-01-01,P1,1,2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ingest(workspace, "transactions", path, mapping=write(tmp_path, "[columns\n", "bad.toml"))
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['colour'\]"):
        ingest(workspace, "transactions", path, mapping=write(tmp_path, '[columns]\ncolour="x"\n', "bad2.toml"))
    with pytest.raises(SchemaError, match=r"maps order_id to column 'Invoice', which .* lacks"):
        ingest(workspace, "transactions", path, mapping=write(tmp_path, '[columns]\norder_id="Invoice"\n', "bad3.toml"))
    with pytest.raises(ConfigError, match="unknown table 'orders'"):
        ingest(workspace, "orders", path)


def test_example_mapping_is_the_bundled_one() -> None:
    assert ONLINE_RETAIL_MAPPING.read_text() == bundled_online_retail()[1].read_text()
