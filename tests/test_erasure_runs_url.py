# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""An erasure reaches the runs published at a runs URL: every copy there loses that person, and only them.

The driver (where runs are built and people erased) and the service (which serves the URL's active run)
are two workspaces; the URL is read back with fsspec, never through targetwise.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service_fixtures import Keys, keys, make_run, service_ws  # noqa: F401
from targetwise.cli.app import app as cli_app
from targetwise.config import get_settings
from targetwise.errors import NotFoundError, WorkspaceError
from targetwise.io.run_urls import REWRITTEN_FILE, RunUrlStore, unpublished_runs
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.usecases.privacy import erase

# rows per customer in each run of make_run: features, segments, clv, propensity, uplift (1 each), recommendations
ROWS = {"C1": 5 + 3, "C2": 5 + 1, "C3": 5, "C4": 5}


@pytest.fixture
def url(memory_url: str) -> str:
    return memory_url


def workspace(tmp_path: Path, name: str, url: str | None) -> Workspace:
    settings = get_settings(workspace=tmp_path / name, duckdb_threads=1, runs_url=url)
    return Workspace.init(settings.workspace, settings)


def customers_at(url: str, run_id: str) -> Counter[str]:
    """Rows per customer id over every table of the run's copy at the URL (read with fsspec alone)."""
    fs, root = fsspec.core.url_to_fs(f"{url}/{run_id}")
    counts: Counter[str] = Counter()
    for path in fs.find(root):
        if path.endswith(".parquet"):
            table = pd.read_parquet(io.BytesIO(fs.cat_file(path)))
            if "customer_id" in table.columns:
                counts.update(table["customer_id"].astype(str))
    return counts


def bytes_at(url: str, run_id: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(f"{url}/{run_id}")
    return {path[len(root) + 1:]: fs.cat_file(path) for path in sorted(fs.find(root))}


def local_bytes(info: RunInfo) -> dict[str, bytes]:
    return {p.relative_to(info.path).as_posix(): p.read_bytes() for p in sorted(info.path.rglob("*")) if p.is_file()}


def serve(service: Workspace, url: str) -> TestClient:
    settings = service.settings.model_copy(update={"runs_url": url, "runs_url_poll_s": 0.0})
    return TestClient(create_app(settings, workspace=service), base_url="http://127.0.0.1")


def published(url: str, *runs: RunInfo, active: RunInfo) -> RunUrlStore:
    remote = RunUrlStore(url)
    for run in runs:
        remote.publish(run)
    remote.promote(active.run_id)
    return remote


def test_an_erasure_rewrites_every_copy_at_the_url_and_the_service_stops_serving_the_person(
    tmp_path: Path, url: str, service_ws: Workspace, keys: Keys
) -> None:
    driver = workspace(tmp_path, "driver", url)
    first, second = make_run(driver), make_run(driver, scale=10.0)
    other = workspace(tmp_path, "other-job", None)  # a run published by another job: held only at the URL
    third = make_run(other, scale=100.0)
    remote = published(url, first, second, third, active=second)
    ids = sorted([first.run_id, second.run_id, third.run_id])
    assert all(customers_at(url, r) == Counter(ROWS) for r in ids)

    with serve(service_ws, url) as client:
        header = Keys.header(keys.read)
        assert client.get("/v1/customers/C1", headers=header).json()["clv"]["clv"] == 3800.0
        RunUrlStore(url).fetch(first.run_id, RunStore(service_ws))  # an older run cached by the service too

        receipt = erase(driver, "C1", actor="test")

        at_url = receipt.runs_at_url
        assert at_url is not None and at_url.complete and at_url.error is None
        assert at_url.fetched == [third.run_id]
        assert at_url.republished == ids and at_url.unpublished == []
        assert sorted(receipt.runs_rewritten) == ids
        for run_id in ids:  # no row of C1 anywhere at the URL, every row of everyone else
            assert customers_at(url, run_id) == Counter({k: v for k, v in ROWS.items() if k != "C1"})
            held = RunStore(driver).get(run_id)
            assert bytes_at(url, run_id) == local_bytes(held)  # the copy is the erased run, byte for byte
            assert not any(b"C1" in data for data in bytes_at(url, run_id).values())
        rewritten = json.loads(remote.fs.cat_file(f"{remote.root}/{REWRITTEN_FILE}"))
        assert sorted(rewritten) == ids
        assert remote.active_id() == second.run_id  # the pointer did not move

        gone = client.get("/v1/customers/C1", headers=header)
        assert gone.status_code == 404, gone.text
        kept = client.get("/v1/customers/C2", headers=header).json()
        assert (kept["run_id"], kept["clv"]["clv"]) == (second.run_id, 75.0)
    cache = RunStore(service_ws)
    for run_id in (first.run_id, second.run_id):  # the service's cached copies are the erased ones
        assert local_bytes(cache.get(run_id)) == bytes_at(url, run_id)
    assert unpublished_runs(RunStore(driver), url) == ([], False)

    with pytest.raises(NotFoundError, match="not in this workspace"):  # done: a repeat changes nothing
        erase(driver, "C1", actor="test")


def test_an_unreachable_url_leaves_the_erasure_incomplete_and_naming_the_runs_until_it_is_retried(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = workspace(tmp_path, "driver", url)
    first, second = make_run(driver), make_run(driver, scale=10.0)
    make_run(driver, scale=2.0)  # never published: nothing at the URL to rewrite
    published(url, first, second, active=second)
    real_put = RunUrlStore._put

    def down_for_second(self: RunUrlStore, local: Path, path: str) -> None:
        if second.run_id in path:
            raise OSError("connection timed out")
        real_put(self, local, path)

    monkeypatch.setattr(RunUrlStore, "_put", down_for_second)
    runner = CliRunner()
    argv = ["privacy", "erase", "C1", "--yes", "--workspace", str(driver.path)]
    env = {"TARGETWISE_RUNS_URL": url, "COLUMNS": "400"}
    failed = runner.invoke(cli_app, argv, env=env)
    said = " ".join(failed.output.split())
    assert failed.exit_code == 1, failed.output
    assert f"run {first.run_id}: published again to {url}/{first.run_id}/" in said
    assert f"NOT at {url}: {second.run_id} there may still hold the customer" in said
    assert "connection timed out" in said
    assert f"`targetwise runs publish {second.run_id} --runs-url {url}`" in said
    assert customers_at(url, second.run_id)["C1"] == ROWS["C1"]  # true: the copy there still holds C1
    assert customers_at(url, first.run_id)["C1"] == 0
    assert unpublished_runs(RunStore(driver), url) == ([second.run_id], False)

    monkeypatch.setattr(RunUrlStore, "_put", real_put)
    again = runner.invoke(cli_app, argv, env=env)  # the retry: the person is gone here, the URL is finished
    said = " ".join(again.output.split())
    assert again.exit_code == 0, again.output
    assert f"run {second.run_id}: published again" in said and "none holds the customer any more" in said
    for run in (first, second):
        assert customers_at(url, run.run_id) == Counter({k: v for k, v in ROWS.items() if k != "C1"})
    assert unpublished_runs(RunStore(driver), url) == ([], False)
    assert [e["subject"] for e in RunUrlStore(url).get(second.run_id).manifest["erasures"]] == [
        e["subject"] for e in RunStore(driver).get(second.run_id).manifest["erasures"]]
    repeat = runner.invoke(cli_app, argv, env=env)
    assert repeat.exit_code == 1 and "not in this workspace" in " ".join(repeat.output.split())


def test_runs_publish_finishes_an_erasure_and_an_unlistable_url_asks_for_the_erasure_again(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = workspace(tmp_path, "driver", url)
    first = make_run(driver)
    published(url, first, active=first)
    real_put = RunUrlStore._put
    monkeypatch.setattr(RunUrlStore, "_put", lambda self, local, path: (_ for _ in ()).throw(OSError("403")))
    at_url = erase(driver, "C2", actor="test").runs_at_url
    assert at_url is not None and not at_url.complete and at_url.unpublished == [first.run_id]
    monkeypatch.setattr(RunUrlStore, "_put", real_put)
    done = CliRunner().invoke(cli_app, ["runs", "publish", first.run_id, "--runs-url", url,
                                        "--workspace", str(driver.path)], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    assert unpublished_runs(RunStore(driver), url) == ([], False)
    assert customers_at(url, first.run_id) == Counter({k: v for k, v in ROWS.items() if k != "C2"})

    def unreadable(self: RunUrlStore) -> list:
        raise WorkspaceError(f"cannot read the runs at {self.url}: no route to host")

    monkeypatch.setattr(RunUrlStore, "list", unreadable)
    at_url = erase(driver, "C3", actor="test").runs_at_url  # erased here; the URL's part is unknown
    assert at_url is not None and at_url.unlisted and not at_url.complete
    assert at_url.unpublished == [first.run_id] and "no route to host" in (at_url.error or "")
    assert at_url.finish("C3") == f"targetwise privacy erase C3 --yes --runs-url {url}"
    assert customers_at(url, first.run_id)["C3"] == ROWS["C3"]
    assert unpublished_runs(RunStore(driver), url) == ([first.run_id], True)
    monkeypatch.undo()
    at_url = erase(driver, "C4", actor="test").runs_at_url  # another person: C3's left-over run goes too
    assert at_url is not None and at_url.complete and at_url.republished == [first.run_id]
    assert customers_at(url, first.run_id) == Counter({"C1": ROWS["C1"]})
    assert unpublished_runs(RunStore(driver), url) == ([], True)  # C3's erasure never listed the URL: still open
    at_url = erase(driver, "C3", actor="test").runs_at_url  # gone here: the retry checks the URL's runs
    assert at_url is not None and at_url.complete and at_url.republished == []
    assert unpublished_runs(RunStore(driver), url) == ([], False)


def test_a_copy_erased_elsewhere_is_never_published_over_and_is_taken_before_erasing_here(
    tmp_path: Path, url: str
) -> None:
    driver = workspace(tmp_path, "driver", None)
    run = make_run(driver)
    published(url, run, active=run)
    elsewhere = workspace(tmp_path, "elsewhere", url)  # e.g. the service, erasing through its own API
    RunUrlStore(url).fetch(run.run_id, RunStore(elsewhere))
    assert erase(elsewhere, "C2", actor="test").runs_at_url.republished == [run.run_id]
    assert customers_at(url, run.run_id)["C2"] == 0

    stale = RunStore(driver).get(run.run_id)  # the driver's copy still holds C2
    with pytest.raises(WorkspaceError, match="records 1 erasure\\(s\\) that this workspace's copy lacks"):
        RunUrlStore(url).publish(stale)
    assert customers_at(url, run.run_id)["C2"] == 0

    driver_url = get_settings(workspace=driver.path, duckdb_threads=1, runs_url=url)
    at_url = erase(Workspace.open(driver.path, driver_url), "C4", actor="test").runs_at_url
    assert at_url is not None and at_url.complete and at_url.republished == [run.run_id]
    assert customers_at(url, run.run_id) == Counter({"C1": ROWS["C1"], "C3": ROWS["C3"]})  # C2 stayed erased


def test_the_services_erasure_reaches_the_url_too(
    tmp_path: Path, url: str, service_ws: Workspace, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = workspace(tmp_path, "driver", None)
    first, second = make_run(driver), make_run(driver, scale=10.0)
    published(url, first, second, active=second)
    with serve(service_ws, url) as client:
        assert client.get("/v1/customers/C3", headers=Keys.header(keys.read)).status_code == 200
        real_put = RunUrlStore._put
        monkeypatch.setattr(RunUrlStore, "_put", lambda self, local, path: (_ for _ in ()).throw(OSError("503")))
        body = client.delete("/v1/customers/C3", headers=Keys.header(keys.admin)).json()
        assert (body["runs_url_complete"], sorted(body["runs_url_unpublished"])) == (
            False, sorted([first.run_id, second.run_id]))  # not claimed done: both copies there still hold C3
        assert customers_at(url, second.run_id)["C3"] == ROWS["C3"]
        monkeypatch.setattr(RunUrlStore, "_put", real_put)
        body = client.delete("/v1/customers/C3", headers=Keys.header(keys.admin)).json()
        assert (body["runs_url_complete"], body["runs_url_unpublished"], body["rows_removed"]) == (True, [], 0)
        assert client.get("/v1/customers/C3", headers=Keys.header(keys.read)).status_code == 404
    for run in (first, second):
        assert customers_at(url, run.run_id) == Counter({k: v for k, v in ROWS.items() if k != "C3"})


def test_a_file_the_erasure_deletes_is_deleted_at_the_url_too(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/bucket/runs"
    driver = workspace(tmp_path, "driver", url)
    writer = RunStore(driver).begin(as_of="2011-12-09", parameters={"fixture": True})
    # two JSON outputs, each about one person alone (an erasure deletes such a file whole)
    writer.write_json("segments/rfm_counts.json", {"customer_id": "C1", "note": "about C1 alone"})
    writer.write_json("drift/drift.json", {"customer_id": "C2", "note": "about C2 alone"})
    writer.stage_record("segments").status = "ok"
    run = writer.commit()
    remote = published(url, run, active=run)
    assert sorted(bytes_at(url, run.run_id)) == ["drift/drift.json", "manifest.json", "segments/rfm_counts.json"]
    cache = RunStore(workspace(tmp_path, "service", url))
    remote.fetch(run.run_id, cache)
    seen = remote.refresh(cache)  # what a service polling the URL read last
    receipt = erase(driver, "C1", actor="test")
    assert receipt.runs_at_url is not None and receipt.runs_at_url.republished == [run.run_id]
    assert sorted(bytes_at(url, run.run_id)) == ["drift/drift.json", "manifest.json"]  # gone there as here
    assert bytes_at(url, run.run_id) == local_bytes(RunStore(driver).get(run.run_id))
    assert remote.refresh(cache, seen=seen) != seen  # REWRITTEN moved: the cached copy is fetched again
    assert local_bytes(cache.get(run.run_id)) == bytes_at(url, run.run_id)
