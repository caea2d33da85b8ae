"""Next-best offers on a workspace (issue 22): ingest of the offer tables, assignment, logging, consent,
erasure and off-policy evaluation against a planted reward function (tests/offers_fixtures.py).

Known answers: holdout decisions carry exactly ``1 / n_eligible``; only live offers whose conditions hold
are given; the estimates are within 10 % of the exact values of the evaluated policies over the log;
the CLI's ``--json`` is the use case's ``to_dict()``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from offers_fixtures import LIVE, PlantedLog, logging_true_value, plant_offer_log, true_value
from targetwise.cli.app import app
from targetwise.config import get_settings
from targetwise.io.consent import record_consent
from targetwise.io.ingest import quarantined_rows
from targetwise.io.offers import offer_log
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.offers import assign_offers, evaluate_offers
from targetwise.usecases.privacy import erase
from targetwise.usecases.runs import active_run

runner = CliRunner()
NOW = "2026-11-01 09:30"


@pytest.fixture(scope="module")
def planted_shop(synthetic_demo: Workspace, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlantedLog, str]:
    """The demo with offers, a planted log, an audience of everyone and one later profiling objector."""
    folder = tmp_path_factory.mktemp("offers")
    root = folder / "ws"
    shutil.copytree(synthetic_demo.path, root)
    ws = Workspace.open(root, get_settings(workspace=root, duckdb_threads=2))
    planted = plant_offer_log(ws, folder)
    create_audience(ws, active_run(ws), name="everyone", conditions=[], created_by="test")
    objector = str(planted.mu.index[5])
    record_consent(ws, objector, purpose="profiling", status="denied", source="test objection")
    return root, planted, objector


def _copy(planted_shop: tuple[Path, PlantedLog, str], tmp_path: Path, name: str = "ws") -> Workspace:
    copy = tmp_path / name
    shutil.copytree(planted_shop[0], copy)
    return Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2))


def test_a_bad_propensity_is_quarantined_naming_row_column_value(planted_shop, tmp_path: Path) -> None:
    ws = _copy(planted_shop, tmp_path)
    bad = tmp_path / "decisions.csv"
    lines = [f"C000001,A,2026-06-0{d} 10:00,0.5,1,click" for d in range(1, 8)]
    lines[2] = "C000001,A,2026-06-03 10:00,0,1,click"
    lines[4] = "C000001,B,2026-06-05 10:00,1.5,0,click"
    bad.write_text("customer_id,offer_id,decided_at,propensity,reward,reward_kind\n" + "\n".join(lines) + "\n")
    done = runner.invoke(app, ["ingest", "offer_decisions", str(bad), "--workspace", str(ws.path)])
    assert done.exit_code == 0, done.output
    page = quarantined_rows(ws, table="offer_decisions")
    got = {(r.row, r.reason_code, r.column, r.value) for r in page.rows}
    assert got == {(3, "invalid_propensity", "propensity", "0"), (5, "invalid_propensity", "propensity", "1.5")}


def test_assign_gives_live_eligible_offers_and_logs_every_decision(planted_shop, tmp_path: Path) -> None:
    _, planted, objector = planted_shop
    ws = _copy(planted_shop, tmp_path)
    run = active_run(ws)
    before = len(offer_log(ws))
    result = assign_offers(ws, run, "everyone", holdout=0.1, random_state=3, now=NOW)
    table = result.table
    assert result.offers == LIVE  # X ended, F starts in 2099
    assert set(table["offer_id"]) <= set(LIVE) and objector not in set(table["customer_id"])
    assert result.excluded["profiling_objection"] == 1
    assert len(table) == result.audience_size - 1 == len(planted.mu) - 1
    eligible = planted.eligible.loc[table["customer_id"]]
    given = np.array([eligible.loc[c, o] for c, o in zip(table["customer_id"], table["offer_id"], strict=True)])
    assert given.all()  # C only to frequent customers who allow SMS
    assert (table["n_eligible"].to_numpy() == eligible.sum(axis=1).to_numpy()).all()
    p = table["propensity"].to_numpy()
    assert ((p > 0) & (p <= 1)).all() and (p >= 0.1 / table["n_eligible"] - 1e-12).all()
    assert 0.04 < table["holdout"].mean() < 0.18
    # the learned policy mostly gives the planted best eligible offer
    mu = planted.mu.loc[table["customer_id"]].where(eligible, -1.0)
    best = mu.idxmax(axis=1).to_numpy()
    learned = ~table["holdout"].to_numpy()
    assert (table["offer_id"].to_numpy()[learned] == best[learned]).mean() > 0.6
    # every decision is in the log, with its propensity and holdout flag, rewards still to come
    log = offer_log(ws)
    assert len(log) == before + len(table)
    new = log[log["decided_at"] == pd.Timestamp(NOW)].set_index("customer_id").loc[table["customer_id"]]
    assert (new["offer_id"].to_numpy() == table["offer_id"].to_numpy()).all()
    assert np.allclose(new["propensity"].to_numpy(), p) and (new["holdout"].to_numpy() == table["holdout"]).all()
    assert new["reward"].isna().all()
    assert objector not in set(log["customer_id"])  # objectors train nothing


def test_a_full_holdout_is_uniform_over_the_eligible_offers(planted_shop, tmp_path: Path) -> None:
    ws = _copy(planted_shop, tmp_path)
    result = assign_offers(ws, active_run(ws), "everyone", holdout=1.0, random_state=0, now=NOW)
    table = result.table
    assert table["holdout"].all()
    assert np.allclose(table["propensity"], 1.0 / table["n_eligible"])


def test_erasure_removes_exactly_that_persons_decisions(planted_shop, tmp_path: Path) -> None:
    ws = _copy(planted_shop, tmp_path)
    assign_offers(ws, active_run(ws), "everyone", random_state=0, now=NOW)
    with ws.connect(read_only=True) as con:
        rows = con.execute("SELECT * FROM offer_decisions").df()
        offers_before = con.execute("SELECT * FROM offers ORDER BY offer_id").df()
    person = str(rows["customer_id"].iloc[0])
    erase(ws, person, actor="test")
    with ws.connect(read_only=True) as con:
        after = con.execute("SELECT * FROM offer_decisions").df()
        offers_after = con.execute("SELECT * FROM offers ORDER BY offer_id").df()
    kept = rows[rows["customer_id"] != person]
    assert (rows["customer_id"] == person).sum() > 0 and person not in set(after["customer_id"])
    key = ["customer_id", "offer_id", "decided_at", "load_id", "source_row"]
    pd.testing.assert_frame_equal(after.sort_values(key).reset_index(drop=True),
                                  kept.sort_values(key).reset_index(drop=True))
    pd.testing.assert_frame_equal(offers_after, offers_before)


def test_evaluate_is_within_ten_percent_of_the_planted_values(planted_shop) -> None:
    root, planted, objector = planted_shop
    ws = Workspace.open(root, get_settings(workspace=root, duckdb_threads=2))
    result = evaluate_offers(ws, active_run(ws), random_state=0)
    assert objector not in set(result.rows["customer_id"])
    assert result.evaluated == len(planted.log) - 20  # the objector's 20 decisions are left out
    truth = {
        "learned": true_value(planted, result.rows, result.offers, result.probabilities["learned"]),
        "uniform": true_value(planted, result.rows, result.offers, result.probabilities["uniform"]),
    }
    for policy, value in truth.items():
        for estimator in ("ipw", "snipw", "dr"):
            estimate = result.value(policy, estimator)
            assert abs(estimate.value - value) <= 0.1 * value, (policy, estimator, estimate, value)
            assert estimate.low <= estimate.value <= estimate.high
    logging = logging_true_value(planted, result.rows)
    assert abs(result.value("logging", "on_policy").value - logging) <= 0.1 * logging
    # the learned policy is truly better than both, and the estimates say so
    assert truth["learned"] > logging + 0.02 and truth["learned"] > truth["uniform"] + 0.02
    assert result.gains()["over_logging"] > 0 and result.gains()["over_uniform"] > 0


def test_the_cli_json_equals_the_use_cases(planted_shop, tmp_path: Path) -> None:
    ws = _copy(planted_shop, tmp_path, "a")
    other = _copy(planted_shop, tmp_path, "b")
    expected = assign_offers(ws, active_run(ws), "everyone", now=NOW).to_dict()
    out_file = tmp_path / "decisions.csv"
    done = runner.invoke(app, ["offers", "assign", "--audience", "everyone", "--at", NOW, "--json", "--out",
                               str(out_file), "--workspace", str(other.path)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == expected
    written = pd.read_csv(out_file)
    assert len(written) == expected["assigned"] and set(written["offer_id"]) <= set(LIVE)

    evaluated = evaluate_offers(ws, active_run(ws), n_bootstrap=50).to_dict()
    done = runner.invoke(app, ["offers", "evaluate", "--bootstrap", "50", "--json", "--workspace", str(ws.path)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == evaluated
    refused = runner.invoke(app, ["offers", "assign", "--audience", "nobody", "--workspace", str(ws.path)])
    assert refused.exit_code == 1 and "saved audience 'nobody' not found" in refused.output


def test_the_api_assigns_and_evaluates_as_the_use_cases(planted_shop, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from targetwise.io.keys import KeyStore
    from targetwise.service.app import create_app

    served, other = _copy(planted_shop, tmp_path, "served"), _copy(planted_shop, tmp_path, "other")
    _, read = KeyStore(served).create(scope="read", name="reader")
    _, write = KeyStore(served).create(scope="write", name="marketer")
    with TestClient(create_app(served.settings, workspace=served)) as client:
        body = {"audience_id": "everyone", "holdout": 0.2, "assignments": True}
        refused = client.post("/v1/offers/assign", json=body, headers={"Authorization": f"Bearer {read}"})
        assert refused.status_code == 403 and refused.json()["error"]["code"]
        done = client.post("/v1/offers/assign", json=body, headers={"Authorization": f"Bearer {write}"})
        assert done.status_code == 200, done.text
        answer = done.json()
        # the same decisions as the use case at the same moment on an identical workspace
        expected = assign_offers(other, active_run(other), "everyone", holdout=0.2,
                                 now=answer["decided_at"]).to_dict(assignments=True)
        assert answer == expected
        assert answer["assigned"] == len(answer["assignments"]) > 0
        assert {a["offer_id"] for a in answer["assignments"]} <= set(LIVE)
        assert all(0 < a["propensity"] <= 1 for a in answer["assignments"])
        logged = offer_log(served)
        assert len(logged) == len(offer_log(other))  # every decision logged, as by the use case

        evaluated = client.get("/v1/offers/evaluate", headers={"Authorization": f"Bearer {read}"})
        assert evaluated.status_code == 200, evaluated.text
        assert evaluated.json() == json.loads(json.dumps(evaluate_offers(served, active_run(served)).to_dict()))
        missing = client.post("/v1/offers/assign", json={"audience_id": "nobody"},
                              headers={"Authorization": f"Bearer {write}"})
        assert missing.status_code in (404, 422) and "nobody" in missing.json()["error"]["message"]
