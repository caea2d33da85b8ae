# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""CSV formula injection: every CSV targetwise writes puts a ' before a text cell a spreadsheet would run.

OWASP's rule: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return is prefixed with a single quote. Checked on the library writer, the
`audience export` command and the API download, reading each file back and
comparing exact cell values; numeric columns keep their numbers.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.cli import app
from targetwise.io.audiences import AudienceStore
from targetwise.io.exports import csv_safe_frame, escape_csv_cell, write_table
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace

HOSTILE = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tX", "\rX"]
ESCAPED = ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "'\tX", "'\rX"]
HARMLESS = ["C1", "'=already", "a=b", " =x"]  # only the first character counts; an escaped cell stays as is


def _read_text_csv(data: bytes | str) -> pd.DataFrame:
    text = data.decode() if isinstance(data, bytes) else data
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_escape_csv_cell_prefixes_formula_starts_only() -> None:
    assert [escape_csv_cell(v) for v in HOSTILE] == ESCAPED
    assert [escape_csv_cell(v) for v in HARMLESS] == HARMLESS
    assert [escape_csv_cell(v) for v in (-3.5, -2, None)] == [-3.5, -2, None]


def test_csv_safe_frame_leaves_numeric_columns_and_missing_values_alone() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [*HOSTILE, None],
            "clv": [-3.5, 1.0, -0.25, 2.0, 0.0, 7.0, -1e6],
            "orders": [-1, 0, 1, 2, 3, 4, 5],
            "segment": pd.Categorical(["-lapsed", "Champions", "-lapsed", "=x", "a", "a", "a"]),
        }
    )
    safe = csv_safe_frame(frame)
    assert safe["customer_id"].tolist()[:6] == ESCAPED and pd.isna(safe["customer_id"].iloc[6])
    assert safe["clv"].tolist() == [-3.5, 1.0, -0.25, 2.0, 0.0, 7.0, -1e6] and safe["clv"].dtype == "float64"
    assert safe["orders"].tolist() == [-1, 0, 1, 2, 3, 4, 5] and safe["orders"].dtype == "int64"
    assert safe["segment"].tolist() == ["'-lapsed", "Champions", "'-lapsed", "'=x", "a", "a", "a"]
    assert frame["customer_id"].tolist()[:6] == HOSTILE  # the caller's frame is not changed
    assert csv_safe_frame(safe)["customer_id"].tolist()[:6] == ESCAPED  # idempotent
    assert csv_safe_frame(pd.DataFrame({"=sum": ["a"]})).columns.tolist() == ["'=sum"]


def test_write_table_escapes_csv_and_csv_gz_but_keeps_parquet_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": HOSTILE, "clv": [-3.5, -2.0, 0.0, 1.5, 2.0, 3.0]})
    for name in ("scores.csv", "scores.csv.gz"):
        target = write_table(frame, tmp_path / name)
        back = pd.read_csv(target, dtype={"customer_id": str}, keep_default_na=False)
        assert back["customer_id"].tolist() == ESCAPED, name
        assert back["clv"].tolist() == [-3.5, -2.0, 0.0, 1.5, 2.0, 3.0] and back["clv"].dtype == "float64"
    raw = (tmp_path / "scores.csv").read_bytes()
    assert raw.split(b"\r\n")[1] == b'"\'=HYPERLINK(""x"")",-3.5'
    assert b'"\'\rX",3.0\r\n' in raw  # a carriage return in a cell is quoted, or readers split the row there
    parquet = pd.read_parquet(write_table(frame, tmp_path / "scores.parquet"))
    assert parquet["customer_id"].tolist() == HOSTILE


def _hostile_audience(ws: Workspace, run: RunInfo) -> str:
    record = AudienceStore(ws).save(
        slug="hostile", name="hostile", members=[*HOSTILE, "C1"], run_id=run.run_id,
        definition=[], excluded={}, created_by=None,
    )
    return record.id


def test_api_csv_download_escapes_formula_ids(client, keys: Keys, service_ws: Workspace, run_a: RunInfo) -> None:
    audience_id = _hostile_audience(service_ws, run_a)
    r = client.get(f"/v1/audiences/{audience_id}/export", headers=Keys.header(keys.write), params={"destination": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert _read_text_csv(r.text)["customer_id"].tolist() == [*ESCAPED, "C1"]
    assert r.text.splitlines()[1] == '"\'=HYPERLINK(""x"")"'
    parquet = client.get(f"/v1/audiences/{audience_id}/export", headers=Keys.header(keys.write),
                         params={"destination": "parquet"})
    assert pd.read_parquet(io.BytesIO(parquet.content))["customer_id"].tolist() == [*HOSTILE, "C1"]


def test_cli_audience_export_escapes_formula_ids(service_ws: Workspace, run_a: RunInfo, tmp_path: Path) -> None:
    audience_id = _hostile_audience(service_ws, run_a)
    out = tmp_path / "hostile.csv"
    result = CliRunner().invoke(
        app, ["audience", "export", audience_id, "--out", str(out), "--workspace", str(service_ws.path)],
        env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert _read_text_csv(out.read_bytes())["customer_id"].tolist() == [*ESCAPED, "C1"]
