"""The CLI through Typer's runner: thin adapters, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"})


def test_init_ingest_status_profile(tmp_path: Path) -> None:
    ws = tmp_path / "shop"
    r = invoke("init", ws)
    assert r.exit_code == 0, r.output
    assert (ws / "targetwise.duckdb").exists() and (ws / "artifacts" / "runs").is_dir()

    r = invoke("ingest", "transactions", ONLINE_RETAIL_SAMPLE, "--mapping", ONLINE_RETAIL_MAPPING, "-w", ws)
    assert r.exit_code == 0, r.output
    assert "loaded 7,413 new + 0 updated rows into transactions from 7,517 read" in r.output
    assert "duplicate_line: 104" in r.output
    assert "1,959 new rows derived into products" in r.output

    r = invoke("ingest", "transactions", ONLINE_RETAIL_SAMPLE, "--mapping", ONLINE_RETAIL_MAPPING, "-w", ws)
    assert r.exit_code == 0 and "already loaded" in r.output

    r = invoke("status", "-w", ws)
    assert r.exit_code == 0, r.output
    assert "7,413" in r.output and "loads: 1" in r.output

    html = tmp_path / "profile.html"
    r = invoke("profile", "-w", ws, "--html", html)
    assert r.exit_code == 0, r.output
    assert "customers 100" in r.output
    text = html.read_text()
    assert "data:image/png;base64," in text and "7,413" in text  # self-contained, with the counts


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    r = invoke("status", "-w", tmp_path / "nowhere")
    assert r.exit_code == 1
    assert "is not a targetwise workspace" in r.output and "targetwise init" in r.output
    assert "Traceback" not in r.output

    ws = tmp_path / "shop"
    invoke("init", ws)
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,order_id\nA,1\n")
    r = invoke("ingest", "transactions", bad, "-w", ws)
    assert r.exit_code == 1
    assert "lacks required column(s) ordered_at, product_id, quantity, unit_price" in r.output
    assert "Traceback" not in r.output

    r = invoke("ingest", "nonsense", bad, "-w", ws)
    assert r.exit_code == 1 and "unknown table 'nonsense'" in r.output


def test_init_refuses_a_non_empty_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("precious")
    r = invoke("init", tmp_path / "docs")
    assert r.exit_code == 1 and "not empty and is not a targetwise workspace" in r.output
    assert (tmp_path / "docs" / "thesis.txt").read_text() == "precious"
