"""GET /v1/segments and /v1/segments/{name}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey
from targetwise.service.schemas import SegmentPublic, SegmentsPublic

router = APIRouter(prefix="/segments", tags=["segments"])


@router.get("", response_model=SegmentsPublic)
def list_segments(key: ReadKey, run: ActiveRun) -> SegmentsPublic:
    """Every segment's profile: size, share, revenue share, description, feature means."""
    return views.segments_view(run)


@router.get("/{name}", response_model=SegmentPublic)
def get_segment(
    key: ReadKey,
    run: ActiveRun,
    name: Annotated[str, Path(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> SegmentPublic:
    """A segment's profile and its members, paged (ordered by customer id)."""
    return views.segment_view(run, name, limit=limit, offset=offset)
