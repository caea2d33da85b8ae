"""Runs: immutable folders with manifests, atomic publish and promotion, consent applied."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.errors import ConfigError, NotFoundError, WorkspaceError
from targetwise.io.ingest import ingest
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline import run as run_module
from targetwise.pipeline.run import default_as_of, run_pipeline


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    return workspace


def test_run_writes_manifest_with_snapshot_metrics_and_hashes(loaded: Workspace) -> None:
    info = run_pipeline(loaded, loaded.settings, stages=["features"])
    m = info.manifest
    assert info.as_of == "2011-12-09" == str(default_as_of(loaded))  # last order 2011-12-08 15:36
    assert m["data_snapshot"]["rows"]["transactions"] == 7413
    assert len(m["data_snapshot"]["loads"]) == 1
    assert m["stages"]["features"]["status"] == "ok"
    # 100 customers in the sample; 12605 only ever returned an item, so has no purchase to describe
    assert m["stages"]["features"]["metrics"]["customers"] == 99
    for rel, digest in m["files"].items():
        assert hashlib.sha256((info.path / rel).read_bytes()).hexdigest() == digest
    assert RunStore(loaded).active_id() == info.run_id
    frame = info.read_table("features/customer_features.parquet")
    assert len(frame) == 99 and frame["customer_id"].is_unique and "12605" not in set(frame["customer_id"])


def test_failed_stage_is_committed_without_its_partial_files_and_not_promoted(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_pipeline(loaded, loaded.settings, stages=["features"])

    from targetwise.pipeline.context import Stage

    def explode(ctx, record):
        (ctx.writer.path / "half").mkdir()
        (ctx.writer.path / "half" / "written.json").write_text("{}")  # a partial output on disk
        raise RuntimeError("model blew up")

    monkeypatch.setitem(run_module.STAGES, "explode", Stage("explode", explode, outputs=(), needs=("features",)))
    info = run_pipeline(loaded, loaded.settings, stages=["features", "explode"])
    store = RunStore(loaded)
    assert {r.run_id for r in store.list()} == {first.run_id, info.run_id}
    assert info.manifest["stages"]["explode"]["status"] == "failed"
    assert info.manifest["stages"]["explode"]["error"] == "RuntimeError: model blew up"
    assert info.manifest["stages"]["features"]["status"] == "ok"
    assert not (info.path / "half").exists() and "half/written.json" not in info.manifest["files"]
    assert store.active_id() == first.run_id  # a run with a failed stage is not promoted by default
    assert not any(p.name.startswith(".staging-") for p in store.root.iterdir())


def test_profiling_objection_removes_customer_from_outputs(loaded: Workspace, tmp_path: Path) -> None:
    consent = tmp_path / "consent.csv"
    consent.write_text(
        "customer_id,purpose,status,recorded_at\n"
        "12358,profiling,denied,2011-01-01\n"  # objects
        "12373,profiling,denied,2011-01-01\n12373,profiling,granted,2011-06-01\n"  # objected, then granted again
        "12390,email,revoked,2011-01-01\n"  # email only: still profiled
    )
    ingest(loaded, "consent", consent)
    info = run_pipeline(loaded, loaded.settings, stages=["features"])
    ids = set(info.read_table("features/customer_features.parquet")["customer_id"])
    assert "12358" not in ids and {"12373", "12390"} <= ids
    assert len(ids) == 98
    assert info.manifest["stages"]["features"]["metrics"]["excluded_profiling_objection"] == 1


def test_promote_and_errors(loaded: Workspace) -> None:
    a = run_pipeline(loaded, loaded.settings, stages=["features"], promote=False)
    b = run_pipeline(loaded, loaded.settings, stages=["features"])
    store = RunStore(loaded)
    assert store.active_id() == b.run_id
    store.promote(a.run_id)
    assert store.active_id() == a.run_id
    with pytest.raises(NotFoundError, match="run 'R-nope' not found"):
        store.promote("R-nope")
    with pytest.raises(NotFoundError, match=r"has no output 'segments/profiles\.json'"):
        a.file("segments/profiles.json")  # declared, but this run did not make it
    with pytest.raises(WorkspaceError, match=r"'x\.parquet' is not a declared run output"):
        a.file("x.parquet")
    with pytest.raises(ConfigError, match="unknown stage"):
        run_pipeline(loaded, loaded.settings, stages=["astrology"])
    with pytest.raises(ConfigError, match="not a date"):
        run_pipeline(loaded, loaded.settings, as_of="yesterday")


def test_runs_begun_in_one_second_list_in_the_order_they_began(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from targetwise.io import runs as runs_module

    # Microseconds chosen so that a random suffix would misorder them half the time; the clock is the real one, pinned.
    # Each run calls the clock twice (begin, then commit's finished_at): the begin times are 0, 2, 4, 6.
    ticks = iter(datetime(2026, 12, 7, 5, 28, 10, us, tzinfo=UTC)
                 for us in (1_000, 1_500, 2_000, 2_500, 500_000, 500_500, 999_000, 999_500))

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return next(ticks)

    monkeypatch.setattr(runs_module, "datetime", Clock)
    store = RunStore(loaded)
    began = [store.begin(as_of=None, parameters={}).commit().run_id for _ in range(4)]
    assert all(run_id.startswith("R20261207-052810-") for run_id in began)
    assert [run_id[-6:-3] for run_id in began] == ["001", "002", "1f4", "3e7"]  # the millisecond, in hex
    assert [r.run_id for r in store.list()] == began


def test_readers_never_see_a_torn_active_pointer(loaded: Workspace) -> None:
    a = run_pipeline(loaded, loaded.settings, stages=["features"])
    b = run_pipeline(loaded, loaded.settings, stages=["features"])
    store = RunStore(loaded)
    seen: set[str | None] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.active_id())

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(200):
        store.promote(a.run_id if i % 2 else b.run_id)
    stop.set()
    for t in threads:
        t.join()
    assert seen <= {a.run_id, b.run_id}


def test_cluster_ids_and_names_stay_put_across_runs(synthetic_demo: Workspace, tmp_path: Path) -> None:
    """A run maps its clusters to the active run's ids and names (Hungarian matching on centres).

    Known answer: promote a run whose stored centres carry permuted ids and names; the next
    run on the same data must hand out exactly those permuted ids and names.
    """
    import shutil

    from targetwise.io.workspace import Workspace as W

    copy = tmp_path / "copy"
    shutil.copytree(synthetic_demo.path, copy)
    ws = W.open(copy, synthetic_demo.settings)
    as_of = RunStore(ws).active().as_of
    base = run_pipeline(ws, ws.settings, stages=["features", "segments"], as_of=as_of)
    centers = base.read_table("segments/centers.parquet")
    ids = sorted(centers["cluster"])
    permutation = dict(zip(ids, ids[1:] + ids[:1], strict=True))  # rotate the ids
    renamed = centers.assign(
        cluster=centers["cluster"].map(permutation), cluster_name=[f"renamed {n}" for n in centers["cluster_name"]]
    )
    writer = RunStore(ws).begin(as_of=as_of, parameters={})
    writer.write_table("segments/centers.parquet", renamed)
    RunStore(ws).promote(writer.commit().run_id)
    after = run_pipeline(ws, ws.settings, stages=["features", "segments"], as_of=as_of)
    a = base.read_table("segments/customer_segments.parquet").set_index("customer_id")
    b = after.read_table("segments/customer_segments.parquet").set_index("customer_id").loc[a.index]
    assert (b["cluster"] == a["cluster"].map(permutation)).all()
    assert (b["cluster_name"] == "renamed " + a["cluster_name"]).all()


def test_a_task_without_enough_history_is_noted_not_fatal(loaded: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetwise.runconfig import RunConfig

    # one year of data: a 400-day churn window cannot be observed before the cutoff
    config = RunConfig.load(overrides=['propensity.tasks=[["purchase", 30], ["churn", 400]]'])
    info = run_pipeline(loaded, loaded.settings, stages=["features", "propensity"], config=config)
    assert info.manifest["parameters"]["config"]["propensity"]["tasks"] == [["purchase", 30], ["churn", 400]]
    record = info.manifest["stages"]["propensity"]
    assert record["status"] == "ok"
    assert list(record["metrics"]) == ["purchase_30d"]
    assert any(n.startswith("churn in 400 days not trained: not enough history") for n in record["notes"])
    scores = info.read_table("propensity/scores.parquet")
    assert "p_purchase_30d" in scores and "p_churn_400d" not in scores
