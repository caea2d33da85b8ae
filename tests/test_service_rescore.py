"""The service re-scores in the background after events (TARGETWISE_RESCORE_AFTER_EVENTS_S, issue 23).

A copy of the small synthetic demo served with a 1-second delay: two posts for one customer inside the
window make one derived, promoted run in which only that customer's rows changed (their order count
up by the two new orders), the service answers from it at once, and the status route and the audit
log record the outcome with counts and no customer id. Off by default: a post then makes no run.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys
from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app


def _serve(synthetic_demo: Workspace, tmp_path: Path, **overrides: object) -> tuple[Workspace, TestClient, Keys]:
    copy = tmp_path / "ws"
    shutil.copytree(synthetic_demo.path, copy)
    settings = get_settings(workspace=copy, duckdb_threads=2, api_rate_limit_per_minute=100_000, **overrides)
    ws = Workspace.open(copy, settings)
    return ws, TestClient(create_app(settings, workspace=ws)), Keys(ws)


def _line(customer: str, order: str, at: str, product: str) -> dict[str, object]:
    return {"customer_id": customer, "order_id": order, "ordered_at": at, "product_id": product,
            "quantity": 3, "unit_price": 20.0}


def _late_lines(ws: Workspace) -> tuple[str, str, str]:
    parent = RunStore(ws).active()
    features = parent.read_table(out.FEATURES)
    customer = str(features.sort_values("customer_id")["customer_id"].iloc[7])
    at = (pd.Timestamp(str(parent.as_of)) - timedelta(days=1)).strftime("%Y-%m-%d 18:00:00")
    with open_model_data(ws) as data:
        product = str(data.products()["product_id"].iloc[0])
    return customer, at, product


def test_posts_in_one_window_make_one_promoted_derived_run(synthetic_demo: Workspace, tmp_path: Path) -> None:
    ws, client, keys = _serve(synthetic_demo, tmp_path, rescore_after_events_s=1.0)
    store = RunStore(ws)
    parent = store.active()
    old = parent.read_table(out.FEATURES).set_index("customer_id")
    customer, at, product = _late_lines(ws)
    with client:
        before = client.get("/v1/events/rescore", headers=Keys.header(keys.read)).json()
        assert before == {"enabled": True, "delay_s": 1.0, "pending": False, "rescores": 0, "last": None}
        for order in ("BG-1", "BG-2"):
            posted = client.post("/v1/events", headers=Keys.header(keys.write),
                                 json={"transactions": [_line(customer, order, at, product)]})
            assert posted.status_code == 201, posted.text
        state = client.app.state.service
        assert state.rescorer.wait_idle(timeout=180)
        status = client.get("/v1/events/rescore", headers=Keys.header(keys.read)).json()
        assert status["rescores"] == 1 and status["pending"] is False
        last = status["last"]
        assert last["outcome"] == "promoted", last
        assert last["parent_run_id"] == parent.run_id and last["affected_customers"] == 1
        derived = store.active()
        assert derived.run_id == last["run_id"] != parent.run_id
        assert derived.manifest["derived_from"]["run_id"] == parent.run_id
        new = derived.read_table(out.FEATURES).set_index("customer_id")
        assert new.loc[customer, "frequency"] == old.loc[customer, "frequency"] + 2
        others = new.index != customer
        pd.testing.assert_frame_equal(new[others], old.loc[new.index[others]])  # nobody else changed
        served = client.get(f"/v1/customers/{customer}", headers=Keys.header(keys.read)).json()
        assert served["run_id"] == derived.run_id
    audit = [json.loads(line) for line in (ws.artifacts / "audit" / "audit.jsonl").read_text().splitlines()]
    mine = [a for a in audit if a["action"] == "background_rescore"]
    assert len(mine) == 1 and mine[0]["details"]["affected_customers"] == 1
    assert customer not in json.dumps(mine)


def test_off_by_default_a_post_makes_no_run(synthetic_demo: Workspace, tmp_path: Path) -> None:
    ws, client, keys = _serve(synthetic_demo, tmp_path)
    runs = len(RunStore(ws).list())
    customer, at, product = _late_lines(ws)
    with client:
        posted = client.post("/v1/events", headers=Keys.header(keys.write),
                             json={"transactions": [_line(customer, "OFF-1", at, product)]})
        assert posted.status_code == 201
        status = client.get("/v1/events/rescore", headers=Keys.header(keys.read)).json()
        assert status == {"enabled": False, "delay_s": None, "pending": False, "rescores": 0, "last": None}
    assert len(RunStore(ws).list()) == runs


@pytest.mark.parametrize("value", [0.1, -1])
def test_a_delay_below_half_a_second_is_refused(tmp_path: Path, value: float) -> None:
    from targetwise.errors import ConfigError

    with pytest.raises(ConfigError, match=r"rescore_after_events_s: Input should be greater than or equal to 0.5.*"
                       "TARGETWISE_RESCORE_AFTER_EVENTS_S"):
        get_settings(workspace=tmp_path / "ws", rescore_after_events_s=value)
