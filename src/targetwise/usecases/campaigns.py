"""Use cases: plan a campaign from a run's scores under a budget; measure a campaign afterwards.

One planner for ``targetwise campaign plan``, ``POST /v1/campaigns/plan`` and the UI:
the same request gives the same plan on every surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from targetwise.campaigns.measurement import CampaignMeasurement, measure_campaign
from targetwise.campaigns.planner import CampaignPlan, plan_campaign
from targetwise.errors import ConfigError, DataValidationError, NotFoundError
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import RunData

__all__ = ["CHANNEL_PURPOSE", "PlanOutcome", "PlanRequest", "measure_workspace_campaign", "plan_from_run"]

#: which consent purpose a contact channel needs (profiling is always required)
CHANNEL_PURPOSE = {"email": "email", "sms": "sms", "ads": "ads"}
Channel = Literal["email", "sms", "ads"]


@dataclass(frozen=True)
class PlanRequest:
    """What to plan. ``value_per_conversion`` is a fixed margin per incremental conversion or
    ``"clv"``: each customer's CLV times ``margin`` (never below 0)."""

    contact_cost: float
    value_per_conversion: float | Literal["clv"]
    margin: float = 1.0
    score: str = "uplift"
    budget: float | None = None
    max_contacts: int | None = None
    holdout_fraction: float = 0.10
    channel: Channel = "email"
    audience_id: str | None = None
    random_state: int = 0


@dataclass
class PlanOutcome:
    plan: CampaignPlan
    run_id: str
    as_of: str | None
    score: str
    arms: list[str]
    customers_considered: int
    excluded_opt_out: int


def _effects(run: RunData, score: str) -> pd.DataFrame:
    frame = run.audience_frame().set_index("customer_id")
    if score == "uplift":
        if not run.has(out.UPLIFT):
            raise NotFoundError(
                f"run {run.run_id} has no uplift model",
                fix="ingest a randomised campaign (campaign_exposures with a control arm, responses) and run again",
                details={"run_id": run.run_id, "stage": "uplift", "output": out.UPLIFT.path},
            )
        arms = [c for c in frame.columns if c.startswith("uplift.uplift_")]
        return frame[arms].rename(columns=lambda c: c.removeprefix("uplift.uplift_"))
    if score not in frame.columns or not pd.api.types.is_numeric_dtype(frame[score]):
        numeric = sorted(c for c in frame.columns if "." not in c and pd.api.types.is_numeric_dtype(frame[c]))
        raise DataValidationError(
            f"score {score!r} is not a numeric column of run {run.run_id}",
            fix=f"use 'uplift' or one of: {', '.join(numeric)}",
        )
    return frame[[score]].rename(columns={score: "treatment"})


def plan_from_run(ws: Workspace, run: RunData, request: PlanRequest) -> PlanOutcome:
    """Budgeted plan over the run's customers: consent (profiling and the channel) and the audience applied."""
    if request.channel not in CHANNEL_PURPOSE:
        raise ConfigError(f"unknown channel {request.channel!r}", fix=f"use one of: {', '.join(CHANNEL_PURPOSE)}")
    if request.value_per_conversion != "clv" and not isinstance(request.value_per_conversion, int | float):
        raise ConfigError("give a value per conversion or 'clv'", fix="e.g. --value-per-conversion 25 or --value-from-clv")
    if not 0 <= request.margin <= 1:
        raise ConfigError(f"margin must be between 0 and 1, got {request.margin}", fix="e.g. --margin 0.3")
    effects = _effects(run, request.score).dropna(how="all").fillna(0.0)
    if request.audience_id is not None:
        effects = effects[effects.index.isin(AudienceStore(ws).members(request.audience_id))]
    blocked = opted_out(ws, "profiling") | opted_out(ws, CHANNEL_PURPOSE[request.channel])
    before = len(effects)
    effects = effects[~effects.index.isin(blocked)]
    if effects.empty:
        raise DataValidationError("no customer is left to plan for", fix="widen the audience, or check the run has scores")
    if request.value_per_conversion == "clv":
        run.require(out.CLV)
        clv = run.table(out.CLV).set_index("customer_id")["clv"]
        values: float | pd.Series = (clv.reindex(effects.index).fillna(0.0) * request.margin).clip(lower=0.0)
    else:
        values = float(request.value_per_conversion)
    frame: pd.DataFrame | pd.Series = effects if effects.shape[1] > 1 else effects.iloc[:, 0]
    plan = plan_campaign(
        frame,
        contact_cost=request.contact_cost,
        value_per_conversion=values,
        budget=request.budget,
        max_contacts=request.max_contacts,
        holdout_fraction=request.holdout_fraction,
        random_state=request.random_state,
    )
    return PlanOutcome(
        plan=plan, run_id=run.run_id, as_of=run.as_of, score=request.score, arms=[str(a) for a in effects.columns],
        customers_considered=len(effects), excluded_opt_out=before - len(effects),
    )


def measure_workspace_campaign(ws: Workspace, campaign_id: str, *, response_type: str = "conversion") -> CampaignMeasurement:
    """Incremental conversion and revenue of each arm vs control, overall and by the active run's segments."""
    frame = ws.campaign_outcomes(campaign_id, response_type=response_type)
    if frame.empty:
        raise NotFoundError(f"campaign {campaign_id!r} has no exposures", fix="check the id with `targetwise status`")
    run = RunStore(ws).active()
    if run is not None and run.has(out.SEGMENTS):
        segments = run.read_table(out.SEGMENTS)[["customer_id", "cluster_name"]]
        frame = frame.merge(segments, on="customer_id", how="left")
        frame["segment"] = frame.pop("cluster_name").fillna("unsegmented")
    frame["converted"] = frame["converted"].astype(int)
    frame["revenue"] = frame["revenue"].astype(float)
    return measure_campaign(frame, control_label="control")

