"""Syncs on every surface: `targetwise sync add|run|list|history`, /v1/syncs and the UI pages show the same counts.

The workspace is service_fixtures' C1..C4: C4 objected to profiling, C3 revoked ads consent, C2 e-mail
consent; so the webhook (purpose e-mail) holds C1 and C3, the file drop (purpose ads) C1 and C2.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service_fixtures import Keys, load_workspace_tables, make_run
from sync_receiver import Receiver
from targetwise.cli.app import app as cli_app
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.runs import active_run

BASE = "http://127.0.0.1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = "surface-secret"


def test_cli_api_and_ui_agree(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, tmp_path)
    RunStore(ws).promote(make_run(ws).run_id)
    create_audience(ws, active_run(ws), name="Regulars", created_by=None,
                    conditions=[{"field": "frequency", "op": ">=", "value": 2}])  # C1, C2, C3 (C4: objector)
    keys = Keys(ws)
    monkeypatch.setenv("TW_SURFACE_SECRET", SECRET)
    env = {"TARGETWISE_WORKSPACE": str(settings.workspace), "COLUMNS": "250"}
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(cli_app, list(args), env=env)

    with Receiver(SECRET.encode()) as receiver:
        added = cli("sync", "add", "regulars", "--destination", "webhook", "--url", receiver.url,
                    "--secret-env", "TW_SURFACE_SECRET", "--hash-email")
        assert added.exit_code == 0, added.output
        webhook_id = re.search(r"sync (webhook-[0-9a-f]{8})", added.output).group(1)
        assert SECRET not in added.output and "secret_env=TW_SURFACE_SECRET" in added.output
        drop = tmp_path / "drop"
        files = cli("sync", "add", "regulars", "--destination", "files", "--path", str(drop), "--purpose", "ads")
        files_id = re.search(r"sync (files-[0-9a-f]{8})", files.output).group(1)
        bad = cli("sync", "add", "regulars", "--destination", "webhook", "--url", "ftp://x")
        assert bad.exit_code == 1 and "is not an http(s) URL" in bad.output
        ran = cli("sync", "run", "--all")
        assert ran.exit_code == 0, ran.output
        assert f"{webhook_id}: ok (version 1, +2 -0" in ran.output and f"{files_id}: ok (version 1, +2 -0" in ran.output
        assert receiver.held == {"C1", "C3"} and receiver.errors == []  # C3's ads opt-out is no e-mail opt-out
        assert all(receiver.hashes[c] is None or len(receiver.hashes[c]) == 64 for c in receiver.held)
        assert "no_change" in cli("sync", "run", webhook_id).output and len(receiver.requests) == 1
        neither = cli("sync", "run")
        assert neither.exit_code == 1 and "give one SYNC_ID or --all" in neither.output

    listed = cli("sync", "list").output
    assert webhook_id in listed and files_id in listed
    history = cli("sync", "history", webhook_id).output
    assert re.search(r"1 .* 1 .* ok .* 2 .* 0", history) and re.search(r"2 .* 1 .* no_change", history)

    app = TestClient(create_app(settings, workspace=Workspace.open(settings.workspace, settings)), base_url=BASE)
    read, admin = Keys.header(keys.read), Keys.header(keys.admin)
    body = app.get("/v1/syncs", headers=read).json()["syncs"]
    by_id = {s["sync_id"]: s for s in body}
    assert (by_id[webhook_id]["acknowledged"], by_id[files_id]["acknowledged"]) == (2, 2)
    assert by_id[webhook_id]["last_run"]["outcome"] == "no_change" and by_id[files_id]["last_run"]["added"] == 2
    hist = app.get(f"/v1/syncs/{webhook_id}/history", headers=read).json()
    assert [(r["outcome"], r["added"]) for r in hist["runs"]] == [("ok", 2), ("no_change", 0)]
    assert [v["size"] for v in hist["versions"]] == [3]
    assert app.post(f"/v1/syncs/{files_id}/run", headers=read).status_code == 403  # sending out is an admin action
    again = app.post(f"/v1/syncs/{files_id}/run", headers=admin).json()
    assert (again["outcome"], again["run_no"]) == ("no_change", 2)
    missing = app.get("/v1/syncs/nope-123/history", headers=read)
    assert missing.status_code == 404 and "sync 'nope-123' not found" in missing.json()["error"]["message"]
    refused = app.post("/v1/syncs", headers=admin, json={"audience": "regulars", "destination": "files",
                                                          "options": {"path": str(drop), "format": "xlsx"}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "config_error"
    created = app.post("/v1/syncs", headers=admin, json={"audience": "regulars", "destination": "files",
                                                          "options": {"path": str(tmp_path / "api-drop")}})
    assert created.status_code == 201 and created.json()["options"]["format"] == "csv"

    login = _CSRF.search(app.get("/ui/login").text).group(1)
    app.post("/ui/login", data={"api_key": keys.read, "next": "/ui/", "csrf_token": login},
             headers={"Origin": BASE}, follow_redirects=False)
    page = html.unescape(app.get("/ui/syncs").text)
    row = re.search(rf"{webhook_id}</a></td><td>regulars</td><td>webhook</td>\s*<td>1</td><td>2</td>", page)
    assert row and "no_change" in page and files_id in page
    detail = html.unescape(app.get(f"/ui/syncs/{webhook_id}").text)
    assert "<td>1</td><td>" in detail and "no_change" in detail and "None." in detail  # no dead letters
    audit = (ws.artifacts / "audit" / "audit.jsonl").read_text()
    assert not re.search(r"\bC[1-4]\b", audit) and SECRET not in audit
    assert json.loads(audit.splitlines()[0])["action"] == "sync.run"
