"""Stages fail independently (issue 19): one model failing never costs the user the whole run.

A failed stage is recorded in the manifest (status, one-line error, fix), its partial outputs are
discarded, the stages that need it are skipped with the reason, the others complete and the run is
committed; it is promoted only when asked (``promote_partial`` / ``--promote-partial`` /
``runs promote --partial``); ``targetwise run`` exits 1 only with ``--strict``. Storage errors and
interrupts stay fatal: nothing is published.
"""

from __future__ import annotations

import errno
import hashlib

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app
from targetwise.errors import ConfigError, ModelError, NotFoundError, WorkspaceError
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest
from targetwise.io.runs import RunStore, StageRecord
from targetwise.io.workspace import Workspace
from targetwise.pipeline import run as run_module
from targetwise.pipeline.context import Stage
from targetwise.pipeline.run import run_pipeline
from targetwise.usecases.runs import RunData

BOUNDARY = ModelError("BetaGeo did not converge (a ~ 2e10)", fix="set clv.penalizer_coef to 0.001")


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    return workspace


def _failing(name: str, exc: BaseException, *, write: out.Output | None = None) -> Stage:
    """Stage ``name`` (same needs and outputs as the real one) that writes ``write`` and then raises."""
    real = run_module.STAGES[name]

    def run(ctx, record):
        record.note("started")
        if write is not None:
            frame = pd.DataFrame({c: [0.0] for c in write.columns}).assign(customer_id=["12347"])
            ctx.writer.write_table(write, frame)
        ctx.results[name] = "half a result"
        raise exc

    return Stage(name, run, outputs=real.outputs, needs=real.needs, config_section=real.config_section)


