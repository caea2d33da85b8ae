"""Workspace formats: derivable columns computed on read (2), numbered loads (3), and the upgrades of
workspaces an earlier targetwise wrote."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from targetwise.config import Settings
from targetwise.io import workspace as workspace_module
from targetwise.io.consent import opted_out
from targetwise.io.ingest import ingest
from targetwise.io.workspace import FORMAT_VERSION, Workspace
from targetwise.schema import TABLES, ddl, line_hash_sql

HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
COMPUTED = {"is_return", "line_amount", "line_hash"}


def _old_workspace(root: Path, version: int) -> duckdb.DuckDBPyConnection:
    """The folder, marker and an empty database of a workspace an earlier format wrote; its tables are the caller's."""
    root.mkdir(parents=True)
    for name in ("runs", "exports", "reports", "audiences"):
        (root / "artifacts" / name).mkdir(parents=True)
    marker = {"format_version": version, "created_at": "2026-01-01T00:00:00+00:00"}
    (root / "workspace.json").write_text(json.dumps(marker))
    return duckdb.connect(str(root / "targetwise.duckdb"))


def _open_upgraded(root: Path, settings: Settings) -> Workspace:
    """Open a workspace an earlier format wrote; the marker says the current format afterwards."""
    ws = Workspace.open(root, settings)
    assert json.loads((root / "workspace.json").read_text())["format_version"] == FORMAT_VERSION
    return ws


def _format1(root: Path) -> None:
    """A workspace as format 1 wrote it: every column stored, line_hash over the source's columns."""
    con = _old_workspace(root, 1)
    for spec in TABLES.values():
        cols = ", ".join(f"{c.name} {'VARCHAR' if c.name == 'load_id' else c.sql_type}" for c in spec.all_columns)
        con.execute(f"CREATE TABLE {spec.name} ({cols})")
    con.execute(
        """
        INSERT INTO transactions VALUES
          ('A', '100', TIMESTAMP '2020-01-01 10:00', 'P1', 3, 2.0, NULL, NULL, NULL, false, false, NULL, 6.0,
           'L1', 1, hash('A', '100', TIMESTAMP '2020-01-01 10:00', 'P1', 3, 2.0)),
          ('A', 'C101', TIMESTAMP '2020-02-01 10:00', 'P1', -1, 2.0, 'web', NULL, NULL, true, false, '100', -2.0,
           'L1', 2, 12345)
        """
    )
    con.execute(
        "INSERT INTO anonymous_transactions VALUES ('200', TIMESTAMP '2020-01-05 09:00', 'POST', 1, 18.0, NULL, "
        "NULL, NULL, false, true, NULL, 18.0, 'L1', 3, 1)"
    )
    con.execute(
        "INSERT INTO loads VALUES ('L1', 'transactions', 'jan.csv', 'abc', 'def', 3, 2, 1, 0, "
        "TIMESTAMP '2020-03-01', TIMESTAMP '2020-03-01')"
    )
    con.close()


def _generated(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT column_name, is_generated FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    )


