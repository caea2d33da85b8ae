"""Declared run outputs and the run config: the writer and readers refuse what is not declared."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from targetwise.errors import ConfigError, WorkspaceError
from targetwise.io import outputs as out
from targetwise.io.runs import RunStore, StageRecord
from targetwise.io.workspace import Workspace
from targetwise.pipeline.stages import STAGES
from targetwise.runconfig import RunConfig


def test_every_declaration_names_a_stage_and_each_stage_declares_its_outputs() -> None:
    assert {o.stage for o in out.OUTPUTS} == set(STAGES)
    for name, stage in STAGES.items():
        assert {o.path for o in stage.outputs} == {o.path for o in out.OUTPUTS if o.stage == name}, name
    paths = [o.path for o in out.OUTPUTS]
    assert len(paths) == len(set(paths))
    assert out.output_for("propensity/importance_purchase_30d.parquet") is out.IMPORTANCE
    assert out.IMPORTANCE.at("churn_90d") == "propensity/importance_churn_90d.parquet"
    with pytest.raises(WorkspaceError, match="lower-case letters"):
        out.IMPORTANCE.at("../x")
    with pytest.raises(WorkspaceError, match="takes no key"):
        out.CLV.at("x")


def test_the_writer_refuses_undeclared_misplaced_and_incomplete_outputs(workspace: Workspace) -> None:
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    with pytest.raises(WorkspaceError, match=r"'notes/scratch\.json' is not a declared run output"):
        writer.write_json("notes/scratch.json", {"x": 1})
    with pytest.raises(WorkspaceError, match=r"lacks declared column\(s\) clv"):
        writer.write_table(out.CLV, pd.DataFrame({"customer_id": ["A"]}))
    with pytest.raises(WorkspaceError, match="declared as table, not json"):
        writer.write_json(out.CLV, {"x": 1})
    with writer.stage("segments") as record, pytest.raises(WorkspaceError, match="declared for stage 'clv'"):
        writer.write_table(out.CLV, pd.DataFrame({"customer_id": ["A"], "clv": [1.0]}))
    assert record.status == "ok"  # the refusal was caught inside the block
    # a file that slipped into the staging folder by other means stops the commit
    (writer.path / "stray.txt").write_text("?")
    with pytest.raises(WorkspaceError, match=r"undeclared file\(s\) stray\.txt"):
        writer.commit()
    writer.abort()
    assert RunStore(workspace).list() == []


def test_a_skipped_stage_is_recorded_through_its_record(workspace: Workspace) -> None:
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    with writer.stage("uplift") as record:
        record.skip("no campaign with exposures before as_of")
    with writer.stage("features") as record:
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": ["A", "B"]}))
        record.metrics["customers"] = 2
        record.note("first line\nsecond line")
        record.note("first line")
    info = writer.commit()
    assert info.stage("uplift") == StageRecord(
        "uplift", status="skipped", notes=["no campaign with exposures before as_of"], seconds=info.stage("uplift").seconds
    )
    features = info.stage("features")
    assert (features.status, features.metrics, features.notes) == ("ok", {"customers": 2}, ["first line"])
    assert info.manifest["stages"]["uplift"]["status"] == "skipped"
    assert set(info.manifest["files"]) == {"features/customer_features.parquet"}
    assert info.stage("clv") is None


def test_run_config_from_toml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[clv]\nhorizon_days = 180\n\n[propensity]\ntasks = [["churn", 60]]\n', encoding="utf-8")
    config = RunConfig.load(path, overrides=["clv.annual_discount_rate=0.05", "segments.algorithm=dbscan"])
    assert (config.clv.horizon_days, config.clv.annual_discount_rate) == (180, 0.05)
    assert config.propensity.tasks == (("churn", 60),)
    assert config.segments.algorithm == "dbscan"
    assert config.recommendations.n == 10  # untouched sections keep their defaults
    assert config.seed(7) == 7 and RunConfig(random_state=3).seed(7) == 3
    with pytest.raises(ConfigError, match=r"invalid run config value clv\.horizon"):
        RunConfig.load(overrides=["clv.horizon=3"])
    with pytest.raises(ConfigError, match=r"invalid run config value propensity\.tasks"):
        RunConfig.load(overrides=['propensity.tasks=[["astrology", 30]]'])
    with pytest.raises(ConfigError, match=r"is not section\.field=value"):
        RunConfig.load(overrides=["horizon"])
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.load(tmp_path / "missing.toml")
