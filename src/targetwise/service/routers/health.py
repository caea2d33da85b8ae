"""GET /v1/health: liveness, version and the served run (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter

import targetwise
from targetwise.service.deps import State
from targetwise.service.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health(state: State) -> HealthPublic:
    return HealthPublic(status="ok", version=targetwise.__version__, active_run=state.runs.active_id())
