"""GET /v1/runs/{run_id}/drift: a run against the previous promoted run (targetwise.usecases.drift)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from targetwise.service.deps import ReadKey, WorkspaceDep
from targetwise.service.schemas_drift import DriftPublic
from targetwise.usecases.drift import run_drift

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("/{run_id}/drift", response_model=DriftPublic)
def get_drift(key: ReadKey, ws: WorkspaceDep, run_id: Annotated[str, Path(min_length=1, max_length=100)]) -> DriftPublic:
    """PSI of each feature and score against the previous promoted run's deciles, the share of customers
    changing segment, each model's out-of-time metric then and now, and the breaches of the run config's
    drift thresholds; 404 for an unknown run or one without a drift record."""
    return DriftPublic.model_validate(run_drift(ws, run_id))
