"""POST /v1/campaigns/plan."""

from __future__ import annotations

from fastapi import APIRouter

from targetwise.service import actions
from targetwise.service.deps import ActiveRun, ReadKey, State
from targetwise.service.schemas import PlanPublic, PlanRequest

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.post("/plan", response_model=PlanPublic)
def plan_campaign(key: ReadKey, state: State, run: ActiveRun, body: PlanRequest) -> PlanPublic:
    """Whom to contact for the most incremental profit within budget, with a random holdout (score 'uplift').

    A response score (e.g. p_purchase_30d) gives a ranking of expected responders instead (kind
    'responders'): who is most likely to respond anyway, within budget/max_contacts, with no incremental
    or profit figure. Without an uplift model, score 'uplift' answers 404 saying how to get one.
    """
    return actions.plan(state, run, body)
