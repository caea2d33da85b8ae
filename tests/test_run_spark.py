"""The whole run on Spark (issue 20): the same stages, the same run folder, the same outputs as DuckDB.

`targetwise run --engine spark` stages the consent-filtered views as Parquet for Spark, which then
computes the features, the training snapshots, the recommenders' pair aggregates and CLV's purchase
days; models are fitted on the driver. On the Online Retail demo every output must equal the DuckDB
run's: segments and recommendation lists identical, CLV and scores to 1e-6.

A second test proves that no stage reads the transaction table into memory: the run passes with
a line limit far below the workspace's line count (the limit makes any such read fail).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark_fixture import spark_session  # noqa: F401  (session-scoped fixture)
from targetwise.config import get_settings
from targetwise.errors import WorkspaceError
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline


def _copy(demo: Workspace, tmp_path: Path) -> Workspace:
    path = tmp_path / "ws"
    shutil.copytree(demo.path, path)
    return Workspace.open(path, get_settings(workspace=path, duckdb_threads=2))


def _tables(run_path: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(run_path)): pd.read_parquet(p) for p in sorted(run_path.rglob("*.parquet"))}


def _assert_same(name: str, duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert list(duck.columns) == list(spark.columns), name
    assert len(duck) == len(spark), name
    for column in duck.columns:
        left, right = duck[column], spark[column]
        if pd.api.types.is_float_dtype(left):
            np.testing.assert_allclose(
                right.to_numpy(float), left.to_numpy(float), rtol=1e-6, atol=1e-9, err_msg=f"{name}:{column}"
            )
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), f"{name}:{column}"


@pytest.mark.spark
@pytest.mark.slow
def test_spark_run_gives_the_duckdb_run_outputs_on_online_retail(online_retail_demo, spark_session, tmp_path):  # noqa: F811
    ws = _copy(online_retail_demo, tmp_path)
    store = RunStore(ws)
    duck = store.get(store.active_id())
    info = run_pipeline(ws, ws.settings, as_of=duck.as_of, engine="spark", spark_session=spark_session, promote=False)
    assert info.manifest["parameters"]["engine"] == "spark"
    assert info.failed_stages() == []
    assert {n: r.status for n, r in info.stages().items()} == {n: r.status for n, r in duck.stages().items()}
    duck_tables, spark_tables = _tables(duck.path), _tables(info.path)
    assert set(spark_tables) == set(duck_tables)
    for name in ("segments/customer_segments.parquet", "clv/customer_clv.parquet", "propensity/scores.parquet",
                 "recommendations/recommendations.parquet"):
        assert name in duck_tables, name
    for name, frame in duck_tables.items():
        _assert_same(name, frame, spark_tables[name])
    assert not list(tmp_path.glob("**/targetwise-spark-*"))  # the staged views are removed


@pytest.mark.spark
def test_spark_stages_the_filtered_views_in_the_configured_folder_and_removes_them(
    synthetic_demo, spark_session, tmp_path  # noqa: F811
):
    root = tmp_path / "shared-staging"
    path = tmp_path / "ws"
    shutil.copytree(synthetic_demo.path, path)
    ws = Workspace.open(path, get_settings(workspace=path, duckdb_threads=2, spark_staging_dir=root))
    with open_model_data(ws) as data:
        (lines,) = data.con.execute("SELECT count(*) FROM transactions").fetchone()
    with open_model_data(ws, engine="spark", spark_session=spark_session) as data:
        (staged,) = list(root.glob("targetwise-spark-*"))
        assert sorted(p.name for p in staged.iterdir()) == ["products.parquet", "transactions.parquet"]
        assert pd.read_parquet(staged / "transactions.parquet").shape[0] == lines  # objectors already left out
        assert data.backend.table("transactions").count().to_pyarrow().as_py() == lines
    assert root.is_dir() and list(root.iterdir()) == []  # the run's subfolder is gone, the shared folder stays
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    bad = Workspace.open(path, get_settings(workspace=path, duckdb_threads=2, spark_staging_dir=blocked / "sub"))
    with pytest.raises(WorkspaceError, match="cannot create the Spark staging folder"), open_model_data(
        bad, engine="spark", spark_session=spark_session
    ):
        pass


def test_no_stage_reads_the_transaction_lines_into_memory(synthetic_demo, tmp_path):
    ws = _copy(synthetic_demo, tmp_path)
    with open_model_data(ws) as data:
        (lines,) = data.con.execute("SELECT count(*) FROM transactions").fetchone()
    limit = lines // 50
    with open_model_data(ws, line_limit=limit) as data, pytest.raises(WorkspaceError, match="refused"):
        data.transactions()
    info = run_pipeline(ws, ws.settings, line_limit=limit, promote=False)
    from targetwise.pipeline.stages import STAGES

    assert {n: r.status for n, r in info.stages().items()} == dict.fromkeys(STAGES, "ok")
