"""Audiences from an id file and lookalike audiences on the CLI (issue 22), erasure of their members.

A copy of the small synthetic demo: an id file that lists known customers, unknown ids, a repeat, a
blank line, an erased customer and a profiling objector becomes an audience of exactly the known,
allowed ids (each left-out kind counted); a lookalike of it ranks only customers outside the seed; an
erased member leaves both the members file and the ``customer_id in [...]`` definition, nobody else does.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from targetwise.cli.app import app
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import record_consent
from targetwise.io.id_lists import read_id_list
from targetwise.io.workspace import Workspace
from targetwise.usecases.privacy import erase
from targetwise.usecases.runs import active_run

runner = CliRunner()


def said(result) -> str:  # Rich wraps at the terminal's width
    return " ".join(result.output.split())


@pytest.fixture()
def shop(synthetic_demo: Workspace, tmp_path: Path) -> Workspace:
    copy = tmp_path / "ws"
    shutil.copytree(synthetic_demo.path, copy)
    return Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2))


def test_read_id_list_shapes_and_refusals() -> None:
    listed = read_id_list(b"email,customer_id\nx@y.z, C1 \n,\nq@r.s,C2\nz@z.z,C1\n", source="ids.csv")
    assert listed.ids == ("C1", "C2") and listed.blank == 1 and listed.repeated == 1
    plain = read_id_list("\ufeffC9\n\nC8\nC9\n".encode(), source="ids.txt")
    assert plain.ids == ("C9", "C8") and plain.blank == 1 and plain.repeated == 1
    with pytest.raises(DataValidationError, match=r"wide.csv has 2 columns \('a', 'b'\) and none is customer_id"):
        read_id_list(b"a,b\n1,2\n", source="wide.csv")
    with pytest.raises(DataValidationError, match=r"latin\.txt: byte 1 is not UTF-8"):
        read_id_list(b"C\xe91\n", source="latin.txt")


def test_ids_audience_counts_what_it_leaves_out_and_erasure_removes_exactly_one(shop: Workspace, tmp_path: Path) -> None:
    run = active_run(shop)
    customers = sorted(run.table(out.FEATURES)["customer_id"].astype(str))
    kept, erased_one, objector = customers[:10], customers[10], customers[11]
    erase(shop, erased_one, actor="test")
    record_consent(shop, objector, purpose="profiling", status="denied", source="test objection")
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join([*kept, "NOPE-1", kept[0], "", erased_one, objector, "NOPE-2"]) + "\n")
    done = runner.invoke(app, ["audience", "create", "From file", "--ids", str(ids), "--workspace", str(shop.path)])
    assert done.exit_code == 0, done.output
    text = said(done)
    assert "10 customers of the 14 ids listed" in text
    assert "2 of 14 ids are not customers of run" in text and "'NOPE-1'" in text
    assert "1 ids belong to erased customers: left out" in text
    assert "1 customers objected to profiling: left out" in text
    assert "1 ids were listed more than once: counted once" in text and "1 blank lines: skipped" in text
    store = AudienceStore(shop)
    record = store.list()[-1]
    assert record.id == "from-file-v1" and record.size == 10
    assert store.members(record.id) == kept
    assert record.definition == [{"field": "customer_id", "op": "in", "value": kept}]
    assert record.excluded == {"profiling_objection": 1, "erased": 1, "unknown_id": 2}
    assert record.source == {"kind": "ids", "file": "ids.txt", "listed": 14, "blank": 1, "repeated": 1}

    refused = runner.invoke(app, ["audience", "create", "X", "--ids", str(ids), "--where", "frequency >= 2",
                                  "--workspace", str(shop.path)])
    assert refused.exit_code != 0 and "--ids and --where cannot be combined" in said(refused)

    erase(shop, kept[3], actor="test")
    after = store.get(record.id)
    assert store.members(record.id) == kept[:3] + kept[4:]
    assert after.size == 9 and after.definition[0]["value"] == kept[:3] + kept[4:]
    assert kept[3] not in (store.root / f"{record.id}.json").read_text()


def test_lookalike_cli_ranks_outside_the_seed_and_saves(shop: Workspace) -> None:
    run = active_run(shop)
    features = run.table(out.FEATURES)
    heavy = features.sort_values(["monetary_total", "customer_id"], ascending=[False, True])
    seed = heavy["customer_id"].astype(str).head(30).tolist()
    ids = shop.path / "seed.csv"
    pd.DataFrame({"customer_id": seed}).to_csv(ids, index=False)
    assert runner.invoke(app, ["audience", "create", "Seed", "--ids", str(ids), "--workspace", str(shop.path)]).exit_code == 0

    done = runner.invoke(app, ["audience", "lookalike", "seed-v1", "--size", "40", "--save", "Like seed", "--json",
                               "--workspace", str(shop.path)])
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["seed_size"] == 30 and body["size"] == 40 and body["candidates"] == len(features) - 30
    assert "members" not in body  # ids stay off the printed JSON
    sizes = [p["size"] for p in body["curve"]]
    assert sizes == sorted(sizes) and 40 in sizes and sizes[-1] == body["candidates"]
    similarity = [p["expected_similarity"] for p in body["curve"]]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(similarity))  # bigger lists: less alike
    store = AudienceStore(shop)
    saved = store.get(body["saved"]["id"])
    members = store.members(saved.id)
    assert len(members) == 40 and not set(members) & set(seed)
    assert saved.source["kind"] == "lookalike" and saved.source["seed"] == "seed-v1" and saved.source["size"] == 40
    # the seed's customers are big spenders: their lookalikes spend more than the customers left out
    spend = features.set_index(features["customer_id"].astype(str))["monetary_total"]
    rest = spend.drop(seed + members)
    assert spend[members].median() > rest.median()

    bad = runner.invoke(app, ["audience", "lookalike", "seed-v1", "--size", "5", "--method", "svm",
                              "--workspace", str(shop.path)])
    assert bad.exit_code != 0 and "unknown lookalike method 'svm'" in said(bad)
    too_big = runner.invoke(app, ["audience", "lookalike", "seed-v1", "--size", str(len(features)),
                                  "--workspace", str(shop.path)])
    assert too_big.exit_code != 0 and "is outside 1 to" in said(too_big)


def test_a_lookalike_follows_the_run_config_its_run_was_made_with(shop: Workspace) -> None:
    """`targetwise run --set lookalike.method=knn` shapes the lookalikes drawn from that run (recorded in its manifest)."""
    from targetwise.pipeline.run import run_pipeline
    from targetwise.runconfig import RunConfig
    from targetwise.usecases.lookalikes import lookalike_audience, run_lookalike_config

    default_run = active_run(shop)
    assert run_lookalike_config(default_run) == RunConfig().lookalike
    features = default_run.table(out.FEATURES)
    seed = features.sort_values("customer_id")["customer_id"].astype(str).head(25).tolist()
    ids = shop.path / "seed.csv"
    pd.DataFrame({"customer_id": seed}).to_csv(ids, index=False)
    assert runner.invoke(app, ["audience", "create", "Seed", "--ids", str(ids), "--workspace", str(shop.path)]).exit_code == 0
    assert lookalike_audience(shop, default_run, "seed-v1", size=10).method == "pu"

    config = RunConfig.parse({"lookalike": {"method": "knn", "n_neighbors": 7}})
    run_pipeline(shop, shop.settings, as_of=default_run.as_of, stages=["features"], config=config)
    knn_run = active_run(shop)
    assert knn_run.run_id != default_run.run_id
    assert run_lookalike_config(knn_run).method == "knn" and run_lookalike_config(knn_run).n_neighbors == 7
    done = runner.invoke(app, ["audience", "lookalike", "seed-v1", "--size", "10", "--json", "--workspace", str(shop.path)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["method"] == "knn"
    # the run's neighbours count is the one used: the same list as the ranker called with n_neighbors=7
    from targetwise.runconfig import LookalikeConfig

    seven = lookalike_audience(shop, knn_run, "seed-v1", size=10, config=LookalikeConfig(method="knn", n_neighbors=7))
    fifty = lookalike_audience(shop, knn_run, "seed-v1", size=10, config=LookalikeConfig(method="knn", n_neighbors=50))
    assert lookalike_audience(shop, knn_run, "seed-v1", size=10).curve == seven.curve
    assert seven.curve != fifty.curve
