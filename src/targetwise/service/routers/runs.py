"""GET /v1/runs and POST /v1/runs/{id}/promote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from targetwise.service.deps import AdminKey, ReadKey, State
from targetwise.service.schemas import RunPublic, RunsPublic
from targetwise.usecases.live_audiences import promote_and_refresh

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("", response_model=RunsPublic)
def list_runs(key: ReadKey, state: State) -> RunsPublic:
    """Every run, oldest first, with its stages' status; `active` is the served one."""
    store = state.runs.store
    active = store.active_id()
    return RunsPublic(
        active=active,
        runs=[
            RunPublic(
                run_id=info.run_id,
                as_of=info.as_of,
                created_at=info.created_at,
                active=info.run_id == active,
                stages={name: rec.status for name, rec in info.stages().items()},
            )
            for info in store.list()
        ],
    )


@router.post("/{run_id}/promote", response_model=RunPublic)
def promote_run(
    key: AdminKey,
    state: State,
    run_id: Annotated[str, Path(min_length=1, max_length=100)],
    partial: Annotated[bool, Query(description="Serve it even if a stage failed (without that stage's outputs).")] = False,
) -> RunPublic:
    """Serve this run from the next request on (atomic switch); a run with a failed stage answers 409
    ``partial_run`` unless ``partial=true``."""
    info, _refresh = promote_and_refresh(state.runs.store.workspace, run_id, partial=partial)  # live audiences too
    return RunPublic(
        run_id=info.run_id,
        as_of=info.as_of,
        created_at=info.created_at,
        active=True,
        stages={name: rec.status for name, rec in info.stages().items()},
    )
