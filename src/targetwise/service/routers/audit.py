"""GET /v1/audit: who read or exported what (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from targetwise.service.deps import AdminKey, State
from targetwise.service.schemas import AuditEntryPublic, AuditPublic

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPublic)
def get_audit(
    key: AdminKey,
    state: State,
    key_id: Annotated[str | None, Query(max_length=20)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    customer_id: Annotated[str | None, Query(max_length=200, description="Entries about this customer.")] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO timestamp (UTC).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPublic:
    """Audit entries, newest first. Customers appear only as pseudonyms; filter by id with customer_id."""
    subject = None if customer_id is None else f"customer:{state.audit.pseudonym(customer_id)}"
    total, entries = state.audit.query(
        key_id=key_id, action=action, subject=subject, since=since, limit=limit, offset=offset
    )
    return AuditPublic(
        total=total, limit=limit, offset=offset, entries=[AuditEntryPublic(**e.__dict__) for e in entries]
    )
