"""Campaign planning and measurement over a workspace: consent, sleeping dogs, holdout, CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.errors import ConfigError, NotFoundError
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.campaigns import PlanRequest, measure_workspace_campaign, plan_from_run
from targetwise.usecases.runs import active_run

N = 400


def plan(ws: Workspace, **request: object):
    outcome = plan_from_run(ws, active_run(ws), PlanRequest(**request))  # type: ignore[arg-type]
    return outcome.plan, outcome.excluded_opt_out


@pytest.fixture
def planned(workspace: Workspace) -> Workspace:
    ids = [f"C{i:04d}" for i in range(N)]
    rng = np.random.default_rng(0)
    uplift = np.where(np.arange(N) < 100, -0.05, rng.uniform(0.03, 0.2, N))  # first 100: sleeping dogs
    writer = RunStore(workspace).begin(as_of="2024-01-01", parameters={})
    writer.write_table("uplift/uplift.parquet", pd.DataFrame({"customer_id": ids, "uplift_treatment": uplift}))
    writer.write_table("clv/customer_clv.parquet", pd.DataFrame({"customer_id": ids, "clv": np.full(N, 100.0)}))
    RunStore(workspace).promote(writer.commit().run_id)
    consent = pd.DataFrame({
        "customer_id": ["C0150", "C0151", "C0152"],
        "purpose": ["email", "profiling", "ads"],
        "status": ["revoked", "denied", "denied"],
        "recorded_at": ["2023-06-01"] * 3,
    })
    ingest_arrow(workspace, "consent", source_from_frame(consent, name="consent"))
    return workspace


def test_plan_respects_consent_sleeping_dogs_and_holdout(planned: Workspace) -> None:
    result, excluded = plan(planned, contact_cost=1.0, value_per_conversion=50.0, holdout_fraction=0.1)
    a = result.assignments
    assert excluded == 2  # email revoked + profiling denied; an ads opt-out does not block e-mail
    assert {"C0150", "C0151"}.isdisjoint(a.index) and "C0152" in a.index
    dogs = a.loc[[f"C{i:04d}" for i in range(100)]]
    assert (dogs["action"] == "not_contacted").all() and (dogs["reason"] == "negative_uplift").all()
    # everyone with uplift * 50 > 1 is worth contacting; 10 % of them are held out at random
    candidates = a[a["reason"].isin(["contact", "holdout"])]
    assert len(candidates) == N - 100 - 2
    assert result.n_holdout == pytest.approx(0.1 * len(candidates), abs=1)
    assert result.n_contacted + result.n_holdout == len(candidates)


def test_plan_with_budget_and_clv_value(planned: Workspace) -> None:
    result, _ = plan(planned, contact_cost=2.0, value_per_conversion="clv", margin=0.3, budget=100.0)
    # 50 affordable candidates; the 10 % holdout is drawn from them, so 45 are contacted
    assert result.total_cost == pytest.approx(90.0) and (result.n_contacted, result.n_holdout) == (45, 5)
    contacted = result.assignments[result.assignments["action"] == "treatment"]
    others = result.assignments[result.assignments["reason"] == "over_budget"]
    assert contacted["predicted_uplift"].min() >= others["predicted_uplift"].max()  # best first


def test_plan_errors(planned: Workspace, workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="give a value per conversion or 'clv'"):
        plan(planned, contact_cost=1.0, value_per_conversion=None)
    with pytest.raises(ConfigError, match="unknown channel 'pigeon'"):
        plan(planned, contact_cost=1.0, value_per_conversion=5.0, channel="pigeon")
    with pytest.raises(ConfigError, match="margin must be between 0 and 1"):
        plan(planned, contact_cost=1.0, value_per_conversion="clv", margin=1.5)
    r = CliRunner().invoke(app, ["campaign", "plan", "--contact-cost", "1", "-w", str(planned.path)])
    assert r.exit_code != 0 and "give either --value-per-conversion or --value-from-clv" in r.output


def test_measure_campaign_from_workspace_tables(workspace: Workspace, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ids = [f"C{i:04d}" for i in range(2000)]
    arm = np.where(np.arange(2000) % 2 == 0, "treatment", "control")
    converted = rng.random(2000) < np.where(arm == "treatment", 0.15, 0.10)
    exposures = pd.DataFrame({"campaign_id": "K1", "customer_id": ids, "arm": arm, "sent_at": "2023-05-01"})
    responses = pd.DataFrame({"campaign_id": "K1", "customer_id": np.array(ids)[converted],
                              "responded_at": "2023-05-03", "response_type": "conversion", "revenue": 40.0})
    ingest_arrow(workspace, "campaign_exposures", source_from_frame(exposures, name="exp"))
    ingest_arrow(workspace, "responses", source_from_frame(responses, name="resp"))
    result = measure_workspace_campaign(workspace, "K1").results
    row = result[(result["segment"] == "all") & (result["arm"] == "treatment")].iloc[0]
    t_rate = converted[arm == "treatment"].mean()
    c_rate = converted[arm == "control"].mean()
    assert row["conversion_rate_treated"] == pytest.approx(t_rate)
    assert row["conversion_rate_control"] == pytest.approx(c_rate)
    assert row["incremental_conversion_rate"] == pytest.approx(t_rate - c_rate)
    assert row["icr_low"] < t_rate - c_rate < row["icr_high"]
    assert row["incremental_revenue_per_customer"] == pytest.approx(40.0 * (t_rate - c_rate))
    with pytest.raises(NotFoundError, match="campaign 'nope' has no exposures"):
        measure_workspace_campaign(workspace, "nope")
    r = CliRunner().invoke(app, ["campaign", "report", "K1", "-w", str(workspace.path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert f"conversion {t_rate:.2%} vs control {c_rate:.2%}" in r.output


def test_campaign_plan_cli(planned: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    r = CliRunner().invoke(app, ["campaign", "plan", "--contact-cost", "1", "--value-per-conversion", "50",
                                 "--out", str(out), "-w", str(planned.path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "excluded by consent (email or profiling): 2" in r.output
    frame = pd.read_csv(out)
    assert set(frame["reason"]) <= {"contact", "holdout", "negative_uplift"}
