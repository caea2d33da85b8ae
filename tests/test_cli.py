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
    # 100 ids in the file; 12605 only returned goods bought before the data starts: counted like the run counts
    assert "customers 99" in r.output
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


def test_ingest_from_a_database_query(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE sales (customer_id TEXT, order_id TEXT, ordered_at TEXT, product_id TEXT, quantity INTEGER, unit_price REAL)")
        con.executemany(
            "INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)",
            [("A", "1", "2020-01-01 10:00:00", "P", 2, 1.5), ("B", "2", "2020-01-02 11:00:00", "P", 1, -1.0), (None, "3", "2020-01-03", "Q", 1, 2.0)],
        )
    ws = tmp_path / "shop"
    invoke("init", ws)
    query = "SELECT * FROM sales WHERE ordered_at >= '2020-01-01 00:00:00'"  # ':00' is not a bind parameter
    r = invoke("ingest", "transactions", f"sqlite:///{db}", "--query", query, "-w", ws)
    assert r.exit_code == 0, r.output
    assert "loaded 1 new + 0 updated rows into transactions from 3 read" in r.output
    assert "1 lines without customer id" in r.output
    assert "non_positive_price: 1" in r.output
    r = invoke("ingest", "transactions", f"sqlite:///{db}", "--query", "SELECT * FROM nope", "-w", ws)
    assert r.exit_code == 1 and "no such table: nope" in r.output and "Traceback" not in r.output
