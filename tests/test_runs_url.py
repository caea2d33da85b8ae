# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""Run folders at an fsspec URL: a driver publishes (manifest last, pointer after), a service elsewhere serves.

Real fsspec filesystems: ``file://`` on a temporary folder and the in-process ``memory://``. The driver and
the service are two workspaces; the service never sees the driver's folder, only the URL.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from service_fixtures import Keys, keys, make_run, service_ws  # noqa: F401
from targetwise.cli.app import app as cli_app
from targetwise.config import get_settings
from targetwise.errors import ConfigError, NotFoundError, WorkspaceError
from targetwise.io.ingest import ingest
from targetwise.io.run_urls import RunUrlStore
from targetwise.io.runs import STAGING_PREFIX, RunInfo, RunStore, _sha256
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.service.app import create_app


@pytest.fixture
def driver(tmp_path: Path) -> Workspace:
    """The job's own workspace (a cluster driver): runs are built here, then published."""
    settings = get_settings(workspace=tmp_path / "driver", duckdb_threads=1)
    return Workspace.init(settings.workspace, settings)


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    return f"file://{tmp_path}/bucket/runs"


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative posix path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def remote_files(url: str, run_id: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(f"{url}/{run_id}")
    return {path[len(root) + 1:]: fs.cat_file(path) for path in sorted(fs.find(root))}


def serve(service: Workspace, url: str, *, poll_s: float = 0.0) -> TestClient:
    settings = service.settings.model_copy(update={"runs_url": url, "runs_url_poll_s": poll_s})
    return TestClient(create_app(settings, workspace=service), base_url="http://127.0.0.1")


def served(client: TestClient, keys: Keys) -> tuple[str, float]:
    """The run id and C1's CLV the service answers with."""
    body = client.get("/v1/customers/C1", headers=Keys.header(keys.read)).json()
    return body["run_id"], body["clv"]["clv"]


def publish(url: str, info: RunInfo, *, promote: bool = True) -> RunUrlStore:
    remote = RunUrlStore(url)
    remote.publish(info)
    if promote:
        remote.promote(info.run_id)
    return remote


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_published_run_is_served_back_equal_file_by_file(
    kind: str, driver: Workspace, service_ws: Workspace, keys: Keys, file_url: str, memory_url: str
) -> None:
    url = file_url if kind == "file" else memory_url
    run = make_run(driver)
    local = files_of(run.path)
    assert "manifest.json" in local and len(local) == 10  # nine outputs of the fixture run, and its manifest

    remote = publish(url, run)
    assert remote_files(url, run.run_id) == local
    assert [r.run_id for r in remote.list()] == [run.run_id] and remote.active_id() == run.run_id

    with serve(service_ws, url) as client:
        assert served(client, keys) == (run.run_id, 380.0)
        assert client.get("/v1/health").json()["active_run"] == run.run_id
    cached = RunStore(service_ws)
    assert files_of(cached.root / run.run_id) == local  # the cache keyed by run id: the same bytes
    assert cached.active_id() == run.run_id


def test_an_interrupted_publish_leaves_the_previous_run_served_and_the_partial_run_unlisted(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_run(driver)
    publish(memory_url, first)
    second = make_run(driver, scale=10.0)
    last_data_file = sorted(second.manifest["files"])[-1]
    real_put = RunUrlStore._put

    def put_failing_on_the_last(self: RunUrlStore, local: Path, path: str) -> None:
        if path.endswith(last_data_file):
            raise OSError("connection reset by peer")
        real_put(self, local, path)

    with serve(service_ws, memory_url) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        monkeypatch.setattr(RunUrlStore, "_put", put_failing_on_the_last)
        remote = RunUrlStore(memory_url)
        with pytest.raises(WorkspaceError, match=rf"publishing run {second.run_id} .* connection reset by peer.*"
                           rf"Fix: run `targetwise runs publish {second.run_id} --runs-url {memory_url}`"):
            remote.publish(second)
        partial = remote_files(memory_url, second.run_id)
        assert len(partial) == 8 and "manifest.json" not in partial  # 8 of 9 outputs made it, no manifest
        assert [r.run_id for r in remote.list()] == [first.run_id]
        with pytest.raises(NotFoundError, match=f"run '{second.run_id}' is not published at {memory_url}"):
            remote.promote(second.run_id)
        assert remote.active_id() == first.run_id
        assert served(client, keys) == (first.run_id, 380.0)
        assert not (RunStore(service_ws).root / second.run_id).exists()

        monkeypatch.setattr(RunUrlStore, "_put", real_put)
        assert remote.publish(second).copied == 9  # no manifest there: every file again, then the manifest
        remote.promote(second.run_id)
        assert served(client, keys) == (second.run_id, 3800.0)
    assert remote_files(memory_url, second.run_id) == files_of(second.path)


def test_publishing_again_is_idempotent_and_sends_only_what_changed(
    driver: Workspace, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(driver)
    remote = RunUrlStore(memory_url)
    first = remote.publish(run)
    assert (first.copied, first.unchanged) == (9, False)
    before = remote_files(memory_url, run.run_id)

    sent: list[str] = []
    real_put = RunUrlStore._put
    monkeypatch.setattr(RunUrlStore, "_put", lambda self, local, path: (sent.append(path), real_put(self, local, path)))
    again = remote.publish(run)
    assert (again.copied, again.unchanged, sent) == (0, True, [])
    assert remote_files(memory_url, run.run_id) == before

    # the run rewritten here (as an erasure does: one table and the manifest): that table alone goes up again
    table = run.path / "uplift" / "uplift.parquet"
    pd.DataFrame({"customer_id": ["C1"], "uplift_email": [0.1]}).to_parquet(table, index=False)
    manifest = json.loads((run.path / "manifest.json").read_text())
    manifest["files"]["uplift/uplift.parquet"] = _sha256(table)
    (run.path / "manifest.json").write_text(json.dumps(manifest))
    rewritten = remote.publish(run)
    assert (rewritten.copied, rewritten.unchanged) == (1, False)
    assert sent == [f"{remote.root}/{run.run_id}/uplift/uplift.parquet"]
    assert remote_files(memory_url, run.run_id) == files_of(run.path)


def test_the_service_swaps_to_a_newly_published_run_and_never_fetches_a_run_twice(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    remote = publish(memory_url, first)
    with serve(service_ws, memory_url) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        publish(memory_url, second, promote=False)
        assert served(client, keys) == (first.run_id, 380.0)  # published, not promoted: not served
        remote.promote(second.run_id)
        assert served(client, keys) == (second.run_id, 3800.0)
        assert {p.name for p in RunStore(service_ws).root.iterdir() if not p.name.startswith(".")} == {
            first.run_id, second.run_id, "ACTIVE"}

        fetched: list[str] = []
        monkeypatch.setattr(type(remote.fs), "get_file", lambda self, rpath, lpath, **kw: fetched.append(rpath))
        remote.promote(first.run_id)  # back to the first run: it is in the cache already
        assert served(client, keys) == (first.run_id, 380.0)
        assert fetched == []


def test_the_pointer_is_read_once_per_poll_interval(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    remote = publish(memory_url, first)
    with serve(service_ws, memory_url, poll_s=3600) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        publish(memory_url, second)
        assert served(client, keys) == (first.run_id, 380.0)  # the next read of the pointer is an hour away
        client.app.state.service.runs.follow(now=True)
        assert served(client, keys) == (second.run_id, 3800.0)
    assert remote.active_id() == second.run_id


def test_a_published_file_that_does_not_match_its_manifest_is_never_served(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    remote = publish(memory_url, first)
    with serve(service_ws, memory_url) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        publish(memory_url, second)
        remote.fs.pipe_file(f"{remote.root}/{second.run_id}/clv/customer_clv.parquet", b"not the published table")
        assert served(client, keys) == (first.run_id, 380.0)
        error = client.app.state.service.runs.follow_error
        assert f"run {second.run_id} at {memory_url}: clv/customer_clv.parquet does not match its manifest" in error
    store = RunStore(service_ws)
    assert not (store.root / second.run_id).exists()
    assert not (store.root / f"{STAGING_PREFIX}{second.run_id}").exists()
    assert store.active_id() == first.run_id


def test_the_pipeline_publishes_its_run_and_a_fresh_driver_starts_from_the_urls_active_run(
    tmp_path: Path, file_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def new_driver(name: str) -> Workspace:
        settings = get_settings(workspace=tmp_path / name, duckdb_threads=1, runs_url=file_url)
        ws = Workspace.init(settings.workspace, settings)
        ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
        return ws

    one = new_driver("job-1")
    ran = CliRunner().invoke(cli_app, ["run", "--stage", "features", "--runs-url", file_url, "--workspace", str(one.path)],
                             env={"TARGETWISE_RUNS_URL": "", "COLUMNS": "400"})
    assert ran.exit_code == 0, ran.output
    first = RunStore(one).active()
    assert first is not None
    assert f"published to {file_url}/{first.run_id}/ (its active run)" in ran.output
    remote = RunUrlStore(file_url)
    assert remote.active_id() == first.run_id
    assert remote_files(file_url, first.run_id) == files_of(first.path)

    two = new_driver("job-2")  # a later job on a fresh machine
    real_put = RunUrlStore._put

    def put_failing(self: RunUrlStore, local: Path, path: str) -> None:
        if path.endswith("customer_features.parquet"):
            raise OSError("quota exceeded")
        real_put(self, local, path)

    monkeypatch.setattr(RunUrlStore, "_put", put_failing)
    with pytest.raises(WorkspaceError, match=r"quota exceeded.*the URL's runs and active run are unchanged"):
        run_pipeline(two, two.settings, stages=["features"])
    local = RunStore(two)
    second_id = next(r.run_id for r in local.list() if r.run_id != first.run_id)
    assert [r.run_id for r in local.list()] == sorted([first.run_id, second_id])  # it began from the URL's run
    assert local.active_id() == first.run_id  # committed here, promoted nowhere
    assert [r.run_id for r in remote.list()] == [first.run_id] and remote.active_id() == first.run_id

    monkeypatch.setattr(RunUrlStore, "_put", real_put)
    result = CliRunner().invoke(cli_app, ["runs", "publish", second_id, "--promote", "--workspace", str(two.path)],
                                env={"TARGETWISE_RUNS_URL": file_url, "COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"published run {second_id} to {file_url}/{second_id}/ (1 file sent)" in result.output  # the run's one output
    assert remote.active_id() == second_id
    listed = CliRunner().invoke(cli_app, ["runs", "list", "--runs-url", file_url], env={"COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if line.startswith("│ R")]
    assert [row.split()[1] for row in rows] == [first.run_id, second_id]
    assert rows[1].rstrip(" │").endswith("*") and not rows[0].rstrip(" │").endswith("*")


def test_an_unusable_url_is_one_line_with_the_fix(driver: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs the fsspec filesystem for s3://.*Fix: pip install s3fs"):
        RunUrlStore("s3://bucket/targetwise/runs")
    with pytest.raises(ConfigError, match=r"cannot be opened: Protocol not known: nosuch"):
        RunUrlStore("nosuch://bucket/runs")
    result = CliRunner().invoke(cli_app, ["runs", "list", "--runs-url", "gs://bucket/runs"], env={"COLUMNS": "400"})
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: the runs URL 'gs://bucket/runs' needs the fsspec filesystem")
    assert result.output.strip().endswith("Fix: pip install gcsfs (and give it credentials the way gcsfs reads them)")
    with pytest.raises(ConfigError, match="is the workspace's own runs folder"):
        RunUrlStore(f"file://{driver.runs_dir}").publish(make_run(driver))


def test_a_run_without_files_is_published_and_fetched(driver: Workspace, service_ws: Workspace, file_url: str) -> None:
    writer = RunStore(driver).begin(as_of="2011-12-09", parameters={"fixture": True})
    writer.skip("features", "not requested")
    run = writer.commit()
    remote = publish(file_url, run)
    assert remote_files(file_url, run.run_id) == files_of(run.path) == {"manifest.json": files_of(run.path)["manifest.json"]}
    assert remote.follow(RunStore(service_ws)) == run.run_id
    fetched = RunStore(service_ws).active()
    assert fetched is not None and fetched.stage("features").notes == ["not requested"]


def test_requests_during_a_swap_see_one_run_or_the_other(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    remote = publish(memory_url, first)
    seen: list[tuple[str, float]] = []
    with serve(service_ws, memory_url) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                seen.append(served(client, keys))

        readers = [threading.Thread(target=read) for _ in range(3)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 20
        while len(seen) < 6 and time.monotonic() < deadline:  # the readers are reading the first run
            time.sleep(0.01)
        publish(memory_url, second)
        while (second.run_id, 3800.0) not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for reader in readers:
            reader.join()
    assert set(seen) == {(first.run_id, 380.0), (second.run_id, 3800.0)}  # never one run's id with the other's values
    assert remote.active_id() == second.run_id


def test_promoting_with_a_runs_url_publishes_the_run_and_moves_the_urls_pointer(
    driver: Workspace, tmp_path: Path, file_url: str
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    publish(file_url, first)
    runner = CliRunner()
    env = {"TARGETWISE_RUNS_URL": "", "COLUMNS": "400"}
    done = runner.invoke(cli_app, ["runs", "promote", second.run_id, "--runs-url", file_url,
                                   "--workspace", str(driver.path)], env=env)
    assert done.exit_code == 0, done.output
    assert f"published to {file_url}/{second.run_id}/ (its active run)" in done.output
    remote = RunUrlStore(file_url)
    assert remote.active_id() == second.run_id and RunStore(driver).active_id() == second.run_id
    assert remote_files(file_url, second.run_id) == files_of(second.path)

    settings = get_settings(workspace=tmp_path / "job-2", duckdb_threads=1)
    fresh = Workspace.init(settings.workspace, settings)  # holds no run: the one to promote is fetched
    done = runner.invoke(cli_app, ["runs", "promote", first.run_id, "--runs-url", file_url,
                                   "--workspace", str(fresh.path)], env=env)
    assert done.exit_code == 0, done.output
    assert RunStore(fresh).active_id() == first.run_id == remote.active_id()
    assert files_of(RunStore(fresh).get(first.run_id).path) == files_of(first.path)

    shown = runner.invoke(cli_app, ["runs", "show", "--runs-url", file_url], env=env)  # no workspace: the URL's
    assert shown.exit_code == 0, shown.output
    assert f'"run_id": "{first.run_id}"' in shown.output and '"scale": 1.0' in shown.output
    shown = runner.invoke(cli_app, ["runs", "show", second.run_id, "--runs-url", file_url], env=env)
    assert shown.exit_code == 0 and '"scale": 10.0' in shown.output
    missing = runner.invoke(cli_app, ["runs", "show", "R-nope", "--runs-url", file_url], env=env)
    assert missing.exit_code == 1 and f"run 'R-nope' is not published at {file_url}" in " ".join(missing.output.split())


def test_the_services_promote_route_moves_the_urls_pointer(
    driver: Workspace, service_ws: Workspace, keys: Keys, memory_url: str
) -> None:
    first, second = make_run(driver), make_run(driver, scale=10.0)
    remote = publish(memory_url, first)
    publish(memory_url, second, promote=False)
    with serve(service_ws, memory_url) as client:
        assert served(client, keys) == (first.run_id, 380.0)
        answer = client.post(f"/v1/runs/{second.run_id}/promote", headers=Keys.header(keys.admin))
        assert answer.status_code == 200, answer.text
        assert remote.active_id() == second.run_id  # the URL stays the source of truth
        assert served(client, keys) == (second.run_id, 3800.0)
        client.app.state.service.runs.follow(now=True)  # the next poll keeps it
        assert served(client, keys) == (second.run_id, 3800.0)
