"""What each stage of a run cost (issue 20, part 4): wall, CPU, peak memory, rows in and out.

Recorded by ``RunWriter.stage`` in the manifest (``stages.<name>.cost``), printed by `targetwise run`
as each stage ends and tabled by `targetwise runs show`. Nothing here asserts that anything is fast.
"""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io import _stage_meter as meter_module
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest
from targetwise.io.outputs import output_for
from targetwise.io.runs import RunInfo, RunStore, StageCost, StageRecord
from targetwise.io.workspace import Workspace
from targetwise.pipeline import run as run_module
from targetwise.pipeline.context import Stage
from targetwise.pipeline.run import run_pipeline

METHODS = {"vmhwm", "sampled", "ru_maxrss"}
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    return workspace


def _table_rows(info: RunInfo, stage: str) -> int:
    """The rows of every table the stage published, read back from the run folder."""
    tables = [rel for rel in info.manifest["files"]
              if rel != "manifest.json" and output_for(rel).stage == stage and output_for(rel).kind == "table"]
    return sum(len(pd.read_parquet(info.path / rel)) for rel in tables)


def _check_cost(info: RunInfo, name: str, record: StageRecord) -> StageCost:
    cost = record.cost
    assert cost is not None, name
    assert cost.wall_s > 0 and cost.wall_s == record.seconds, name
    # CPU of this process's threads fits in wall x the CPUs it may use (the rounding to ms allowed)
    assert 0 <= cost.cpu_s <= cost.wall_s * CPUS + 0.01, (name, cost)
    assert cost.peak_rss_gb is not None and cost.peak_rss_gb > 0, name
    assert cost.peak_rss_method in METHODS, name
    assert cost.rows_out == _table_rows(info, name), name
    return cost


def test_every_stage_of_a_full_run_records_its_cost(synthetic_demo: Workspace) -> None:
    info = RunStore(synthetic_demo).active()
    assert info is not None
    ran = {name: rec for name, rec in info.stages().items() if rec.status == "ok"}
    assert {"features", "segments", "clv", "propensity", "recommendations"} <= set(ran)
    for name, record in ran.items():
        _check_cost(info, name, record)
    assert ran["features"].cost.rows_out == ran["features"].metrics["customers"]  # one row per customer
    # rows in: the lines before as_of of everyone but the objectors, counted here on the workspace's own table
    from targetwise.io.modeldata import open_model_data

    with open_model_data(synthetic_demo) as data:
        objectors = sorted(data.objectors)
    assert objectors  # the synthetic retailer plants profiling objections
    with synthetic_demo.connect(read_only=True) as con:
        lines, everyone = con.execute(
            "SELECT count(*) FILTER (WHERE NOT list_contains(?, customer_id)), count(*) FROM transactions "
            "WHERE ordered_at < CAST(? AS TIMESTAMP) AND customer_id IS NOT NULL", [objectors, str(info.as_of)],
        ).fetchone()
    assert 0 < lines < everyone
    assert {s: ran[s].cost.rows_in for s in ("features", "clv", "propensity", "recommendations")} == dict.fromkeys(
        ("features", "clv", "propensity", "recommendations"), lines)
    assert ran["segments"].cost.rows_in == ran["features"].cost.rows_out  # it reads the features, one per customer
    if "uplift" in ran:
        assert ran["uplift"].cost.rows_in == ran["uplift"].metrics["trained_on"] > 0
    for name, record in info.stages().items():
        if record.status == "skipped":
            assert record.cost is None and "cost" not in info.manifest["stages"][name]
    # on Linux the peak is measured from /proc, never the process-wide ru_maxrss
    if os.path.exists("/proc/self/status"):
        assert {rec.cost.peak_rss_method for rec in ran.values()} <= {"vmhwm", "sampled"}


def test_the_cost_round_trips_through_the_manifest(loaded: Workspace) -> None:
    info = run_pipeline(loaded, loaded.settings, stages=["features", "segments"])
    on_disk = json.loads((info.path / "manifest.json").read_text())
    for name in ("features", "segments"):
        raw = on_disk["stages"][name]
        assert set(raw["cost"]) == {"wall_s", "cpu_s", "peak_rss_gb", "peak_rss_method", "rows_in", "rows_out"}
        record = StageRecord.from_dict(name, raw)
        assert record.to_dict() == raw
        assert StageRecord.from_dict(name, record.to_dict()) == record
        assert record == RunStore(loaded).get(info.run_id).stage(name)
        _check_cost(info, name, record)


