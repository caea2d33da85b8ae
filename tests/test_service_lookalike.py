"""Lookalike and id-file audiences on the REST API (issue 22), on a copy of the small synthetic demo.

The API answers exactly what the use case answers (same size curve, same members once saved), never a
member id; saving needs a write key; a bad size is refused in the one error shape naming the field; an
uploaded id file becomes an audience of exactly the known, allowed ids, each left-out kind counted as planted.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys
from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import record_consent
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.usecases.audiences import create_audience_from_ids
from targetwise.usecases.lookalikes import lookalike_audience
from targetwise.usecases.privacy import erase
from targetwise.usecases.runs import active_run

SEED_SIZE = 30


@pytest.fixture()
def shop(synthetic_demo: Workspace, tmp_path: Path) -> Workspace:
    copy = tmp_path / "ws"
    shutil.copytree(synthetic_demo.path, copy)
    return Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2, api_rate_limit_per_minute=100_000))


@pytest.fixture()
def served(shop: Workspace) -> Iterator[tuple[TestClient, Keys, list[str]]]:
    """The app, its keys, and the seed: the 30 biggest spenders saved as audience seed-v1 (by the use case)."""
    features = active_run(shop).table(out.FEATURES)
    heavy = features.sort_values(["monetary_total", "customer_id"], ascending=[False, True])
    seed = heavy["customer_id"].astype(str).head(SEED_SIZE).tolist()
    create_audience_from_ids(shop, active_run(shop), name="Seed", content="\n".join(seed).encode(), source="seed.txt",
                             created_by="test")
    keys = Keys(shop)
    with TestClient(create_app(shop.settings, workspace=shop), base_url="http://127.0.0.1") as client:
        yield client, keys, seed


def test_lookalike_preview_is_the_use_case_without_member_ids(served, shop: Workspace) -> None:
    client, keys, seed = served
    response = client.post("/v1/audiences/seed-v1/lookalike", json={"size": 40}, headers=Keys.header(keys.read))
    assert response.status_code == 200, response.text
    body = response.json()
    direct = lookalike_audience(shop, active_run(shop), "seed-v1", size=40)
    assert body == json.loads(json.dumps(direct.to_dict()))  # same curve, same expected point, same counts
    assert body["seed_size"] == SEED_SIZE and body["size"] == 40 and body["saved"] is None
    assert body["candidates"] == len(active_run(shop).table(out.FEATURES)) - SEED_SIZE
    assert [p["size"] for p in body["curve"]][-1] == body["candidates"] and body["expected"]["size"] == 40
    assert "members" not in body and not set(direct.members) & set(seed)  # only customers outside the seed
    text = response.text
    assert not any(f'"{cid}"' in text for cid in direct.members)  # no member id anywhere in the answer
    assert len(AudienceStore(shop).list()) == 1  # a preview saves nothing

    knn = client.post("/v1/audiences/seed-v1/lookalike", json={"size": 40, "method": "knn"},
                      headers=Keys.header(keys.read)).json()
    assert knn == json.loads(json.dumps(lookalike_audience(shop, active_run(shop), "seed-v1", size=40,
                                                           method="knn").to_dict()))
    assert knn["method"] == "knn"


def test_saving_a_lookalike_needs_a_write_key_and_saves_the_use_cases_members(served, shop: Workspace) -> None:
    client, keys, seed = served
    store = AudienceStore(shop)
    refused = client.post("/v1/audiences/seed-v1/lookalike", json={"size": 25, "save_as": "Like seed"},
                          headers=Keys.header(keys.read))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden" and "this needs 'write'" in error["message"]
    assert len(store.list()) == 1
    unauthenticated = client.post("/v1/audiences/seed-v1/lookalike", json={"size": 25})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["code"] == "unauthorized"

    saved = client.post("/v1/audiences/seed-v1/lookalike", json={"size": 25, "save_as": "Like seed"},
                        headers=Keys.header(keys.write))
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["saved"]["id"] == "like-seed-v1" and body["saved"]["size"] == 25
    assert body["saved"]["created_by"] == keys.write_key.id
    direct = lookalike_audience(shop, active_run(shop), "seed-v1", size=25)
    members = store.members("like-seed-v1")
    assert members == list(direct.members) and not set(members) & set(seed)
    assert store.get("like-seed-v1").source["seed"] == "seed-v1"


@pytest.mark.parametrize(
    ("payload", "where"),
    [({"size": 0}, "body.size"), ({"size": "40"}, "body.size"), ({"size": True}, "body.size"),
     ({"size": 40, "method": "svm"}, "body.method"), ({"size": 40, "save_as": "!!"}, "body.save_as")],
)
def test_a_bad_request_is_refused_in_the_error_shape_naming_the_field(served, payload, where) -> None:
    client, keys, _ = served
    response = client.post("/v1/audiences/seed-v1/lookalike", json=payload, headers=Keys.header(keys.write))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["message"].startswith(f"invalid request: {where}: ")


def test_a_size_beyond_the_candidates_and_an_unknown_seed_are_refused(served, shop: Workspace) -> None:
    client, keys, _ = served
    candidates = len(active_run(shop).table(out.FEATURES)) - SEED_SIZE
    too_big = client.post("/v1/audiences/seed-v1/lookalike", json={"size": candidates + 1},
                          headers=Keys.header(keys.read))
    assert too_big.status_code == 422
    error = too_big.json()["error"]
    assert error["code"] == "data_validation_error"
    assert error["location"]["column"] == "size" and error["location"]["value"] == str(candidates + 1)
    assert f"is outside 1 to {candidates:,}" in error["message"] and error["fix"]
    missing = client.post("/v1/audiences/nobody-v1/lookalike", json={"size": 5}, headers=Keys.header(keys.read))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_id_upload_counts_what_it_leaves_out_exactly_as_planted(served, shop: Workspace) -> None:
    client, keys, _ = served
    customers = sorted(active_run(shop).table(out.FEATURES)["customer_id"].astype(str))
    kept, erased_one, objector = customers[:10], customers[10], customers[11]
    erase(shop, erased_one, actor="test")
    record_consent(shop, objector, purpose="profiling", status="denied", source="test objection")
    lines = ["customer_id", *kept, "NOPE-1", kept[0], kept[1], "", " ", erased_one, objector, "NOPE-2", "NOPE-3"]
    content = ("\n".join(lines) + "\n").encode()
    files = {"file": ("crm export.csv", content, "text/csv")}

    refused = client.post("/v1/audiences/ids", files=files, data={"name": "From CRM"}, headers=Keys.header(keys.read))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    response = client.post("/v1/audiences/ids", files=files, data={"name": "From CRM"},
                           headers=Keys.header(keys.write))
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("listed", "unknown", "erased", "objected", "repeated", "blank")} == {
        "listed": 15, "unknown": 3, "erased": 1, "objected": 1, "repeated": 2, "blank": 2}
    audience = body["audience"]
    assert audience["id"] == "from-crm-v1" and audience["size"] == 10 and audience["created_by"] == keys.write_key.id
    assert audience["excluded"] == {"profiling_objection": 1, "erased": 1, "unknown_id": 3}
    assert body["notes"][0].startswith("3 of 15 ids are not customers of run") and "'NOPE-1'" in body["notes"][0]
    assert "2 ids were listed more than once: counted once" in body["notes"]
    assert "2 blank lines: skipped" in body["notes"]
    assert AudienceStore(shop).members("from-crm-v1") == kept
    assert AudienceStore(shop).get("from-crm-v1").source["file"] == "crm export.csv"


def test_id_upload_refusals_are_in_the_error_shape(served) -> None:
    client, keys, _ = served
    write = Keys.header(keys.write)
    latin = client.post("/v1/audiences/ids", files={"file": ("ids.txt", b"C\xe91\n", "text/plain")},
                        data={"name": "Latin"}, headers=write)
    assert latin.status_code == 422
    assert latin.json()["error"]["message"] == "ids.txt: byte 1 is not UTF-8 text"
    assert latin.json()["error"]["location"]["file"] == "ids.txt"
    nobody = client.post("/v1/audiences/ids", files={"file": ("ids.txt", b"NOPE-1\nNOPE-2\n", "text/plain")},
                         data={"name": "Nobody"}, headers=write)
    assert nobody.status_code == 422 and "none of the 2 ids of ids.txt is a customer" in nobody.json()["error"]["message"]
    unnamed = client.post("/v1/audiences/ids", files={"file": ("ids.txt", b"X\n", "text/plain")},
                          data={"name": "!!"}, headers=write)
    assert unnamed.status_code == 422 and unnamed.json()["error"]["message"].startswith("invalid request: body.name: ")
    no_file = client.post("/v1/audiences/ids", data={"name": "No file"}, headers=write)
    assert no_file.status_code == 422 and no_file.json()["error"]["message"].startswith("invalid request: body.file: ")
    # "ids" is no audience id: GET there is not a lookup of an audience "ids"
    assert client.get("/v1/audiences/ids", headers=Keys.header(keys.read)).headers["allow"] == "POST"
