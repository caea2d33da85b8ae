"""`targetwise demo` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace


@pytest.mark.slow
def test_demo_online_retail_end_to_end(tmp_path: Path) -> None:
    ws_path = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--workspace", str(ws_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "transactions: 401,562 loaded, 132,565 anonymous, 7,782 quarantined" in r.output
    ws = Workspace.open(ws_path, get_settings())
    store = RunStore(ws)
    active = store.active()
    assert active is not None and active.manifest["stages"]["features"]["status"] == "ok"
    assert (ws_path / "artifacts" / "reports" / "profile.html").exists()
    # running the demo again rebuilds the same workspace from scratch
    r2 = CliRunner().invoke(app, ["demo", "--workspace", str(ws_path)], env={"COLUMNS": "200"})
    assert r2.exit_code == 0, r2.output
    assert len(RunStore(ws).list()) == 1


def test_demo_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    r = CliRunner().invoke(app, ["demo", "--workspace", str(tmp_path / "mine")])
    assert r.exit_code == 1 and "will not overwrite" in r.output
    assert (tmp_path / "mine" / "keep.txt").exists()
