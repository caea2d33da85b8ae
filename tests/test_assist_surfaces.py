"""Campaign copy and summaries in words on every surface: the CLI, the API and the UI pages say the same thing."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llm_server import LLMServer
from service_fixtures import Keys, load_workspace_tables, make_run
from targetwise.cli.app import app as cli_app
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.runs import active_run

BASE = "http://127.0.0.1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PERSONAL = re.compile(r"\bC[1-4]\b|@|example\.com|7031|555 1212")
GOOD = {"subject": "{first_name}, the garden range is here", "preheader": "Picked for you: Blue plate",
        "body": "Hello {first_name}, the Blue plate and the Garden gnome are back."}
BAD = {"subject": "HUGE garden sale!!", "preheader": "Everything must go", "body": "Hello {first_name}."}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Keys]:
    root = tmp_path_factory.mktemp("surfaces")
    settings = get_settings(workspace=root / "ws", duckdb_threads=1, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, root)
    RunStore(ws).promote(make_run(ws).run_id)
    audience = create_audience(ws, active_run(ws), name="Garden fans", created_by=None, conditions=[
        {"field": "rfm_segment", "op": "in", "value": ["Champions", "At Risk"]}])
    return root / "ws", audience.id, Keys(ws)


def settings_of(path: Path, server: LLMServer | None):
    extra = {} if server is None else {"llm_base_url": server.base_url, "llm_model": "recorded-model"}
    return get_settings(workspace=path, duckdb_threads=1, api_rate_limit_per_minute=100_000, llm_max_retries=0, **extra)


def client_of(path: Path, server: LLMServer | None = None) -> TestClient:
    settings = settings_of(path, server)
    return TestClient(create_app(settings, workspace=Workspace.open(path, settings)), raise_server_exceptions=False,
                      base_url=BASE)


def ui_login(client: TestClient, token: str) -> None:
    login = _CSRF.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/login", data={"api_key": token, "next": "/ui/", "csrf_token": login},
                    headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303


def summary_on_page(page: str) -> str:
    found = re.search(r'<p class="summary" id="summary">(.*?)</p>', page, re.S)
    assert found, "no summary on the page"
    return html.unescape(found.group(1))


def cli(path: Path, *args: str, server: LLMServer | None = None):
    env = {"TARGETWISE_WORKSPACE": str(path), "COLUMNS": "250", "TARGETWISE_LLM_MAX_RETRIES": "0",
           "TARGETWISE_LLM_BASE_URL": server.base_url if server else "", "TARGETWISE_LLM_MODEL": "recorded-model"}
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_the_summaries_are_the_same_text_on_the_api_the_ui_and_the_cli(base: tuple[Path, str, Keys]) -> None:
    path, _, keys = base
    with client_of(path) as client:
        api_customer = client.get("/v1/customers/C1", headers=Keys.header(keys.read)).json()["summary"]
        api_segment = client.get("/v1/segments/Lapsed", headers=Keys.header(keys.read)).json()["summary"]
        ui_login(client, keys.read)
        ui_customer = summary_on_page(client.get("/ui/customers", params={"customer_id": "C1"}).text)
        ui_segment = summary_on_page(client.get("/ui/segments/Lapsed").text)
    cli_customer = cli(path, "explain", "customer", "C1")
    cli_segment = cli(path, "explain", "segment", "Lapsed", "--json")
    assert cli_customer.exit_code == 0 and cli_segment.exit_code == 0, cli_customer.output + cli_segment.output
    assert api_customer["engine"] == "template" and api_customer["text"].startswith("In RFM segment Champions")
    assert ui_customer == api_customer["text"] == cli_customer.output.splitlines()[0]
    assert "written by the embedded template" in cli_customer.output
    assert ui_segment == api_segment["text"] == json.loads(cli_segment.output)["text"]
    assert api_segment["text"].startswith("Lapsed has 2 customers (50.0% of all customers, 6.0% of revenue).")


def test_with_an_endpoint_the_api_and_the_ui_show_the_one_checked_text(base: tuple[Path, str, Keys]) -> None:
    path, _, keys = base
    text = "At Risk and Lapsed: 2 orders, £80.00 in total, the last 200 days ago; a 5% chance of buying in the next 30 days."
    with LLMServer() as server, client_of(path, server) as client:
        server.reply(text)
        api = client.get("/v1/customers/C2", headers=Keys.header(keys.read)).json()["summary"]
        ui_login(client, keys.read)
        page = client.get("/ui/customers", params={"customer_id": "C2"}).text
    assert (api["text"], api["engine"], api["check"]) == (text, "llm", "passed")
    assert summary_on_page(page) == text and "every number in it was checked" in page
    assert len(server.requests) == 1  # computed once for the run, shown on both
    assert not PERSONAL.search(server.sent_text())


def test_copy_over_the_api_dry_run_drafts_lints_and_approval(base: tuple[Path, str, Keys]) -> None:
    path, audience_id, keys = base
    write = Keys.header(keys.write)
    request = {"audience_id": audience_id, "brief": "the garden range", "variants": 2}
    with client_of(path) as client:
        dry = client.post("/v1/campaigns/copy", json={**request, "dry_run": True}, headers=write)
        off = client.post("/v1/campaigns/copy", json=request, headers=write)
        read_only = client.post("/v1/campaigns/copy", json=request, headers=Keys.header(keys.read))
    assert dry.status_code == 200 and dry.json()["copy_set"] is None
    assert dry.json()["facts"]["facts"][1] == {"name": "size", "label": "customers", "text": "3"}
    assert dry.json()["messages"][1]["content"].startswith("Brief: the garden range")
    assert off.status_code == 400 and off.json()["error"]["code"] == "config_error"
    assert off.json()["error"]["message"] == "no model endpoint is configured, and campaign copy is written by a model"
    assert read_only.status_code == 403
    with LLMServer() as server, client_of(path, server) as client:
        server.reply({"variants": [GOOD, BAD]})
        made = client.post("/v1/campaigns/copy", json=request, headers=write)
        assert made.status_code == 200, made.text
        copy_set = made.json()["copy_set"]
        refused = client.post(f"/v1/campaigns/copy/{copy_set['id']}/approve", json={"variant": 2}, headers=write)
        approved = client.post(f"/v1/campaigns/copy/{copy_set['id']}/approve", json={"variant": 1}, headers=write)
        listed = client.get("/v1/campaigns/copy", headers=Keys.header(keys.read)).json()["copy_sets"]
        missing = client.get("/v1/campaigns/copy/copy-20260101-00000000", headers=Keys.header(keys.read))
    assert [v["lint"]["passed"] for v in copy_set["variants"]] == [True, False]
    assert copy_set["variants"][1]["lint"]["rules_broken"] == ["all_caps", "spammy_punctuation"]
    assert copy_set["created_by"] == keys.write_key.id and not PERSONAL.search(server.sent_text())
    assert refused.status_code == 422 and "fails its lints (all_caps, spammy_punctuation)" in refused.json()["error"]["message"]
    assert approved.status_code == 200
    assert [v["status"] for v in approved.json()["variants"]] == ["approved", "draft"]
    assert approved.json()["variants"][0]["approved_by"] == keys.write_key.id
    assert [s["id"] for s in listed][-1] == copy_set["id"] and listed[-1]["variants"][0]["status"] == "approved"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_copy_on_the_command_line(base: tuple[Path, str, Keys]) -> None:
    path, audience_id, _ = base
    off = cli(path, "campaign", "copy", "--audience", audience_id, "--brief", "the garden range")
    assert off.exit_code == 1
    assert off.output.strip().splitlines() == [
        "error: no model endpoint is configured, and campaign copy is written by a model. Fix: set "
        "TARGETWISE_LLM_BASE_URL and TARGETWISE_LLM_MODEL (any OpenAI-compatible server), or use --dry-run "
        "(dry_run=true) to see the facts sheet and the prompt that would be sent"]
    dry = cli(path, "campaign", "copy", "--audience", audience_id, "--brief", "the garden range", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "- median total spend per customer: £400" in dry.output and "nothing was sent or saved" in dry.output
    assert "Brief: the garden range" in dry.output
    with LLMServer() as server:
        server.reply({"variants": [GOOD, BAD]})
        made = cli(path, "campaign", "copy", "--audience", audience_id, "--brief", "the garden range", "--variants",
                   "2", "--json", server=server)
    assert made.exit_code == 0, made.output
    copy_set = json.loads(made.output)["copy"]
    assert [v["lint"]["passed"] for v in copy_set["variants"]] == [True, False]
    refused = cli(path, "campaign", "copy", "approve", copy_set["id"], "--variant", "2")
    assert refused.exit_code == 1 and "fails its lints (all_caps, spammy_punctuation): not approved" in refused.output
    forced = cli(path, "campaign", "copy", "approve", copy_set["id"], "--variant", "2", "--despite-lints")
    assert forced.exit_code == 0 and f"variant 2 of {copy_set['id']} approved despite all_caps, spammy_punctuation" \
        in forced.output
    listed = cli(path, "campaign", "copy", "list")
    assert f"{copy_set['id']}  audience {audience_id}" in listed.output
    assert "1 draft; 2 approved (fails lints)" in listed.output
