"""GET/POST /v1/syncs, POST /v1/syncs/run, POST /v1/syncs/{id}/run, GET /v1/syncs/{id}/history (docs/syncs.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from targetwise.service.deps import AdminKey, ReadKey, State, audit_details
from targetwise.service.schemas_syncs import (
    SyncCreate,
    SyncHistoryPublic,
    SyncList,
    SyncPublic,
    SyncRunPublic,
    SyncRunsPublic,
)
from targetwise.usecases import syncs as usecases

router = APIRouter(prefix="/syncs", tags=["syncs"])

SyncId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Sync id.")]


@router.get("", response_model=SyncList)
def list_syncs(key: ReadKey, state: State) -> SyncList:
    """Every sync: destination, the audience's latest version, what the destination holds, the last run."""
    return SyncList(syncs=[SyncPublic(**s.to_dict()) for s in usecases.list_syncs(state.workspace)])


@router.post("", response_model=SyncPublic, status_code=201)
def add_sync(request: Request, key: AdminKey, state: State, body: SyncCreate) -> SyncPublic:
    """Add a sync of a saved audience (it becomes live) to a destination; options are validated here."""
    record = usecases.add_sync(state.workspace, body.audience, destination=body.destination, options=body.options,
                               created_by=key.id)
    audit_details(request, sync_id=record.sync_id, destination=record.kind)
    return SyncPublic(**record.to_dict())


@router.post("/run", response_model=SyncRunsPublic)
def run_all(key: AdminKey, state: State) -> SyncRunsPublic:
    """Run every sync now (each sends its delta; one failing does not stop the others)."""
    records = usecases.run_all_syncs(state.workspace, key_id=key.id, route="/v1/syncs/run", method="POST")
    return SyncRunsPublic(runs=[SyncRunPublic(**r.to_dict()) for r in records])


@router.post("/{sync_id}/run", response_model=SyncRunPublic)
def run_one(key: AdminKey, state: State, sync_id: SyncId) -> SyncRunPublic:
    """Run one sync now: resume its open plan, then send the delta (nothing when nothing changed)."""
    record = usecases.run_sync(state.workspace, sync_id, key_id=key.id, route="/v1/syncs/{sync_id}/run",
                               method="POST")
    return SyncRunPublic(**record.to_dict())


@router.get("/{sync_id}/history", response_model=SyncHistoryPublic)
def history(key: ReadKey, state: State, sync_id: SyncId) -> SyncHistoryPublic:
    """Every run of the sync, the audience's versions and the dead letters."""
    found = usecases.sync_history(state.workspace, sync_id)
    return SyncHistoryPublic(**found.to_dict())
