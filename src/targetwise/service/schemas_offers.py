"""Request and response schemas of next-best offers (issue 22): ``POST /v1/offers/assign`` and
``GET /v1/offers/evaluate``, the JSON of ``targetwise offers assign|evaluate --json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OfferAssignPublic", "OfferAssignRequest", "OfferDecisionPublic", "OfferEvaluationPublic",
           "PolicyValuePublic"]


class OfferAssignRequest(BaseModel):
    """Give each member of a saved audience one eligible, live offer; every decision is logged."""

    model_config = ConfigDict(extra="forbid")

    audience_id: str = Field(min_length=1, max_length=200, examples=["vips"], description="A saved audience's id.")
    holdout: float = Field(default=0.1, ge=0.0, le=1.0,
                           description="Share of decisions made uniformly at random over the eligible offers.")
    method: Literal["thompson", "linucb"] = Field(default="thompson", description="The bandit policy.")
    reward_kind: Literal["click", "conversion", "revenue"] | None = Field(
        default=None, description="Train on rewards of this kind only (null: every logged reward).")
    assignments: bool = Field(default=False, description="Also answer one record per decision.")


class OfferDecisionPublic(BaseModel):
    customer_id: str
    offer_id: str
    propensity: float = Field(description="Probability with which the policy chose this offer (logged).")
    holdout: bool
    n_eligible: int


class OfferAssignPublic(BaseModel):
    run_id: str
    audience_id: str
    decided_at: str
    method: str
    holdout: float
    offers: list[str]
    audience_size: int
    assigned: int
    by_offer: dict[str, int]
    holdout_decisions: int
    excluded: dict[str, int] = Field(description="Members given nothing, by reason (objectors, no features, "
                                     "no eligible live offer).")
    trained_on: int = Field(description="Rewarded logged decisions the policy was fitted on.")
    load_id: int = Field(description="The load of offer_decisions that holds these decisions.")
    notes: list[str]
    assignments: list[OfferDecisionPublic] | None = None


class PolicyValuePublic(BaseModel):
    policy: str = Field(description="learned, logging or uniform.")
    estimator: str = Field(description="ipw, snipw, dr or on_policy (the logging policy's observed mean).")
    value: float = Field(description="Estimated mean reward per decision (not an incremental effect: compare "
                         "policies with each other).")
    low: float
    high: float
    n_rows: int


class OfferEvaluationPublic(BaseModel):
    run_id: str
    reward_kind: str | None
    decisions: int
    evaluated: int
    offers: list[str]
    values: list[PolicyValuePublic]
    gains: dict[str, float] = Field(description="The learned policy's doubly robust value minus the logging "
                                    "policy's (over_logging) and the uniform policy's (over_uniform).")
    excluded: dict[str, int]
    notes: list[str]