def test_writer_counts_rows_out_and_the_stage_reports_rows_in(workspace: Workspace) -> None:
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    with writer.stage("features") as record:
        record.rows_in(7)
        record.rows_in(5)  # a second input adds up
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": ["A", "B", "C"]}))
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": ["A", "B"]}))  # rewritten: its last rows count
    with writer.stage("segments") as record:  # rows_in never reported: null
        pass
    with writer.stage("uplift") as record:
        record.skip("no campaign with exposures before as_of")
    writer.skip("clv", "needs features, which failed")
    info = writer.commit()
    features = info.stage("features")
    assert (features.cost.rows_in, features.cost.rows_out) == (12, 2) and features.input_rows == 12
    assert (info.stage("segments").cost.rows_in, info.stage("segments").cost.rows_out) == (None, 0)
    assert info.manifest["stages"]["segments"]["cost"]["rows_in"] is None
    # skipped stages have no cost; one that skipped itself keeps its seconds
    assert info.stage("uplift").cost is None and info.stage("uplift").seconds is not None
    assert info.stage("clv").cost is None and info.stage("clv").seconds is None


def test_a_failed_stage_still_records_wall_cpu_and_memory(loaded: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx, record):
        record.rows_in(41)
        ctx.writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": ["A", "B"]}))
        sum(i * i for i in range(200_000))  # some CPU
        raise RuntimeError("features blew up")

    monkeypatch.setitem(run_module.STAGES, "features", Stage("features", boom, outputs=(out.FEATURES,)))
    seen: list[tuple[str, str]] = []
    info = run_pipeline(loaded, loaded.settings, stages=["features", "segments"],
                        stage_done=lambda rec: seen.append((rec.name, rec.status)))
    assert seen == [("features", "failed"), ("segments", "skipped")]  # every stage reported as it ends
    failed = info.stage("features")
    assert failed.status == "failed" and failed.error == "RuntimeError: features blew up"
    cost = failed.cost
    assert cost is not None and cost.wall_s > 0 and cost.cpu_s >= 0 and cost.peak_rss_gb > 0
    assert (cost.rows_in, cost.rows_out) == (41, 0)  # its table was discarded: nothing published
    assert "features/customer_features.parquet" not in info.manifest["files"]
    assert info.stage("segments").cost is None


def test_peak_memory_falls_back_when_the_high_water_mark_does_not_say(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    monkeypatch.setattr(meter_module, "_proc_kb", lambda _field: 5 * 1024**3)  # the mark never rises
    with writer.stage("features"):
        pass
    sampled = writer.records["features"].cost
    assert sampled.peak_rss_method == "sampled" and sampled.peak_rss_gb > 0

    def no_statm(_interval: float):
        raise OSError("no /proc")

    monkeypatch.setattr(meter_module, "_proc_kb", lambda _field: None)
    monkeypatch.setattr(meter_module, "_RssSampler", no_statm)
    with writer.stage("segments"):
        pass
    fallback = writer.records["segments"].cost
    assert fallback.peak_rss_method == "ru_maxrss" and fallback.peak_rss_gb > 0
    writer.abort()


def test_the_measurement_leaves_the_process_high_water_mark_alone(workspace: Workspace) -> None:
    """The process's own peak (what /usr/bin/time and a parent's getrusage report) is never reset."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc")
    before = meter_module._proc_kb("VmHWM")
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    with writer.stage("features"):
        pass
    writer.abort()
    assert meter_module._proc_kb("VmHWM") >= before


def test_cli_run_prints_each_stage_cost_and_runs_show_tables_it(tmp_path) -> None:
    runner = CliRunner()
    env = {"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"}
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws], env=env).exit_code == 0
    r = runner.invoke(app, ["ingest", "transactions", str(ONLINE_RETAIL_SAMPLE), "--mapping",
                            str(ONLINE_RETAIL_MAPPING), "-w", ws], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", "--stage", "features", "--stage", "segments", "-w", ws], env=env)
    assert r.exit_code == 0, r.output
    path = tmp_path / "ws"
    info = RunStore(Workspace.open(path, get_settings(workspace=path))).active()
    for i, name in enumerate(("features", "segments"), start=1):
        cost = info.stage(name).cost
        line = next(line for line in r.stdout.splitlines() if f"done [{i}/2] {name} in " in line)
        assert re.search(r" in \d+\.\d s wall, \S+ s CPU, peak \d+(\.\d)? [MG]B, ", line), line
        assert line.endswith(f", {cost.rows_out:,} rows out"), line
    shown = runner.invoke(app, ["runs", "show", info.run_id, "-w", ws], env=env)
    assert shown.exit_code == 0, shown.output
    table = shown.stdout[shown.stdout.rindex("stages"):]
    assert all(col in table for col in ("wall", "CPU", "peak RSS", "rows in", "rows out"))
    for name in ("features", "segments"):
        row = next(line for line in table.splitlines() if re.search(rf"\b{name}\b", line))
        assert f"{info.stage(name).cost.rows_out:,}" in row and "ok" in row
