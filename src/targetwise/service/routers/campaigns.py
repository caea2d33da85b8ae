"""POST /v1/campaigns/plan, GET /v1/campaigns/{id}/report (unadjusted and CUPED), POST /v1/campaigns/power."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from targetwise.service import actions
from targetwise.service.deps import ActiveRun, ReadKey, State
from targetwise.service.schemas import (
    CampaignReadoutPublic,
    PlanPublic,
    PlanRequest,
    PowerPublic,
    PowerRequest,
)

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.post("/plan", response_model=PlanPublic)
def plan_campaign(key: ReadKey, state: State, run: ActiveRun, body: PlanRequest) -> PlanPublic:
    """Whom to contact for the most incremental profit within budget, with a random holdout (score 'uplift').

    A response score (e.g. p_purchase_30d) gives a ranking of expected responders instead (kind
    'responders'): who is most likely to respond anyway, within budget/max_contacts, with no incremental
    or profit figure. Without an uplift model, score 'uplift' answers 404 saying how to get one.
    """
    return actions.plan(state, run, body)


@router.get("/{campaign_id}/report", response_model=CampaignReadoutPublic)
def campaign_report(
    key: ReadKey, state: State, campaign_id: str,
    pre_period_days: Annotated[int, Query(ge=1, le=3650, description="CUPED covariate window (days before the send).")] = 90,
) -> CampaignReadoutPublic:
    """Treated vs holdout per arm, overall and by segment: incremental conversion rate and revenue per customer,
    unadjusted and CUPED-adjusted on each customer's spend before the send, with the variance reduction."""
    return actions.campaign_readout(state, campaign_id, pre_period_days=pre_period_days)


@router.post("/power", response_model=PowerPublic)
def campaign_power(key: ReadKey, state: State, body: PowerRequest) -> PowerPublic:
    """Customers per arm for a holdout test (two-sided two-proportion z-test), optionally with CUPED's reduction."""
    return actions.power(state, body)
