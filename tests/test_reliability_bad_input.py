"""Malformed input never crashes an ingest, never loads half a file, never drops a row silently.

Every kind in :data:`KINDS` is a file a retailer could plausibly hand us. Each one
must end either in a :class:`~targetwise.errors.TargetwiseError` whose one-line
message names the file (and the workspace is unchanged), or in a load where
every row read is accounted for: ``rows_read == loaded + anonymous + quarantined``
and the table counts grew by exactly those numbers. Kinds that load state the
exact quarantine reasons they must produce. Hypothesis adds random bytes and
random rows with planted invalid cells whose fate is known in advance.
(The basic validation cases live in ``test_ingest.py``; this file extends them.)
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import lzma
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import DataValidationError, IngestError, SchemaError, TargetwiseError
from targetwise.io.ingest import IngestSummary, ingest
from targetwise.io.mapping import DEFAULT_NULL_VALUES
from targetwise.io.workspace import Workspace

HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
GOOD = "A,1,2020-01-01 10:00,P1,2,3.5\nB,2,2020-01-02 11:00,P2,1,1.25\nC,3,2020-01-03,P3,4,0.5\n"
OTHER = GOOD.replace("A,", "E,").replace("B,", "F,").replace("C,", "G,")  # the same lines, other customers
TABLES = ("transactions", "anonymous_transactions", "quarantine", "loads")


def _text(text: str, *, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / "input.csv"
        path.write_bytes(text.encode(encoding))
        return path

    return build


def _bytes(content: bytes, name: str = "input.csv") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return build


def _folder(folder: Path) -> Path:
    path = folder / "input.csv"
    path.mkdir()
    return path


def _parquet_types(folder: Path) -> Path:
    """A real Parquet file whose values are all of the wrong kind."""
    path = folder / "input.parquet"
    pq.write_table(
        pa.table({"customer_id": ["A", "B"], "order_id": [1, 2], "ordered_at": ["soon", "later"],
                  "product_id": ["P", "Q"], "quantity": [1.5, 2.5], "unit_price": [float("nan"), 1.0]}),
        path,
    )
    return path


@dataclass(frozen=True)
class Kind:
    """A malformed input and its required outcome: an error (type, message) or these quarantine reasons."""

    build: Callable[[Path], Path]
    error: type[TargetwiseError] | None = None
    match: str = ""
    reasons: dict[str, int] = field(default_factory=dict)
    loaded: int | None = None
    anonymous: int = 0


_BIG = "".join(f"Z{i},{i},2020-01-01,P,1,2\n" for i in range(3000))  # > the 64 KiB header probe

KINDS: dict[str, Kind] = {
    # delimiters
    "semicolon_delimiter": Kind(_text((HEADER + GOOD).replace(",", ";")), loaded=3),
    "tab_delimiter": Kind(_text((HEADER + GOOD).replace(",", "\t")), loaded=3),
    "pipe_delimiter": Kind(_text((HEADER + GOOD).replace(",", "|")), loaded=3),
    "header_comma_rows_semicolon": Kind(_text(HEADER + GOOD.replace(",", ";")), DataValidationError,
                                        r"cannot be parsed as CSV: Expected 6 columns, got 1.*delimiter"),
    # encodings
    "latin1_bytes": Kind(_text(HEADER + "Zoë,1,2020-01-01,P,1,2\n", encoding="latin-1"), DataValidationError,
                         r"not valid utf-8: byte 0xeb at line 2.*encoding"),
    "cp1252_bytes": Kind(_text(HEADER + "A,1,2020-01-01,P€,1,2\n", encoding="cp1252"), DataValidationError,
                         r"not valid utf-8: byte 0x80 at line 2"),
    "utf16_with_bom": Kind(_text(HEADER + GOOD, encoding="utf-16"), DataValidationError, r"looks binary \(NUL bytes\)"),
    "utf16le_without_bom": Kind(_text(HEADER + GOOD, encoding="utf-16-le"), DataValidationError, "looks binary"),
    "invalid_utf8_after_64k": Kind(_bytes((HEADER + _BIG).encode() + "Zoë,1,2020-01-01,P,1,2\n".encode("latin-1")),
                                   DataValidationError, r"cannot be parsed as CSV: .*invalid UTF8"),
    "utf8_bom": Kind(_text("\ufeff" + HEADER + GOOD), loaded=3),
    # dates
    "mixed_date_formats": Kind(_text(HEADER + GOOD + "D,4,01/02/2020,P,1,2\nD,5,March 3 2020,P,1,2\n"
                                     "D,6,2020-01-04T08:00:00,P,1,2\n"),
                               reasons={"unparsable_timestamp": 2}, loaded=4),
    "impossible_dates": Kind(_text(HEADER + GOOD + "D,4,2021-02-29,P,1,2\nD,5,2020-13-01,P,1,2\n"),
                             reasons={"unparsable_timestamp": 2}, loaded=3),
    "future_date": Kind(_text(HEADER + GOOD + "D,4,2999-01-01,P,1,2\n"), reasons={"future_timestamp": 1}, loaded=3),
    "year_9999": Kind(_text(HEADER + GOOD + "D,4,9999-12-31 23:59:59,P,1,2\n"), reasons={"future_timestamp": 1}, loaded=3),
    "date_before_1900": Kind(_text(HEADER + GOOD + "D,4,1850-06-01,P,1,2\n"), loaded=4),
    "all_dates_invalid": Kind(_text(HEADER + "A,1,x,P,1,2\n" * 10), DataValidationError,
                              r"10 of 10 rows .* are invalid .*unparsable_timestamp.*nothing was loaded"),
    # numbers
    "huge_numbers": Kind(_text(HEADER + GOOD + "D,4,2020-01-01,P,99999999999999999999999,2\n"
                               "D,5,2020-01-01,P,1,1e400\n"),
                         reasons={"invalid_integer": 1, "invalid_number": 1}, loaded=3),
    "amount_overflows": Kind(_text(HEADER + GOOD + "D,4,2020-01-01,P,1000000,1e305\n"),
                             reasons={"amount_out_of_range": 1}, loaded=3),
    "negative_numbers": Kind(_text(HEADER + GOOD + "D,4,2020-01-01,P,-5,2\nD,5,2020-01-01,P,1,-2\n"),
                             reasons={"non_positive_price": 1}, loaded=4),
    "nan_inf_text": Kind(_text(HEADER + GOOD + "D,4,2020-01-01,P,1,NaN\nD,5,2020-01-01,P,1,inf\n"
                               "D,6,2020-01-01,P,1,-Infinity\nD,7,2020-01-01,P,nan,2\n" + OTHER),
                         reasons={"invalid_number": 3, "invalid_integer": 1}, loaded=6),
    "thousands_and_currency": Kind(_text(HEADER + GOOD + 'D,4,2020-01-01,P,"1,000",2\nD,5,2020-01-01,P,1,"£3.50"\n'
                                         "D,6,2020-01-01,P,1,$4\nD,7,2020-01-01,P,1,1_000\n" + OTHER),
                                   reasons={"invalid_integer": 1, "invalid_number": 3}, loaded=6),
    # ids
    "ids_with_whitespace": Kind(_text(HEADER + "  A ,1,2020-01-01,P1,1,2\n\tA\t,2,2020-01-01,P2,1,2\n   ,3,2020-01-01,P3,1,2\n"),
                                loaded=2, anonymous=1),
    "unicode_emoji_ids": Kind(_text(HEADER + "😀👍,1,2020-01-01,P🎁,1,2\nZoë,2,2020-01-01,日本,1,2\n"), loaded=2),
    "very_long_strings": Kind(_text(HEADER + "X" * 100_000 + ",1,2020-01-01," + "P" * 50_000 + ",1,2\n" + GOOD), loaded=3,
                              reasons={"id_too_long": 1}),  # ids over max_id_length (256) are quarantined
    "control_characters": Kind(_text(HEADER + GOOD + "D\x01,4,2020-01-01,P\x1b[31m,1,2\n"), loaded=4),
    # headers and columns
    "missing_header": Kind(_text(GOOD), SchemaError, r"has column 'A', which is not a column of table"),
    "duplicate_headers": Kind(_text(HEADER.strip() + ",quantity\nA,1,2020-01-01,P,1,2,3\n"), SchemaError,
                              r"column 'quantity' appears twice"),
    "extra_column": Kind(_text(HEADER.strip() + ",colour\nA,1,2020-01-01,P,1,2,red\n"), SchemaError,
                         r"has column 'colour'.*ignore"),
    "missing_required_columns": Kind(_text("customer_id,order_id\nA,1\n"), SchemaError,
                                     r"lacks required column\(s\) ordered_at, product_id, quantity, unit_price"),
    "mixed_case_headers": Kind(_text(HEADER.upper() + GOOD), SchemaError, r"has column 'CUSTOMER_ID'"),
    "unnamed_header_column": Kind(_text("sep=,\n" + HEADER + GOOD), SchemaError, r"header column 2 has no name"),
    "blank_lines_only": Kind(_text("\n\n\n"), SchemaError, "has no header line"),
    "whitespace_only": Kind(_text("   \n  \n"), SchemaError, "has no header line"),
    # rows
    "truncated_last_line": Kind(_text(HEADER + GOOD + "D,4,2020-01-0"), DataValidationError,
                                r"Expected 6 columns, got 3: D,4,2020-01-0"),
    "ragged_row_too_long": Kind(_text(HEADER + GOOD + "D,4,2020-01-01,P,1,2,EXTRA\n"), DataValidationError,
                                r"Expected 6 columns, got 7"),
    "unclosed_quote": Kind(_text(HEADER + GOOD + 'D,4,"2020-01-01,P,1,2\n'), DataValidationError, "cannot be parsed as CSV"),
    "quoted_newline_in_value": Kind(_text(HEADER + 'A,9,2020-01-01,"P\n1",1,2\n' + GOOD), loaded=4),
    "blank_lines_between_rows": Kind(_text(HEADER + "\n" + GOOD + "\n\n"), loaded=3),
    "crlf_line_ends": Kind(_text((HEADER + GOOD).replace("\n", "\r\n")), loaded=3),
    "cr_only_line_ends": Kind(_text((HEADER + GOOD).replace("\n", "\r")), loaded=3),
    "duplicate_lines": Kind(_text(HEADER + GOOD + GOOD), reasons={"duplicate_line": 3}, loaded=3),
    "missing_values": Kind(_text(HEADER + GOOD + "D,,2020-01-01,P,1,2\nD,5,,P,1,2\n"), reasons={"missing_value": 2}, loaded=3),
    # whole-file problems
    "zero_bytes": Kind(_bytes(b""), DataValidationError, r"is empty \(0 bytes\)"),
    "header_only": Kind(_text(HEADER), DataValidationError, "has a header but no data rows"),
    "binary_garbage": Kind(_bytes(bytes(range(256)) * 8), DataValidationError, r"looks binary \(NUL bytes\)"),
    "high_bytes_no_nul": Kind(_bytes(bytes(range(1, 256)) * 8), DataValidationError, r"not valid utf-8: byte 0x80"),
    "nul_byte_in_header_block": Kind(_bytes((HEADER + GOOD).encode()[:80] + b"\x00" + (HEADER + GOOD).encode()[80:]),
                                     DataValidationError, "looks binary"),
    "gzip_truncated": Kind(_bytes(gzip.compress((HEADER + GOOD * 300).encode())[:120], "input.csv.gz"),
                           DataValidationError, r"is truncated or corrupt"),
    "gzip_truncated_after_64k": Kind(_bytes(gzip.compress((HEADER + _BIG * 10).encode(), mtime=0)[:60_000], "input.csv.gz"),
                                     DataValidationError, r"is truncated or corrupt"),
    "gzip_not_gzip": Kind(_bytes(b"hello, not gzip at all\n", "input.csv.gz"), DataValidationError, "truncated or corrupt"),
    "xz_garbage": Kind(_bytes(b"\xfd7zXZ\x00garbage" * 5, "input.csv.xz"), DataValidationError, "truncated or corrupt"),
    "xz_truncated": Kind(_bytes(lzma.compress((HEADER + GOOD * 300).encode())[:100], "input.csv.xz"),
                         DataValidationError, r"truncated or corrupt: Compressed file ended"),
    "parquet_garbage": Kind(_bytes(b"PAR1garbagePAR1", "input.parquet"), DataValidationError, "not a readable Parquet file"),
    "csv_named_parquet": Kind(_bytes((HEADER + GOOD).encode(), "input.parquet"), DataValidationError,
                              "not a readable Parquet file"),
    "parquet_wrong_value_types": Kind(_parquet_types, DataValidationError, r"2 of 2 rows .* are invalid"),
    "directory_not_file": Kind(_folder, IngestError, "is a folder, not a file"),
    "nonexistent_file": Kind(lambda folder: folder / "no-such-file.csv", IngestError, "not found"),
}


def _counts(ws: Workspace) -> dict[str, int]:
    with ws.connect(read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def _baseline(ws: Workspace, folder: Path) -> dict[str, int]:
    """Load some rows first, so 'unchanged' is checked against a non-empty workspace."""
    path = folder / "baseline.csv"
    path.write_text(HEADER + "BASE,900,2019-05-01,P9,1,9.99\nBASE,901,2019-05-02,P9,2,9.99\n,902,2019-05-03,P9,1,1\n")
    ingest(ws, "transactions", path)
    return _counts(ws)


def _assert_accounted(summary: IngestSummary, before: dict[str, int], after: dict[str, int]) -> None:
    """Nothing silently dropped: every row read is loaded, anonymous or quarantined, and stored as such."""
    assert summary.rows_read == summary.rows_loaded + summary.rows_anonymous + summary.rows_quarantined
    assert after["transactions"] - before["transactions"] == summary.rows_loaded
    assert after["anonymous_transactions"] - before["anonymous_transactions"] == summary.rows_anonymous
    assert after["quarantine"] - before["quarantine"] == summary.rows_quarantined
    assert after["loads"] - before["loads"] == 1


def test_at_least_30_kinds_of_bad_input_are_covered() -> None:
    assert len(KINDS) >= 30
    assert sum(k.error is not None for k in KINDS.values()) >= 20


@pytest.mark.parametrize("name", sorted(KINDS))
def test_bad_input_ends_in_clear_error_or_accounted_rows(name: str, workspace: Workspace, tmp_path: Path) -> None:
    kind = KINDS[name]
    data = tmp_path / "data"
    data.mkdir()
    before = _baseline(workspace, tmp_path)
    path = kind.build(data)
    if kind.error is not None:
        with pytest.raises(TargetwiseError) as caught:
            ingest(workspace, "transactions", path)
        assert type(caught.value) is kind.error, repr(caught.value)
        message = str(caught.value)
        assert re.search(kind.match, message), message
        assert str(path) in message  # the message names the file
        assert caught.value.fix  # ... and says what to do
        assert _counts(workspace) == before  # never partial data
        return
    summary = ingest(workspace, "transactions", path)
    _assert_accounted(summary, before, _counts(workspace))
    assert summary.reasons == kind.reasons
    assert (summary.rows_loaded, summary.rows_anonymous) == (kind.loaded, kind.anonymous)


def test_trimmed_and_unicode_ids_are_stored_exactly(workspace: Workspace, tmp_path: Path) -> None:
    for name in ("ids_with_whitespace", "unicode_emoji_ids"):
        (tmp_path / name).mkdir()
        ingest(workspace, "transactions", KINDS[name].build(tmp_path / name))
    with workspace.connect(read_only=True) as con:
        ids = sorted(r[0] for r in con.execute("SELECT DISTINCT customer_id FROM transactions").fetchall())
        products = sorted(r[0] for r in con.execute("SELECT DISTINCT product_id FROM transactions").fetchall())
    assert ids == sorted(["A", "Zoë", "😀👍"])  # ' A ' and '\tA\t' are the same customer as 'A'
    assert "日本" in products and "P🎁" in products


def test_utf16_loads_when_the_encoding_is_named(workspace: Workspace, tmp_path: Path) -> None:
    path = KINDS["utf16_with_bom"].build(tmp_path)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[options]\nencoding = "utf-16"\n')
    summary = ingest(workspace, "transactions", path, mapping=mapping)
    assert (summary.rows_loaded, summary.reasons) == (3, {})


# -- hypothesis: random bytes and random rows with planted bad cells ------------------------------

_BAD_CELLS: dict[str, list[str]] = {
    "order_id": [""],
    "ordered_at": ["", "not a date", "2020-13-01", "31/12/2020", "2999-01-01", "2020-02-30"],
    "product_id": ["", "  "],
    "quantity": ["", "1.5", "abc", "1,000", "0", "1_000", "99999999999999999999", "NaN"],
    "unit_price": ["", "£3", "nan", "inf", "-1", "0", "3,50", "1e400", "1_0"],
}
_CALLS = itertools.count()
_ID_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff"),
    min_size=1, max_size=12,
)


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[list[str]], int, int]:
    """Rows with planted bad cells; returns (rows, expected bad rows, expected anonymous rows)."""
    n = draw(st.integers(1, 25))
    rows, bad, anonymous = [], 0, 0
    for i in range(n):
        customer = draw(st.one_of(_ID_TEXT, st.sampled_from(["", " ", "\t"])))
        row = {
            "customer_id": customer,
            "order_id": f"O{i}",
            "ordered_at": draw(st.dates(min_value=date(1901, 1, 1), max_value=date(2020, 12, 31))).isoformat(),
            "product_id": draw(st.sampled_from(["P1", "P2", "STOCK-7", "ß"])),
            "quantity": str(draw(st.integers(1, 50)) * draw(st.sampled_from([1, -1]))),
            "unit_price": f"{draw(st.integers(1, 100_000)) / 100:.2f}",
        }
        broken = draw(st.lists(st.sampled_from(sorted(_BAD_CELLS)), max_size=2, unique=True))
        for column in broken:
            row[column] = draw(st.sampled_from(_BAD_CELLS[column]))
        if broken:
            bad += 1
        elif customer.strip(" \t") in ("", *DEFAULT_NULL_VALUES):
            # blank, or a "no value" token such as 'NaN' (Hypothesis draws string constants from our source)
            anonymous += 1
        rows.append(list(row.values()))
    return rows, bad, anonymous


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(planted=_rows())
@example(planted=([["NaN", "O0", "2020-01-01", "P1", "1", "1.00"], [" A ", "O1", "2020-01-01", "P1", "1", "1.00"]], 0, 1))
def test_random_rows_with_planted_bad_cells(planted: tuple[list[list[str]], int, int],
                                            workspace: Workspace, tmp_path: Path) -> None:
    rows, bad, anonymous = planted
    salt = next(_CALLS)  # order ids unique across examples (and replays), so no line is 'already stored'
    rows = [[r[0], f"{r[1]}-{salt}", *r[2:]] if r[1] else r for r in rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER.strip().split(","))
    writer.writerows(rows)
    path = tmp_path / f"rows-{salt}.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    before = _counts(workspace)
    if bad / len(rows) > workspace.settings.max_reject_fraction:
        with pytest.raises(DataValidationError, match=rf"{bad} of {len(rows)} rows of .*rows-{salt}\.csv are invalid"):
            ingest(workspace, "transactions", path)
        assert _counts(workspace) == before
        return
    summary = ingest(workspace, "transactions", path)
    _assert_accounted(summary, before, _counts(workspace))
    assert summary.rows_quarantined == bad  # exactly the planted rows, no more, no fewer
    assert summary.rows_anonymous == anonymous
    assert summary.rows_loaded == len(rows) - bad - anonymous


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(content=st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=400).map(lambda b: HEADER.encode() + b),
    st.binary(max_size=400).map(lambda b: (HEADER + GOOD).encode() + b),
    st.binary(max_size=400).map(lambda b: gzip.compress((HEADER + GOOD).encode())[: len(b) % 60 + 1]),
), suffix=st.sampled_from([".csv", ".csv.gz", ".csv.xz", ".parquet"]))
def test_random_bytes_never_crash_or_load_partially(content: bytes, suffix: str, workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(content)
    before = _counts(workspace)
    try:
        summary = ingest(workspace, "transactions", path)
    except TargetwiseError as exc:
        assert str(path) in str(exc)
        assert _counts(workspace) == before
    else:
        after = _counts(workspace)
        if summary.already_loaded:
            assert after == before
        else:
            _assert_accounted(summary, before, after)


# -- the command line: one line on stderr, exit code 1, no traceback ------------------------------


def test_cli_turns_every_error_kind_into_one_line(tmp_path: Path) -> None:
    settings_ = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    ws = Workspace.init(settings_.workspace, settings_)
    runner = CliRunner()
    for name, kind in sorted(KINDS.items()):
        if kind.error is None:
            continue
        folder = tmp_path / name
        folder.mkdir()
        path = kind.build(folder)
        result = runner.invoke(app, ["ingest", "transactions", str(path), "--workspace", str(ws.path)])
        assert result.exit_code == 1, (name, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), name  # not an unhandled exception
        text = result.output.strip()
        assert text.startswith("error: ") and path.name in text, (name, text)
        assert "Traceback" not in text
    assert _counts(ws) == {t: 0 for t in TABLES}


@pytest.mark.slow
def test_real_cli_process_prints_no_traceback(tmp_path: Path) -> None:
    settings_ = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    Workspace.init(settings_.workspace, settings_)
    path = KINDS["gzip_truncated"].build(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "from targetwise.cli import main; main()", "ingest", "transactions", str(path),
         "--workspace", str(tmp_path / "ws")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: file ") and "is truncated or corrupt" in lines[0], done.stderr
