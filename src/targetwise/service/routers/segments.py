"""GET /v1/segments and /v1/segments/{name} (a behavioural cluster or an RFM segment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey, State
from targetwise.service.schemas import SegmentPublic, SegmentsPublic

router = APIRouter(prefix="/segments", tags=["segments"])


@router.get("", response_model=SegmentsPublic)
def list_segments(key: ReadKey, state: State, run: ActiveRun) -> SegmentsPublic:
    """The behavioural clusters and the RFM segments (profile each: size, shares, description, feature
    means and medians vs all customers), the RFM grid, and how customers moved between segments since
    the previous run."""
    return views.segments_view(run, state.workspace)


@router.get("/{name}", response_model=SegmentPublic)
def get_segment(
    key: ReadKey,
    state: State,
    run: ActiveRun,
    name: Annotated[str, Path(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> SegmentPublic:
    """A cluster's or an RFM segment's profile (e.g. `Champions`), its members, paged (ordered by customer id), and
    a summary in words (the embedded template, or with a model endpoint its rephrasing checked against the facts)."""
    return views.segment_view(run, name, limit=limit, offset=offset, ws=state.workspace, key_id=key.id,
                              db=state.when_free)