def test_a_failed_stage_is_recorded_the_rest_complete_and_the_run_is_committed_not_promoted(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = run_pipeline(loaded, loaded.settings, stages=["features"])
    seen: dict[str, object] = {}

    def recommendations(ctx, record):  # runs after the failed clv stage: sees no half result of it
        seen["clv"] = ctx.results.get("clv", "none")
        record.skip("not applicable in this test")

    monkeypatch.setitem(run_module.STAGES, "clv", _failing("clv", BOUNDARY, write=out.CLV))
    monkeypatch.setitem(run_module.STAGES, "recommendations",
                        Stage("recommendations", recommendations, outputs=(), needs=("features",)))
    info = run_pipeline(loaded, loaded.settings, stages=["features", "clv", "recommendations"])

    stages = info.stages()
    assert [(n, r.status) for n, r in stages.items()] == [
        ("features", "ok"), ("clv", "failed"), ("recommendations", "skipped")]
    clv = stages["clv"]
    assert clv.error == "BetaGeo did not converge (a ~ 2e10)"  # the message alone, on one line
    assert clv.fix == "set clv.penalizer_coef to 0.001"
    assert clv.notes == ["started"] and clv.seconds is not None
    assert info.manifest["stages"]["clv"]["fix"] == "set clv.penalizer_coef to 0.001"
    assert info.failed_stages() == ["clv"]
    assert seen["clv"] == "none"
    # committed and listed, with the completed stage's outputs and none of the failed one's
    store = RunStore(loaded)
    assert {r.run_id for r in store.list()} == {before.run_id, info.run_id}  # ids of one second sort at random
    assert info.has(out.FEATURES) and not info.has(out.CLV)
    assert not (info.path / "clv").exists()
    for rel, digest in info.manifest["files"].items():
        assert hashlib.sha256((info.path / rel).read_bytes()).hexdigest() == digest
    # not promoted by default; promote refuses it unless partial
    assert store.active_id() == before.run_id
    with pytest.raises(WorkspaceError, match=r"failed stage\(s\) clv") as refused:
        store.promote(info.run_id)
    assert f"targetwise runs promote {info.run_id} --partial" in str(refused.value)
    assert store.active_id() == before.run_id
    store.promote(info.run_id, partial=True)
    assert store.active_id() == info.run_id
    # the service names the failed stage for its missing output
    with pytest.raises(NotFoundError, match=r"its 'clv' stage has status 'failed'"):
        RunData(info, product_names=dict).table(out.CLV)
    assert len(RunData(info, product_names=dict).table(out.FEATURES)) == 99


def test_stages_that_need_a_failed_stage_are_skipped_with_the_reason(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(run_module.STAGES, "features", _failing("features", KeyError("btyd_T"), write=None))
    info = run_pipeline(loaded, loaded.settings, stages=["features", "segments", "clv"])
    stages = info.stages()
    assert stages["features"].status == "failed"
    assert stages["features"].error == "KeyError: 'btyd_T'"  # not a TargetwiseError: its type, no fix
    assert stages["features"].fix is None and "fix" not in info.manifest["stages"]["features"]
    for name in ("segments", "clv"):
        assert stages[name].status == "skipped"
        assert stages[name].notes == ["needs features, which failed"]
        assert stages[name].seconds is None  # never started
    assert info.failed_stages() == ["features"]
    assert set(info.manifest["files"]) == set()  # nothing completed, nothing half-written
    assert RunStore(loaded).active_id() is None


def test_promote_partial_serves_a_run_with_a_failed_stage(loaded: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(run_module.STAGES, "clv", _failing("clv", BOUNDARY))
    info = run_pipeline(loaded, loaded.settings, stages=["features", "clv"], promote_partial=True)
    assert info.failed_stages() == ["clv"]
    assert RunStore(loaded).active_id() == info.run_id
    # promote=False still wins
    again = run_pipeline(loaded, loaded.settings, stages=["features", "clv"], promote=False, promote_partial=True)
    assert RunStore(loaded).active_id() == info.run_id != again.run_id


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_storage_errors_and_interrupts_in_a_stage_stay_fatal(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    first = run_pipeline(loaded, loaded.settings, stages=["features"])
    monkeypatch.setitem(run_module.STAGES, "clv", _failing("clv", exc, write=out.CLV))
    expected = WorkspaceError if isinstance(exc, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as raised:
        run_pipeline(loaded, loaded.settings, stages=["features", "clv"])
    if isinstance(exc, OSError):
        assert "No space left on device; nothing was published" in str(raised.value)
    store = RunStore(loaded)
    assert [r.run_id for r in store.list()] == [first.run_id]
    assert store.active_id() == first.run_id
    assert not any(p.name.startswith(".staging-") for p in store.root.iterdir())


def test_a_stage_without_the_stages_it_needs_is_refused_before_any_work(loaded: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"stage 'segments' needs stage\(s\) features") as refused:
        run_pipeline(loaded, loaded.settings, stages=["segments"])
    assert refused.value.fix is not None and "--stage features" in refused.value.fix
    assert RunStore(loaded).list() == []
    # stages run in pipeline order whatever order they are given in
    info = run_pipeline(loaded, loaded.settings, stages=["segments", "features"])
    assert list(info.stages()) == ["features", "segments"]
    assert info.manifest["parameters"]["stages"] == ["features", "segments"]


def test_stage_record_keeps_its_fix_through_the_manifest() -> None:
    record = StageRecord("clv")
    record.fail(ModelError("first line\nsecond line", fix="do this\nand that"))
    assert (record.status, record.error, record.fix) == ("failed", "first line", "do this")
    again = StageRecord.from_dict("clv", record.to_dict())
    assert (again.status, again.error, again.fix) == ("failed", "first line", "do this")
    assert "fix" not in StageRecord("features", status="ok").to_dict()


def test_cli_run_exits_0_with_a_failed_stage_and_1_with_strict(
    loaded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(run_module.STAGES, "clv", _failing("clv", BOUNDARY))
    runner = CliRunner()
    env = {"TARGETWISE_WORKSPACE": "", "COLUMNS": "250"}
    base = ["run", "-w", str(loaded.path), "--stage", "features", "--stage", "clv"]

    r = runner.invoke(app, base, env=env)
    assert r.exit_code == 0, r.output
    store = RunStore(loaded)
    (first,) = store.list()
    assert "clv: failed" in r.output and "BetaGeo did not converge (a ~ 2e10)" in r.output
    assert "features: ok" in r.output
    assert "fix: set clv.penalizer_coef to 0.001" in r.output
    assert f"not promoted: stage(s) clv failed; serve it anyway with `targetwise runs promote {first.run_id} --partial`" \
        in " ".join(r.output.split())
    assert store.active_id() is None

    r = runner.invoke(app, [*base, "--strict"], env=env)
    assert r.exit_code == 1
    assert len(store.list()) == 2  # the run is written all the same
    assert "error: stage clv failed: BetaGeo did not converge (a ~ 2e10). Fix: set clv.penalizer_coef to 0.001" \
        in " ".join(r.output.split())
    assert "Traceback" not in r.output

    earlier = {i.run_id for i in store.list()}
    r = runner.invoke(app, [*base, "--promote-partial"], env=env)
    assert r.exit_code == 0, r.output
    (third,) = [i for i in store.list() if i.run_id not in earlier]
    assert store.active_id() == third.run_id
    assert "promoted: the service now serves this run (partial: without the outputs of clv)" in r.output

    r = runner.invoke(app, ["runs", "promote", first.run_id, "-w", str(loaded.path)], env=env)
    assert r.exit_code == 1 and "--partial" in r.output
    r = runner.invoke(app, ["runs", "promote", first.run_id, "--partial", "-w", str(loaded.path)], env=env)
    assert r.exit_code == 0 and store.active_id() == first.run_id


def test_a_run_after_days_without_orders_says_so(tmp_path) -> None:
    """--as-of past the last order is accepted; the features stage notes the gap and warns past the staleness."""
    import pandas as pd

    from targetwise.config import get_settings
    from targetwise.errors import ConfigError
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.readers import source_from_frame
    from targetwise.io.workspace import Workspace
    from targetwise.pipeline.run import run_pipeline

    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1, stale_data_days=7)
    ws = Workspace.init(settings.workspace, settings)
    days = pd.date_range("2024-01-01 10:00", "2024-03-30 10:00", freq="3D")  # the last order: 2024-03-28 10:00
    lines = pd.DataFrame({
        "customer_id": [f"C{i % 20}" for i in range(len(days))], "order_id": [f"O{i}" for i in range(len(days))],
        "ordered_at": days.astype(str), "product_id": "P1", "quantity": "1", "unit_price": "5",
    })
    ingest_arrow(ws, "transactions", source_from_frame(lines, name="lines"))
    last = days.max()
    fresh = run_pipeline(ws, settings, as_of=(last + pd.Timedelta(days=1)).date(), stages=["features"], promote=False)
    assert fresh.stage("features").notes == [] and fresh.stage("features").metrics["days_after_last_order"] == 0
    late = run_pipeline(ws, settings, as_of="2024-04-10", stages=["features"], promote=False)
    record = late.stage("features")
    assert last == pd.Timestamp("2024-03-28 10:00")
    assert record.status == "ok" and record.metrics["days_after_last_order"] == 12  # from midnight after 28 March
    (note,) = record.notes
    assert note.startswith("as of 2024-04-10 is 12 days after the data ends (last order 2024-03-28 10:00 UTC)")
    assert "may be stale (more than 7 days without an order" in note
    for bad in ("04/10/2024", "20240410", "2024-W15"):
        with pytest.raises(ConfigError, match="not a date in the form YYYY-MM-DD"):
            run_pipeline(ws, settings, as_of=bad, stages=["features"], promote=False)
