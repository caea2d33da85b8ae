"""Response models of the background rescore status (`GET /v1/events/rescore`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["RescoreOutcomePublic", "RescoreStatusPublic"]


class RescoreOutcomePublic(BaseModel):
    """The last background rescore (counts only, no customer ids)."""

    finished_at: str
    outcome: Literal["promoted", "nothing_new", "failed"]
    parent_run_id: str | None = Field(description="The run re-scored from (the active run then).")
    run_id: str | None = Field(description="The derived run made (null: nobody had new lines, or it failed).")
    affected_customers: int = Field(description="Customers with new lines whose rows were recomputed.")
    seconds: float
    error: str | None = None


class RescoreStatusPublic(BaseModel):
    """Background re-scoring after `POST /v1/events` (off unless TARGETWISE_RESCORE_AFTER_EVENTS_S is set)."""

    enabled: bool
    delay_s: float | None = Field(description="Seconds after a post before the rescore starts (posts meanwhile join it).")
    pending: bool = Field(description="A rescore is waiting or running.")
    rescores: int = Field(description="Background rescores finished since the service started.")
    last: RescoreOutcomePublic | None
