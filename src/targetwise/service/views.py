"""Read views of a served run, shared by the JSON API and the web UI.

Each function takes one :class:`RunData` (captured once per request) and
returns a response model; none touches another run, so an answer is always
consistent with its ``run_id``. A missing stage output answers 404 naming the
stage (see :meth:`RunData.require`); a customer missing from one table of a
run that has others gets ``null`` for that section and a reason in
``unavailable``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from targetwise.errors import NotFoundError
from targetwise.io import outputs as out
from targetwise.io.workspace import Workspace
from targetwise.service import schemas
from targetwise.service.state import FEATURE_SUMMARY
from targetwise.usecases import explain, segments_browse
from targetwise.usecases.recommendations import recommendations_for, similar_products_for
from targetwise.usecases.runs import RunData, parse_drivers, plain

__all__ = ["customer_view", "recommendations_view", "segment_view", "segments_view", "similar_view", "summary_public"]

TOP_DRIVERS = 3
_SECTIONS = {"features": out.FEATURES, "segment": out.SEGMENTS, "clv": out.CLV, "propensity": out.PROPENSITY}


def _clv_params(run: RunData) -> dict[str, Any]:
    record = run.info.stage("clv")
    params = {} if record is None else {**record.metrics, **record.params}
    return {k: plain(params.get(k)) for k in ("horizon", "time_unit")}


def _send_time(run: RunData, customer_id: str, unavailable: dict[str, str]) -> schemas.SendTimeOfCustomer | None:
    from targetwise.usecases.sendtime import send_time_of

    row = send_time_of(run, customer_id)
    if row is None:
        if run.has(out.SEND_TIMES):  # without engagements the stage is skipped and the section is simply null
            unavailable["send_time"] = f"no send time for this customer in run {run.run_id}"
        return None
    return schemas.SendTimeOfCustomer(**{k: v for k, v in row.items() if k != "customer_id"})


def summary_public(summary: explain.Summary) -> schemas.SummaryPublic:
    return schemas.SummaryPublic(text=summary.text, engine=summary.engine, check=summary.check,  # type: ignore[arg-type]
                                 facts=[schemas.FactPublic(**f) for f in summary.facts.to_dict()["facts"]])


def customer_view(
    run: RunData, customer_id: str, *, ws: Workspace | None = None, key_id: str | None = None,
    db: Callable[[Callable[[], Any]], Any] | None = None,
) -> schemas.CustomerPublic:
    """The customer's sections; given the workspace, with their summary in words (``db``: the service's lock)."""
    rows: dict[str, dict[str, Any] | None] = {}
    unavailable: dict[str, str] = {}
    known = False
    for section, relative in _SECTIONS.items():
        stage = relative.stage
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
        send_time=_send_time(run, customer_id, unavailable),
        unavailable=unavailable,
        summary=None if ws is None else summary_public(
            explain.customer_summary(ws, run, customer_id, key_id=key_id, **({"db": db} if db else {}))),
    )


def recommendations_view(run: RunData, customer_id: str, n: int) -> schemas.RecommendationsPublic:
    """Personal recommendations, or the popular list (reason 'popular') for a customer without any."""
    recs = recommendations_for(run, customer_id, n=n)
    return schemas.RecommendationsPublic(
        run_id=recs.run_id, as_of=recs.as_of, customer_id=customer_id, source=recs.source,
        items=[schemas.RecommendationItem(**item) for item in recs.items],
    )


def similar_view(run: RunData, product_id: str, n: int) -> schemas.SimilarPublic:
    items = similar_products_for(run, product_id, n=n)
    return schemas.SimilarPublic(
        run_id=run.run_id, as_of=run.as_of, product_id=product_id, items=[schemas.SimilarItem(**i) for i in items]
    )


def _moves(moves: segments_browse.SegmentMoves) -> schemas.SegmentMovesPublic:
    return schemas.SegmentMovesPublic(
        by=moves.by, previous_run_id=moves.previous_run_id, previous_as_of=moves.previous_as_of,
        compared=moves.compared, stayed=moves.stayed, joined=moves.joined, left=moves.left,
        moves=[schemas.SegmentMove(**m) for m in moves.moves], explanation=moves.explanation,
    )


def segments_view(run: RunData, ws: Workspace | None = None) -> schemas.SegmentsPublic:
    """The clusters, the RFM segments and grid, and (given the workspace) the moves since the previous run."""
    grid = segments_browse.rfm_grid(run)
    return schemas.SegmentsPublic(
        run_id=run.run_id,
        as_of=run.as_of,
        segments=[schemas.SegmentProfile(**p) for p in segments_browse.cluster_profiles(run)],
        rfm_segments=[schemas.SegmentProfile(**p) for p in segments_browse.rfm_profiles(run)],
        rfm_grid=schemas.RfmGridPublic(
            recency=grid.recency, fm=grid.fm, total=grid.total, unscored=grid.unscored,
            cells=[[schemas.RfmCell(**c) for c in row] for row in grid.cells],
        ),
        moves=[] if ws is None else [_moves(segments_browse.segment_moves(ws, run, by=by)) for by in ("rfm", "cluster")],
    )


def segment_view(
    run: RunData, name: str, *, limit: int, offset: int, ws: Workspace | None = None, key_id: str | None = None,
    db: Callable[[Callable[[], Any]], Any] | None = None,
) -> schemas.SegmentPublic:
    """A cluster or an RFM segment by name, and a page of its members; given the workspace, its summary in words."""
    profile, members = segments_browse.find_segment(run, name)
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
        profile=schemas.SegmentProfile(**profile),
        members=schemas.MembersPage(total=len(members), limit=limit, offset=offset, items=items),
        summary=None if ws is None else summary_public(
            explain.segment_summary(ws, run, name, key_id=key_id, **({"db": db} if db else {}))),
    )


def cohorts_view(run: RunData) -> schemas.CohortsPublic:
    """The run's cohort table (404 naming the ``cohorts`` stage when the run lacks it)."""
    from targetwise.usecases.cohorts import cohort_summary, cohorts_of_run

    cohorts = cohorts_of_run(run)
    summary = cohort_summary(cohorts.table)
    return schemas.CohortsPublic(
        run_id=run.run_id, as_of=run.as_of, cohorts=summary.cohorts, customers=summary.customers,
        retention_month_1=summary.retention_month_1, retention_month_3=summary.retention_month_3,
        rows=[schemas.CohortRow(**row) for row in cohorts.rows()],
    )


