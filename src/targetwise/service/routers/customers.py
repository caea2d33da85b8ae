"""GET /v1/customers/{id} and /v1/customers/{id}/recommendations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey
from targetwise.service.schemas import CustomerPublic, RecommendationsPublic

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=200, description="Customer identifier.")]


@router.get("/{customer_id}", response_model=CustomerPublic)
def get_customer(key: ReadKey, run: ActiveRun, customer_id: CustomerId) -> CustomerPublic:
    """Features summary, segment with its reason, CLV with interval, propensities with top drivers."""
    return views.customer_view(run, customer_id)


@router.get("/{customer_id}/recommendations", response_model=RecommendationsPublic)
def get_recommendations(
    key: ReadKey,
    run: ActiveRun,
    customer_id: CustomerId,
    n: Annotated[int, Query(ge=1, le=100, description="How many products.")] = 10,
) -> RecommendationsPublic:
    """Personal recommendations with reasons; customers without any get the popular list."""
    return views.recommendations_view(run, customer_id, n)
