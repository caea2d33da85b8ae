"""`targetwise consent set|show` and `targetwise privacy erase|log` on the 100-customer Online Retail sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

runner = CliRunner()
CUSTOMER = "12358"  # a customer of the sample file with purchases


def invoke(*args: object, stdin: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin,
                         env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "200", "TARGETWISE_DUCKDB_THREADS": "2"})


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    ws = tmp_path / "shop"
    assert invoke("init", ws).exit_code == 0
    r = invoke("ingest", "transactions", ONLINE_RETAIL_SAMPLE, "--mapping", ONLINE_RETAIL_MAPPING, "-w", ws)
    assert r.exit_code == 0, r.output
    return ws


def _features(ws: Path) -> pd.DataFrame:
    store = RunStore(Workspace.open(ws, get_settings(workspace=ws)))
    return store.active().read_table("features/customer_features.parquet")  # type: ignore[union-attr]


def test_profiling_objection_set_by_cli_removes_the_customer_from_the_next_run(shop: Path) -> None:
    assert invoke("run", "--stage", "features", "-w", shop).exit_code == 0
    before = _features(shop)
    assert CUSTOMER in set(before["customer_id"]) and len(before) == 99  # of 100: 12605 only has returns

    r = invoke("consent", "set", CUSTOMER, "--purpose", "profiling", "--status", "revoked", "--source", "letter",
               "-w", shop)
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())  # Rich wraps at the terminal's width, which differs under xdist
    assert f"recorded profiling=revoked for {CUSTOMER}" in said and "from the next run on" in said
    shown = invoke("consent", "show", CUSTOMER, "-w", shop)
    assert "profiling: revoked, email: granted, sms: granted, ads: granted" in shown.output
    assert "letter" in shown.output

    r = invoke("run", "--stage", "features", "-w", shop)
    assert r.exit_code == 0, r.output
    after = _features(shop)
    assert CUSTOMER not in set(after["customer_id"]) and len(after) == 98
    assert "excluded_profiling_objection=1" in r.output
    # a newer grant wins again
    invoke("consent", "set", CUSTOMER, "--purpose", "profiling", "--status", "granted", "-w", shop)
    assert "profiling: granted" in invoke("consent", "show", CUSTOMER, "-w", shop).output


def test_consent_set_rejects_unknown_purpose_and_status(shop: Path) -> None:
    r = invoke("consent", "set", CUSTOMER, "--purpose", "postal", "--status", "revoked", "-w", shop)
    assert r.exit_code == 1 and "unknown consent purpose 'postal'" in r.output
    r = invoke("consent", "set", CUSTOMER, "--purpose", "email", "--status", "maybe", "-w", shop)
    assert r.exit_code == 1 and "unknown consent status 'maybe'" in r.output
    assert "no decision recorded" in invoke("consent", "show", CUSTOMER, "-w", shop).output


def test_privacy_erase_asks_unless_yes_and_logs(shop: Path) -> None:
    settings = get_settings(workspace=shop)
    count = "SELECT count(*) FROM transactions WHERE customer_id = ?"
    with Workspace.open(shop, settings).connect(read_only=True) as con:
        lines = con.execute(count, [CUSTOMER]).fetchone()[0]
    assert lines > 0
    for stdin in (None, "n\n"):  # no terminal (CI) or a "no": nothing is erased
        r = invoke("privacy", "erase", CUSTOMER, "-w", shop, stdin=stdin)
        assert r.exit_code == 1 and "not erased" in r.output
    r = invoke("privacy", "erase", CUSTOMER, "-w", shop, stdin="y\n")
    assert r.exit_code == 0, r.output
    assert f"table transactions: {lines:,}" in r.output
    with Workspace.open(shop, settings).connect(read_only=True) as con:
        assert con.execute(count, [CUSTOMER]).fetchone()[0] == 0
    log = invoke("privacy", "log", "-w", shop)
    assert log.exit_code == 0 and "customer:" in log.output and "cli:" in log.output
    assert CUSTOMER not in log.output
    again = invoke("privacy", "erase", CUSTOMER, "--yes", "-w", shop)
    assert again.exit_code == 1 and "is not in this workspace" in again.output
