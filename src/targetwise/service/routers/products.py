"""GET /v1/products/{id}/similar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from targetwise.service import views
from targetwise.service.deps import ActiveRun, ReadKey
from targetwise.service.routing import EncodedSlashRoute
from targetwise.service.schemas import SimilarPublic

router = APIRouter(prefix="/products", tags=["products"], route_class=EncodedSlashRoute)


@router.get("/{product_id}/similar", response_model=SimilarPublic)
def get_similar_products(
    key: ReadKey,
    run: ActiveRun,
    product_id: Annotated[str, Path(min_length=1, max_length=200, description="Product id, percent-encoded ('/' as %2F).")],
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SimilarPublic:
    """Products bought by the same customers, most similar first."""
    return views.similar_view(run, product_id, n)
