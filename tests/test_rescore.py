"""`targetwise rescore` (issue 23): the customers with new lines re-scored with the active run's fitted models.

One small synthetic shop is run (features, segments, CLV, propensity, cohorts) at 2023-12-01 on the
lines before it; then 25 customers get their December lines (a new load), one other customer objects
to profiling and one of the 25 is erased, and the workspace is re-scored into a derived run. The tests
check that everyone else's rows are the parent's bit for bit, that the affected customers' rows are
what the parent's fitted models give on features computed from scratch at the new cut-off (computed
here with the estimators directly, not through the rescore code), the manifest's record, that no
objector or erased customer appears, that a changed model file is refused, and that the models hold
no customer id.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from targetwise.config import get_settings
from targetwise.errors import ConfigError, WorkspaceError
from targetwise.io import outputs as out
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest_arrow
from targetwise.io.modeldata import open_model_data
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.runconfig import PropensityConfig, RunConfig
from targetwise.synthetic import generate_retailer
from targetwise.usecases.features import features_at
from targetwise.usecases.privacy import erase
from targetwise.usecases.rescore import rescore

pytestmark = pytest.mark.slow  # the parent run: ~15 s here

PARENT_AS_OF = "2023-12-01"
STAGES = ["features", "segments", "clv", "propensity", "cohorts"]
N_AFFECTED = 25
TABLES = ("products", "customers", "campaigns", "consent")


class Shop:
    def __init__(self, ws: Workspace, parent: RunInfo, affected: list[str], objector: str, erased: str,
                 derived: RunInfo, result: object) -> None:
        self.ws, self.parent, self.affected, self.objector, self.erased = ws, parent, affected, objector, erased
        self.derived, self.result = derived, result


def _ingest(ws: Workspace, table: str, frame: pd.DataFrame) -> None:
    ingest_arrow(ws, table, source_from_frame(frame, name=f"synthetic:{table}"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    retailer = generate_retailer(n_customers=300, random_state=3, campaign=False, engagements=False)
    path = tmp_path_factory.mktemp("rescore") / "ws"
    ws = Workspace.init(path, get_settings(workspace=path, duckdb_threads=2))
    for table in TABLES:
        frame = getattr(retailer, table, None)
        if frame is not None and not frame.empty:
            _ingest(ws, table, frame)
    tx = retailer.transactions
    before = tx[pd.to_datetime(tx["ordered_at"]) < pd.Timestamp(PARENT_AS_OF)]
    _ingest(ws, "transactions", before)
    # a classifier and a regressor, few cutoffs: the models' fit is not what is tested here
    config = RunConfig(propensity=PropensityConfig(tasks=(("purchase", 30), ("next_order", 30)), n_cutoffs=3))
    parent = run_pipeline(ws, ws.settings, as_of=PARENT_AS_OF, stages=STAGES, config=config)
    later = tx[(pd.to_datetime(tx["ordered_at"]) >= pd.Timestamp(PARENT_AS_OF)) & tx["customer_id"].notna()]
    known = set(parent.read_table(out.FEATURES)["customer_id"].astype(str))
    late_buyers = sorted(set(later["customer_id"].astype(str)) & known)
    chosen = late_buyers[:N_AFFECTED]
    assert len(chosen) == N_AFFECTED
    _ingest(ws, "transactions", later[later["customer_id"].astype(str).isin(chosen)])
    untouched = sorted(known - set(chosen))
    objector, erased = untouched[0], chosen[-1]
    record_consent(ws, objector, purpose="profiling", status="denied", source="test objection")
    erase(ws, erased, actor="test")
    result = rescore(ws)
    assert result.run is not None
    return Shop(ws, RunStore(ws).get(parent.run_id), chosen[:-1], objector, erased, result.run, result)


def _rows(run: RunInfo, output: out.Output, customers: list[str]) -> pd.DataFrame:
    table = run.read_table(output)
    table = table[table["customer_id"].astype(str).isin(customers)]
    return table.sort_values("customer_id", kind="stable").reset_index(drop=True)


def test_the_derived_run_is_promoted_and_its_manifest_names_the_parent(shop: Shop) -> None:
    derived = shop.derived.manifest["derived_from"]
    assert RunStore(shop.ws).active_id() == shop.derived.run_id
    assert derived["run_id"] == shop.parent.run_id
    assert derived["parent_as_of"] == PARENT_AS_OF and derived["as_of"] == "2023-12-31"
    assert derived["affected_customers"] == N_AFFECTED - 1  # the erased one has no lines left
    assert derived["new_customers"] == 0 and derived["removed_objectors"] == 1
    assert sorted(derived["recomputed"]) == sorted(
        [out.FEATURES.path, out.SEGMENTS.path, out.CLV.path, out.PROPENSITY.path])
    assert out.COHORTS.path in derived["copied"] and out.CLV_MODEL.path in derived["copied"]
    assert set(derived["recomputed"]) | set(derived["copied"]) == set(shop.parent.manifest["files"]) - {"manifest.json"}
    # copied files are the parent's bytes
    for relative in (out.COHORTS.path, out.SEGMENTS_MODEL.path, out.PROFILES.path):
        assert (shop.derived.path / relative).read_bytes() == (shop.parent.path / relative).read_bytes()


@pytest.mark.parametrize("output", [out.FEATURES, out.SEGMENTS, out.CLV, out.PROPENSITY], ids=lambda o: o.stage)
def test_untouched_customers_rows_are_the_parents_bit_for_bit(shop: Shop, output: out.Output) -> None:
    parent = shop.parent.read_table(output)
    untouched = sorted(set(parent["customer_id"].astype(str)) - set(shop.affected) - {shop.objector, shop.erased})
    assert len(untouched) > 200
    pd.testing.assert_frame_equal(_rows(shop.derived, output, untouched), _rows(shop.parent, output, untouched),
                                  check_exact=True)
    assert len(shop.derived.read_table(output)) == len(untouched) + len(shop.affected)


def test_affected_customers_scores_are_the_fitted_models_on_features_from_scratch(shop: Shop) -> None:
    with open_model_data(shop.ws) as data:
        scratch = features_at(data, "2023-12-31")
    scratch = scratch[scratch["customer_id"].isin(shop.affected)].reset_index(drop=True)
    assert len(scratch) == len(shop.affected)
    features = _rows(shop.derived, out.FEATURES, shop.affected)
    pd.testing.assert_frame_equal(features, scratch, check_exact=True)
    old = _rows(shop.parent, out.FEATURES, shop.affected)
    assert (features["frequency"] > old["frequency"]).sum() >= len(shop.affected) // 2  # the new lines count

    models = {p: joblib.load(shop.parent.path / p) for p in (out.SEGMENTS_MODEL.path, out.CLV_MODEL.path)}
    frame = scratch.set_index("customer_id")
    seg = _rows(shop.derived, out.SEGMENTS, shop.affected)
    m = models[out.SEGMENTS_MODEL.path]
    assert seg["rfm_segment"].tolist() == m["rfm"].transform(frame)["rfm_segment"].tolist()
    clusters = m["clusterer"].predict(frame)
    assert seg["cluster"].tolist() == clusters.tolist()
    assert seg["cluster_name"].tolist() == [m["cluster_names"][int(c)] for c in clusters]

    c = models[out.CLV_MODEL.path]
    clv = _rows(shop.derived, out.CLV, shop.affected)
    x, t_x, T = (scratch[k].to_numpy(float) for k in ("btyd_frequency", "btyd_recency", "btyd_T"))
    np.testing.assert_array_equal(clv["p_alive"].to_numpy(), c["transaction_model"].prob_alive(x, t_x, T))
    from targetwise.clv import customer_lifetime_value

    money = scratch["btyd_monetary_value"].to_numpy(float)
    from targetwise.errors import ModelError

    def value_at(interval: float | None) -> pd.DataFrame:
        return customer_lifetime_value(
            c["transaction_model"], c["spend_model"], x, t_x, T, np.where((x > 0) & (money > 0), money, 0.0),
            horizon=c["horizon"], discount_rate=c["discount_rate"], time_unit="D", step=7.0, n_draws=c["n_draws"],
            random_state=c["random_state"], interval=interval)

    try:
        value = value_at(c["interval"])
    except ModelError:  # a fit with no usable covariance: the stage's documented fallback is no interval
        value = value_at(None)
        assert "clv_upper" not in clv.columns or clv["clv_upper"].isna().all()  # nor has the derived run
    np.testing.assert_array_equal(clv["clv"].to_numpy(), value["clv"].to_numpy())
    if "clv_upper" in value.columns:
        np.testing.assert_array_equal(clv["clv_upper"].to_numpy(), value["clv_upper"].to_numpy())

    scores = _rows(shop.derived, out.PROPENSITY, shop.affected)
    for key in shop.parent.read_json(out.MODEL_CARDS):
        fitted = joblib.load(shop.parent.path / out.PROPENSITY_MODEL.at(key))
        column = {"purchase": f"p_purchase_{fitted['horizon_days']}d", "churn": f"p_churn_{fitted['horizon_days']}d",
                  "spend": f"spend_{fitted['horizon_days']}d", "next_order": "expected_days_to_next_order"}[fitted["task"]]
        model = fitted["model"]
        expected = (model.predict_proba(scratch[fitted["columns"]])[:, 1] if column.startswith("p_")
                    else model.predict(scratch[fitted["columns"]]))
        if column == "expected_days_to_next_order":
            expected = np.clip(expected, 0.0, float(fitted["horizon_days"]))
        np.testing.assert_array_equal(scores[column].to_numpy(), expected)
        assert not np.array_equal(scores[column].to_numpy(), _rows(shop.parent, out.PROPENSITY, shop.affected)[column])


def test_no_objector_or_erased_customer_in_any_output(shop: Shop) -> None:
    for relative in shop.derived.manifest["files"]:
        if relative.endswith(".parquet"):
            table = shop.derived.read_table(relative)
            if "customer_id" in table.columns:
                ids = set(table["customer_id"].astype(str))
                assert shop.objector not in ids and shop.erased not in ids, relative
    assert shop.objector in set(shop.parent.read_table(out.FEATURES)["customer_id"])  # it was there before


def test_the_models_hold_no_customer_id(shop: Shop) -> None:
    ids = shop.parent.read_table(out.FEATURES)["customer_id"].astype(str).tolist()
    for relative in shop.parent.manifest["files"]:
        if relative.endswith(".joblib"):
            raw = pickle.dumps(joblib.load(shop.parent.path / relative))
            assert not [i for i in ids if i.encode() in raw], relative


def test_a_changed_model_file_is_refused(shop: Shop, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(shop.ws.path, copy)
    ws = Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2))
    active = RunStore(ws).active()
    assert active is not None
    model = active.path / out.CLV_MODEL.path
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(WorkspaceError, match=r"model file .*clv/model\.joblib.* does not match its manifest"):
        active.load_model(out.CLV_MODEL)
    _ingest(ws, "transactions", pd.DataFrame({
        "customer_id": [shop.affected[0]], "order_id": ["late-1"], "ordered_at": ["2023-12-30 10:00:00"],
        "product_id": [ws_product(ws)], "quantity": ["1"], "unit_price": ["5.0"]}))
    with pytest.raises(WorkspaceError, match="does not match its manifest"):
        rescore(ws, as_of="2023-12-31")


def ws_product(ws: Workspace) -> str:
    with open_model_data(ws) as data:
        return str(data.products()["product_id"].iloc[0])


def test_nothing_new_writes_nothing_and_time_does_not_run_backwards(shop: Shop) -> None:
    runs = len(RunStore(shop.ws).list())
    again = rescore(shop.ws)
    assert again.run is None and again.affected_customers == 0
    assert len(RunStore(shop.ws).list()) == runs
    with pytest.raises(ConfigError, match=r"cut-off 2023-11-01 before the active run's 2023-12-31"):
        rescore(shop.ws, as_of="2023-11-01")


def _copy(shop: Shop, tmp_path: Path) -> Workspace:
    copy = tmp_path / "ws"
    shutil.copytree(shop.ws.path, copy)
    return Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2))


def _late_line(ws: Workspace, customer: str, order_id: str) -> None:
    _ingest(ws, "transactions", pd.DataFrame({
        "customer_id": [customer], "order_id": [order_id], "ordered_at": ["2023-12-30 18:00:00"],
        "product_id": [ws_product(ws)], "quantity": ["40"], "unit_price": ["25.0"]}))


def test_cli_rescore_without_promotion_and_its_errors(shop: Shop, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from targetwise.cli.app import app

    ws = _copy(shop, tmp_path)
    active = RunStore(ws).active_id()
    customer = sorted(set(shop.derived.read_table(out.FEATURES)["customer_id"]) - set(shop.affected))[5]
    _late_line(ws, customer, "late-cli")
    runner = CliRunner()
    done = runner.invoke(app, ["rescore", "--no-promote", "--workspace", str(ws.path)])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())  # Rich wraps at the terminal's width
    assert f"derived from {active}: 1 customer(s) re-scored as of 2023-12-31" in said
    assert "not promoted (--no-promote)" in said
    assert RunStore(ws).active_id() == active
    newest = RunStore(ws).list()[-1]
    assert newest.manifest["derived_from"]["run_id"] == active
    assert newest.manifest["derived_from"]["affected_customers"] == 1
    refused = runner.invoke(app, ["rescore", "--as-of", "2023-11-01", "--workspace", str(ws.path)])
    assert refused.exit_code != 0
    said = " ".join(refused.output.split())
    assert "before the active run's 2023-12-31" in said and "--as-of 2023-12-31 or later" in said


def test_a_promoted_derived_run_refreshes_a_live_audience(shop: Shop, tmp_path: Path) -> None:
    from targetwise.io.syncs import SyncStore
    from targetwise.usecases.audiences import create_audience
    from targetwise.usecases.live_audiences import make_live
    from targetwise.usecases.runs import active_run

    ws = _copy(shop, tmp_path)
    features = shop.derived.read_table(out.FEATURES)
    threshold = int(features["frequency"].max()) + 1  # nobody yet
    create_audience(ws, active_run(ws), name="Heavy", conditions=[{"field": "frequency", "op": ">=", "value": threshold}],
                    created_by=None)
    live = make_live(ws, "heavy")
    before = SyncStore(ws).versions(live.audience_key)
    customer = str(features.sort_values("frequency")["customer_id"].iloc[-1])
    for i in range(3):  # three more orders: at the threshold now
        _late_line(ws, customer, f"late-live-{i}")
    result = rescore(ws)
    assert result.promoted and result.affected_customers == 1
    after = SyncStore(ws).versions(live.audience_key)
    assert len(after) == len(before) + 1
    assert after[-1].run_id == result.run.run_id and after[-1].size == 1 and after[-1].adds == 1


def test_with_a_runs_url_the_derived_run_is_published_and_made_the_urls_active_run(shop: Shop, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from targetwise.cli.app import app
    from targetwise.io.run_urls import RunUrlStore

    ws = _copy(shop, tmp_path)
    url = f"file://{tmp_path}/bucket/runs"
    customer = sorted(set(shop.derived.read_table(out.FEATURES)["customer_id"]) - set(shop.affected))[7]
    _late_line(ws, customer, "late-url-1")
    runner = CliRunner()
    kept = runner.invoke(app, ["rescore", "--no-promote", "--runs-url", url, "--workspace", str(ws.path)],
                         env={"COLUMNS": "400"})
    assert kept.exit_code == 0, kept.output
    remote = RunUrlStore(url)
    unpromoted = RunStore(ws).list()[-1]
    assert [r.run_id for r in remote.list()] == [unpromoted.run_id] and remote.active_id() is None
    assert f"published to {url}/{unpromoted.run_id}/ (its active run unchanged)" in " ".join(kept.output.split())

    _late_line(ws, customer, "late-url-2")
    done = runner.invoke(app, ["rescore", "--runs-url", url, "--workspace", str(ws.path)], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    newest = RunStore(ws).active()
    assert newest is not None and newest.run_id != unpromoted.run_id
    assert remote.active_id() == newest.run_id  # the URL's pointer moved with the promotion
    published = remote.get(newest.run_id)
    assert published.manifest == newest.manifest and published.manifest["derived_from"]["affected_customers"] == 1
