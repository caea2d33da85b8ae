"""POST /v1/consent: record one consent decision in the ledger (write keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from targetwise.service import actions
from targetwise.service.deps import State, WriteKey, audit_details
from targetwise.service.schemas import ConsentCreate, IngestPublic

router = APIRouter(prefix="/consent", tags=["consent"])


@router.post("", response_model=IngestPublic, status_code=201)
def post_consent(request: Request, key: WriteKey, state: State, body: ConsentCreate) -> IngestPublic:
    """Append a decision; a profiling objection takes effect from the next run, channel opt-outs at once."""
    summary = actions.set_consent(state, body, key_id=key.id)
    audit_details(request, load_id=summary.load_id, purpose=body.purpose, status=body.status)
    return actions.summary_public(summary)
