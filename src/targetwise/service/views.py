"""Read views of a served run, shared by the JSON API and the web UI.

Each function takes one :class:`RunData` (captured once per request) and
returns a response model; none touches another run, so an answer is always
consistent with its ``run_id``. A missing stage output answers 404 naming the
stage (see :meth:`RunData.require`); a customer missing from one table of a
run that has others gets ``null`` for that section and a reason in
``unavailable``.
"""

from __future__ import annotations

from typing import Any

from targetwise.errors import NotFoundError
from targetwise.service import schemas
from targetwise.service.state import (
    CLV,
    FEATURE_SUMMARY,
    FEATURES,
    POPULAR,
    PROPENSITY,
    RECOMMENDATIONS,
    SEGMENTS,
    SIMILAR,
    RunData,
    parse_drivers,
    plain,
)

__all__ = ["customer_view", "recommendations_view", "segment_view", "segments_view", "similar_view"]

TOP_DRIVERS = 3
_SECTIONS = {"features": FEATURES, "segment": SEGMENTS, "clv": CLV, "propensity": PROPENSITY}


def _clv_params(run: RunData) -> dict[str, Any]:
    record = run.info.manifest.get("stages", {}).get("clv", {})
    params = {**record.get("metrics", {}), **record.get("params", {}), **record.get("parameters", {})}
    return {k: plain(params.get(k)) for k in ("horizon", "time_unit")}


def customer_view(run: RunData, customer_id: str) -> schemas.CustomerPublic:
    rows: dict[str, dict[str, Any] | None] = {}
    unavailable: dict[str, str] = {}
    known = False
    for section, relative in _SECTIONS.items():
        stage = relative.split("/", 1)[0]
        if not run.has(relative):
            rows[section] = None
            unavailable[section] = f"stage {stage!r} did not run in run {run.run_id}"
            continue
        row = run.by_customer(relative).get(customer_id)
        rows[section] = row
        if row is None:
            unavailable[section] = f"not scored by stage {stage!r} in run {run.run_id}"
        else:
            known = True
    if not known:
        raise NotFoundError(
            f"customer {customer_id!r} is not in run {run.run_id}",
            fix="check the id; a customer is left out of a run when they had no purchase before its as_of "
            "date or objected to profiling",
            details={"run_id": run.run_id},
        )
    features = rows["features"]
    segment = rows["segment"]
    clv = rows["clv"]
    scores = rows["propensity"]
    return schemas.CustomerPublic(
        run_id=run.run_id,
        as_of=run.as_of,
        customer_id=customer_id,
        features=None if features is None else {k: features[k] for k in FEATURE_SUMMARY if k in features},
        segment=None if segment is None else schemas.SegmentOfCustomer(
            **{k: segment.get(k) for k in ("rfm_score", "rfm_segment", "cluster", "cluster_name", "reason")}
        ),
        clv=None if clv is None else schemas.ClvOfCustomer(
            **{k: clv.get(k) for k in ("p_alive", "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper")},
            **_clv_params(run),
        ),
        propensity=None if scores is None else schemas.PropensityOfCustomer(
            p_purchase_30d=scores.get("p_purchase_30d"),
            p_churn_90d=scores.get("p_churn_90d"),
            drivers=[schemas.Driver(**d) for d in parse_drivers(scores.get("drivers_purchase_30d"))[:TOP_DRIVERS]],
            expected_days_to_next_order=scores.get("expected_days_to_next_order"),
        ),
        unavailable=unavailable,
    )


def recommendations_view(run: RunData, customer_id: str, n: int) -> schemas.RecommendationsPublic:
    """Personal recommendations, or the popular list (reason 'popular') for a customer without any."""
    names = run.product_names()
    personal = run.grouped(RECOMMENDATIONS, "customer_id").get(customer_id) if run.has(RECOMMENDATIONS) else None
    if personal:
        items = [
            schemas.RecommendationItem(
                rank=r["rank"], product_id=str(r["product_id"]), name=names.get(str(r["product_id"])),
                score=r["score"], reason=r["reason"],
            )
            for r in personal[:n]
        ]
        source = "personal"
    else:
        if not run.has(POPULAR):
            run.require(RECOMMENDATIONS if not run.has(RECOMMENDATIONS) else POPULAR)
        items = [
            schemas.RecommendationItem(
                rank=i, product_id=str(r["product_id"]), name=names.get(str(r["product_id"])),
                score=r["score"], reason="popular",
            )
            for i, r in enumerate(run.popular()[:n], start=1)
        ]
        source = "popular"
    return schemas.RecommendationsPublic(
        run_id=run.run_id, as_of=run.as_of, customer_id=customer_id, source=source, items=items  # type: ignore[arg-type]
    )


def similar_view(run: RunData, product_id: str, n: int) -> schemas.SimilarPublic:
    rows = run.grouped(SIMILAR, "product_id").get(product_id)
    if not rows:
        raise NotFoundError(
            f"product {product_id!r} has no similar products in run {run.run_id}",
            fix="check the id; products never bought before the run's as_of date have no neighbours",
            details={"run_id": run.run_id},
        )
    names = run.product_names()
    return schemas.SimilarPublic(
        run_id=run.run_id,
        as_of=run.as_of,
        product_id=product_id,
        items=[
            schemas.SimilarItem(
                rank=r["rank"], product_id=str(r["similar_product_id"]),
                name=names.get(str(r["similar_product_id"])), score=r["score"],
            )
            for r in rows[:n]
        ],
    )


def segments_view(run: RunData) -> schemas.SegmentsPublic:
    return schemas.SegmentsPublic(
        run_id=run.run_id, as_of=run.as_of, segments=[schemas.SegmentProfile(**p) for p in run.profiles()]
    )


def segment_view(run: RunData, name: str, *, limit: int, offset: int) -> schemas.SegmentPublic:
    profiles = {p["name"]: p for p in run.profiles()}
    if name not in profiles:
        raise NotFoundError(
            f"segment {name!r} not found in run {run.run_id}",
            fix=f"segments of this run: {', '.join(profiles) or 'none'}",
            details={"run_id": run.run_id},
        )
    run.require(SEGMENTS)
    members = run.members(name)
    page = members.iloc[offset : offset + limit]
    items = [
        schemas.SegmentMember(
            customer_id=str(r.customer_id),
            rfm_segment=plain(r.rfm_segment),
            cluster=plain(r.cluster),
            reason=plain(r.reason),
        )
        for r in page.itertuples(index=False)
    ]
    return schemas.SegmentPublic(
        run_id=run.run_id,
        as_of=run.as_of,
        profile=schemas.SegmentProfile(**profiles[name]),
        members=schemas.MembersPage(total=len(members), limit=limit, offset=offset, items=items),
    )

