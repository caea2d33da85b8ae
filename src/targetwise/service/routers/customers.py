"""GET /v1/customers/{id}, its recommendations and consent; DELETE /v1/customers/{id} (erasure, admin).

An id containing '/' is sent percent-encoded: ``/v1/customers/AB%2F12`` is the
customer ``AB/12`` (see :class:`targetwise.service.routing.EncodedSlashRoute`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from targetwise.service import actions, views
from targetwise.service.deps import ActiveRun, AdminKey, ReadKey, State, audit_details
from targetwise.service.routing import EncodedSlashRoute
from targetwise.service.schemas import ConsentPublic, CustomerPublic, ErasurePublic, RecommendationsPublic

router = APIRouter(prefix="/customers", tags=["customers"], route_class=EncodedSlashRoute)

CustomerId = Annotated[
    str,
    Path(min_length=1, max_length=200, description="Customer identifier, percent-encoded ('/' as %2F: AB%2F12)."),
]


@router.get("/{customer_id}", response_model=CustomerPublic)
def get_customer(key: ReadKey, state: State, run: ActiveRun, customer_id: CustomerId) -> CustomerPublic:
    """Features summary, segment with its reason, CLV with interval, propensities with top drivers, and a summary
    in words (the embedded template, or with a model endpoint its rephrasing checked against the facts)."""
    return views.customer_view(run, customer_id, ws=state.workspace, key_id=key.id, db=state.when_free)


@router.get("/{customer_id}/recommendations", response_model=RecommendationsPublic)
def get_recommendations(
    key: ReadKey,
    run: ActiveRun,
    customer_id: CustomerId,
    n: Annotated[int, Query(ge=1, le=100, description="How many products.")] = 10,
) -> RecommendationsPublic:
    """Personal recommendations with reasons; customers without any get the popular list."""
    return views.recommendations_view(run, customer_id, n)


@router.get("/{customer_id}/consent", response_model=ConsentPublic)
def get_consent(key: ReadKey, state: State, customer_id: CustomerId) -> ConsentPublic:
    """Current consent per purpose ('granted' when nothing is recorded) and the recorded decisions."""
    return actions.consent_of(state, customer_id)


@router.delete("/{customer_id}", response_model=ErasurePublic)
def delete_customer(request: Request, key: AdminKey, state: State, customer_id: CustomerId) -> ErasurePublic:
    """Erase the customer from every table, run output, audience, export and report (cannot be undone).

    Answers 404 when the customer appears nowhere. Afterwards every read of the
    customer answers 404; the erasure is logged under a pseudonym, without personal data.
    """
    receipt = actions.erase(state, customer_id, key_id=key.id)
    audit_details(request, rows_removed=receipt.rows_removed, tables=receipt.tables)
    return receipt
