"""POST /v1/events: new transactions, validated like an ingest, all or nothing."""

from __future__ import annotations

from fastapi import APIRouter, Request

from targetwise.service import actions
from targetwise.service.deps import ReadKey, State, WriteKey, audit_details
from targetwise.service.schemas import EventsCreate, IngestPublic
from targetwise.service.schemas_events import RescoreStatusPublic

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", response_model=IngestPublic, status_code=201)
def post_events(request: Request, key: WriteKey, state: State, body: EventsCreate) -> IngestPublic:
    """Load transaction lines into the workspace; they enter models at the next `targetwise run` (or the
    next background rescore when the service re-scores after events: `GET /v1/events/rescore`)."""
    summary = actions.post_events(state, body, key_id=key.id)
    audit_details(request, load_id=summary.load_id, rows=summary.rows_read)
    return actions.summary_public(summary)


@router.get("/rescore", response_model=RescoreStatusPublic)
def rescore_status(key: ReadKey, state: State) -> RescoreStatusPublic:
    """Whether the service re-scores after events (TARGETWISE_RESCORE_AFTER_EVENTS_S), and its last outcome."""
    return RescoreStatusPublic(**state.rescorer.status())