def forecasts_view(run: RunData, ws: Workspace, *, level: str | None = None, series: str | None = None,
                   measure: str | None = None) -> schemas.ForecastsPublic:
    """The run's forecasts, optionally of one level, series or measure (404 naming the ``forecast`` stage
    when the run lacks them)."""
    from dataclasses import asdict

    from targetwise.presentation import Currency
    from targetwise.usecases.forecast import forecast_of_run, forecast_summaries

    result = forecast_of_run(run)
    scores = result.scores[result.scores["chosen"].astype(bool)].set_index(["measure", "level", "series"])
    summaries = []
    for s in forecast_summaries(result, currency=Currency.from_settings(ws.settings)):
        if (level, series, measure) != (None, None, None) and not (
            (level is None or s.level == level) and (series is None or s.series == series)
            and (measure is None or s.measure == measure)
        ):
            continue
        score = scores.loc[(s.measure, s.level, s.series)]
        summaries.append(schemas.ForecastSeriesSummary(
            **asdict(s),
            backtest_mase=plain(score["mase"]), backtest_coverage=plain(score["coverage"]),
        ))
    return schemas.ForecastsPublic(
        run_id=run.run_id, as_of=run.as_of, freq=result.freq, horizon=result.horizon, notes=result.notes,
        summaries=summaries,
        rows=[schemas.ForecastRow(**row) for row in result.rows(level=level, series=series, measure=measure)],
    )