def test_a_new_workspace_computes_derivable_columns_on_read(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text(HEADER + "A,100,2020-01-01 10:00,P1,3,2.5\nA,C101,2020-02-01 10:00,P1,-1,2.5\n,300,2020-01-02,P2,2,1\n")
    ingest(workspace, "transactions", path)
    with workspace.connect(read_only=True) as con:
        for table in ("transactions", "anonymous_transactions"):
            flags = _generated(con, table)
            assert {c for c, g in flags.items() if g == "ALWAYS"} == COMPUTED
        rows = con.execute(
            "SELECT order_id, is_return, line_amount, line_hash = hash('A', order_id, ordered_at, 'P1', quantity, "
            "unit_price, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR) FROM transactions ORDER BY source_row"
        ).fetchall()
        assert rows == [("100", False, 7.5, True), ("C101", True, -2.5, True)]
        assert con.execute("SELECT is_return, line_amount FROM anonymous_transactions").fetchall() == [(False, 2.0)]
    meta = json.loads((workspace.path / "workspace.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION == 5


def test_a_format1_workspace_is_upgraded_once_keeping_every_row(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "old"
    _format1(root)
    ws = _open_upgraded(root, settings)
    with ws.connect(read_only=True) as con:
        for table in TABLES:
            flags = _generated(con, table)
            computed = {c.name for c in TABLES[table].all_columns if c.generated}
            assert {c for c, g in flags.items() if g == "ALWAYS"} == computed, table
        assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == set(TABLES)
        rows = con.execute(
            "SELECT order_id, channel, is_return, is_non_product, linked_order_id, line_amount, load_id, source_row "
            "FROM transactions ORDER BY source_row"
        ).fetchall()
        assert rows == [
            ("100", None, False, False, None, 6.0, 1, 1),
            ("C101", "web", True, False, "100", -2.0, 1, 2),
        ]
        expected = line_hash_sql(TABLES["transactions"].columns, lambda name: name)
        (same,) = con.execute(f"SELECT bool_and(line_hash = {expected}) FROM transactions").fetchone()
        assert same is True
        assert con.execute("SELECT is_non_product, line_amount FROM anonymous_transactions").fetchall() == [(True, 18.0)]
    # the stored lines now hash like new ones: loading them again finds them (the old 12345 would not)
    again = tmp_path / "again.csv"
    again.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price,channel\n"
        "A,100,2020-01-01 10:00,P1,3,2,\nA,C101,2020-02-01 10:00,P1,-1,2,web\n,200,2020-01-05 09:00,POST,1,18,\n"
        "A,102,2020-02-03 10:00,P1,1,2,\n"
    )
    s = ingest(ws, "transactions", again)
    assert (s.rows_loaded, s.reasons, s.load_id) == (1, {"duplicate_line": 3}, 2)  # numbers go on after L1
    # opening again changes nothing
    Workspace.open(root, settings)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transactions").fetchone() == (3,)


def test_an_interrupted_upgrade_leaves_format1_intact(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "old"
    _format1(root)
    real = workspace_module._upgrade_table
    done: list[str] = []

    def failing(con: duckdb.DuckDBPyConnection, spec: object) -> None:
        real(con, spec)  # type: ignore[arg-type]
        done.append(spec.name)  # type: ignore[attr-defined]
        if spec.name == "anonymous_transactions":  # type: ignore[attr-defined]
            raise OSError("disk full")

    monkeypatch.setattr(workspace_module, "_upgrade_table", failing)
    with pytest.raises(OSError, match="disk full"):
        Workspace.open(root, settings)
    assert "transactions" in done  # the first table had been rebuilt inside the transaction
    assert json.loads((root / "workspace.json").read_text())["format_version"] == 1
    con = duckdb.connect(str(root / "targetwise.duckdb"), read_only=True)
    try:
        assert set(_generated(con, "transactions").values()) == {"NEVER"}
        assert con.execute("SELECT line_hash FROM transactions ORDER BY source_row").fetchall()[1] == (12345,)
        assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == set(TABLES)
    finally:
        con.close()
    monkeypatch.setattr(workspace_module, "_upgrade_table", real)
    Workspace.open(root, settings)
    assert json.loads((root / "workspace.json").read_text())["format_version"] == FORMAT_VERSION


def _format2(root: Path) -> None:
    """A workspace as format 2 wrote it: text load ids such as 'L20200301000000-aaaa'."""
    con = _old_workspace(root, 2)
    for spec in TABLES.values():
        con.execute(ddl(spec).replace("load_id BIGINT", "load_id VARCHAR"))
    stored = ", ".join(c.name for c in TABLES["transactions"].stored_columns)
    con.execute(
        f"""
        INSERT INTO transactions ({stored}) VALUES
          ('A', '100', TIMESTAMP '2020-03-01 10:00', 'P1', 3, 2.0, NULL, NULL, NULL, false, NULL, 'L20200301000000-aaaa', 1),
          ('B', '90', TIMESTAMP '2020-02-01 10:00', 'P2', 1, 5.0, NULL, NULL, NULL, false, NULL, 'L20200201000000-bbbb', 1)
        """
    )
    con.execute(
        "INSERT INTO consent (customer_id, purpose, status, recorded_at, source, load_id, source_row) VALUES "
        "('A', 'email', 'granted', TIMESTAMP '2020-02-01', 'form', 'L20200201000000-bbbb', 1), "
        "('A', 'email', 'revoked', TIMESTAMP '2020-02-01', 'letter', 'L20200301000000-aaaa', 1)"
    )
    con.execute(
        "INSERT INTO quarantine (load_id, table_name, source_file, source_row, reason_code) "
        "VALUES ('L20200301000000-aaaa', 'transactions', 'mar.csv', 2, 'zero_quantity')"
    )
    for load_id, started in (("L20200301000000-aaaa", "2020-03-01"), ("L20200201000000-bbbb", "2020-02-01")):
        con.execute(
            "INSERT INTO loads VALUES (?, 'transactions', 'f.csv', ?, 'def', 2, 1, 0, 0, ?, ?)",
            [load_id, load_id, started, started],
        )
    con.close()


def test_a_format2_workspace_gets_load_numbers_in_the_order_the_loads_began(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "two"
    _format2(root)
    ws = _open_upgraded(root, settings)
    with ws.connect(read_only=True) as con:
        types = dict(
            con.execute(
                "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'load_id'"
            ).fetchall()
        )
        assert set(types.values()) == {"BIGINT"} and set(types) >= {"transactions", "loads", "consent", "quarantine"}
        assert con.execute("SELECT content_hash, load_id FROM loads ORDER BY load_id").fetchall() == [
            ("L20200201000000-bbbb", 1),  # began first
            ("L20200301000000-aaaa", 2),
        ]
        assert con.execute("SELECT order_id, load_id FROM transactions ORDER BY order_id").fetchall() == [
            ("100", 2),
            ("90", 1),
        ]
        assert con.execute("SELECT status, load_id FROM consent ORDER BY load_id").fetchall() == [
            ("granted", 1),
            ("revoked", 2),
        ]
        assert con.execute("SELECT load_id, reason_code FROM quarantine").fetchall() == [(2, "zero_quantity")]
    # same recorded_at: the later load wins, as it did by text order
    assert "A" in opted_out(ws, "email")
    # the next load is number 3
    path = tmp_path / "apr.csv"
    path.write_text(HEADER + "C,110,2020-04-01 10:00,P1,1,2.0\n")
    assert ingest(ws, "transactions", path).load_id == 3


def test_a_newer_format_is_refused(tmp_path: Path, settings: Settings, workspace: Workspace) -> None:
    marker = workspace.path / "workspace.json"
    marker.write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(Exception, match="newer than this targetwise understands"):
        Workspace.open(workspace.path, settings)


def test_a_format4_workspace_gains_the_offer_tables_and_keeps_its_rows(tmp_path: Path, settings: Settings) -> None:
    """Format 5 added ``offers`` and ``offer_decisions``: a workspace written before gets them on open."""
    ws = Workspace.init(tmp_path / "w4", settings)
    path = tmp_path / "lines.csv"
    path.write_text(HEADER + "A,100,2020-01-01 10:00,P1,3,2.5\n")
    ingest(ws, "transactions", path)
    with ws.connect() as con:
        con.execute("DROP TABLE offers")
        con.execute("DROP TABLE offer_decisions")
    marker = ws.path / "workspace.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "format_version": 4}))
    reopened = Workspace.open(ws.path, settings)
    with reopened.connect(read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 1
    assert {"offers", "offer_decisions"} <= tables
    assert json.loads(marker.read_text())["format_version"] == 5
