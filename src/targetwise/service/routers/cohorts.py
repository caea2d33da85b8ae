"""GET /v1/cohorts: the served run's acquisition-month cohorts."""

from __future__ import annotations

from fastapi import APIRouter

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey
from targetwise.service.schemas import CohortsPublic

router = APIRouter(prefix="/cohorts", tags=["cohorts"])


@router.get("", response_model=CohortsPublic)
def list_cohorts(key: ReadKey, run: ActiveRun) -> CohortsPublic:
    """Acquisition-month cohorts: per cohort and month since the first order, customers, active customers,
    retention, net revenue and cumulative revenue per customer (the table `targetwise cohorts` writes)."""
    return views.cohorts_view(run)
