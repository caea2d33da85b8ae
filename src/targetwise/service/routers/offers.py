"""Next-best offers over the served run (targetwise.usecases.offers, as ``targetwise offers``).

``POST /v1/offers/assign`` (write key: it logs decisions) and ``GET /v1/offers/evaluate`` (read key).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from targetwise.service.deps import ActiveRun, ReadKey, State, WriteKey, audit_details
from targetwise.service.schemas_offers import OfferAssignPublic, OfferAssignRequest, OfferEvaluationPublic
from targetwise.usecases.offers import assign_offers

router = APIRouter(prefix="/offers", tags=["offers"])


@router.post("/assign", response_model=OfferAssignPublic, response_model_exclude_none=True)
def assign(request: Request, body: OfferAssignRequest, key: WriteKey, state: State,
           run: ActiveRun) -> OfferAssignPublic:
    """One eligible, live offer per member of the audience, chosen by the contextual bandit fitted on the
    offer log; every decision is written to ``offer_decisions`` with its propensity (holdout decisions
    uniform over the eligible offers). Profiling objectors get nothing and are counted in ``excluded``."""
    made = state.when_free(lambda: assign_offers(state.workspace, run, body.audience_id, holdout=body.holdout,
                                                 method=body.method, reward_kind=body.reward_kind))
    audit_details(request, audience_id=body.audience_id, assigned=made.assigned, load_id=made.load_id)
    return OfferAssignPublic.model_validate(made.to_dict(assignments=body.assignments))


@router.get("/evaluate", response_model=OfferEvaluationPublic)
def evaluate(key: ReadKey, state: State, run: ActiveRun,
             method: Annotated[Literal["thompson", "linucb"], Query()] = "thompson",
             reward_kind: Annotated[Literal["click", "conversion", "revenue"] | None, Query()] = None,
             ) -> OfferEvaluationPublic:
    """Off-policy estimates (IPW, self-normalised IPW, doubly robust, bootstrap intervals) of the learned
    policy against the logging policy and uniform random, from the offer log."""
    return OfferEvaluationPublic.model_validate(
        state.offer_evaluation(run, method=method, reward_kind=reward_kind).to_dict())
