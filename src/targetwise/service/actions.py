"""Write-side operations of the service: audiences, exports, campaign plans, posted events.

Each one glues the library together (run data, consent ledger, personal data,
:mod:`targetwise.campaigns`, :func:`targetwise.io.ingest.ingest_arrow`); the
decisions themselves live in those modules. Database access goes through
:meth:`ServiceState.database` / :meth:`ServiceState.when_free`, which serialise
it in-process (see :mod:`targetwise.service.state`).
"""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from targetwise.campaigns.audiences import (
    ExportResult,
    export_frame,
    parse_conditions,
    select_audience,
    slugify,
)
from targetwise.campaigns.planner import plan_campaign
from targetwise.errors import DataValidationError
from targetwise.io import consent
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.exports import csv_bytes
from targetwise.io.ingest import IngestSummary, ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.service import schemas
from targetwise.service.state import CLV, UPLIFT, RunData, ServiceState

__all__ = [
    "audience_size",
    "consent_of",
    "create_audience",
    "erase",
    "export_audience",
    "opted_out",
    "plan",
    "post_events",
    "set_consent",
]

MEDIA_TYPES = {"csv": "text/csv", "google": "text/csv", "meta": "text/csv", "parquet": "application/vnd.apache.parquet"}


def opted_out(state: ServiceState, purpose: str) -> set[str]:
    """Customers whose latest decision for ``purpose`` is a denial or revocation (the consent ledger)."""
    return {str(c) for c in state.when_free(lambda: consent.opted_out(state.workspace, purpose))}


def _select(state: ServiceState, run: RunData, conditions: list[schemas.ConditionIn]) -> tuple[list[str], dict[str, int]]:
    parsed = parse_conditions([c.model_dump() for c in conditions])
    frame = run.audience_frame()
    objected = opted_out(state, "profiling")
    everyone = select_audience(frame, parsed)
    members = [m for m in everyone if m not in objected]
    return members, {"profiling_objection": len(everyone) - len(members)}


def audience_size(state: ServiceState, run: RunData, conditions: list[schemas.ConditionIn]) -> schemas.AudienceSizePublic:
    members, excluded = _select(state, run, conditions)
    return schemas.AudienceSizePublic(run_id=run.run_id, as_of=run.as_of, size=len(members), excluded=excluded)


def create_audience(
    state: ServiceState, run: RunData, body: schemas.AudienceCreate, *, key_id: str | None
) -> AudienceRecord:
    """Select, intersect with consent, and save a new version of the named audience."""
    slug = slugify(body.name)
    members, excluded = _select(state, run, body.conditions)
    return AudienceStore(state.workspace).save(
        slug=slug,
        name=body.name,
        members=members,
        run_id=run.run_id,
        definition=[c.model_dump() for c in body.conditions],
        excluded=excluded,
        created_by=key_id,
    )


def export_audience(
    state: ServiceState,
    audience_id: str,
    *,
    destination: str,
    channel: str | None = None,
    country_code: str | None = None,
) -> tuple[bytes, ExportResult]:
    """The export file of a saved audience, re-intersected with today's consent.

    Always leaves out profiling objections made since the audience was saved;
    ``google``/``meta`` also leave out ads opt-outs; ``channel`` (email/sms/ads)
    leaves out that channel's opt-outs for the other destinations.
    """
    store = AudienceStore(state.workspace)
    members = store.members(audience_id)
    blocked = opted_out(state, "profiling")
    purpose = "ads" if destination in ("google", "meta") else channel
    if purpose is not None:
        blocked |= opted_out(state, purpose)
    pii = None
    if destination in ("google", "meta"):
        with state.database() as con:
            con.register("wanted", pd.DataFrame({"customer_id": pd.Series(members, dtype=object)}))
            pii = con.execute(
                "SELECT p.customer_id, p.email, p.phone FROM customer_pii p JOIN wanted w USING (customer_id)"
            ).df()
            con.unregister("wanted")
    result = export_frame(
        members, destination=destination, opted_out=blocked, pii=pii, default_country_code=country_code
    )
    if destination != "parquet":
        return csv_bytes(result.frame), result  # text cells that could start a formula get a leading '
    buffer = io.BytesIO()
    result.frame.to_parquet(buffer, index=False)
    return buffer.getvalue(), result


def _curve(frame: pd.DataFrame, points: int = 101) -> list[schemas.CurvePoint]:
    if len(frame) > points:
        frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))]
    return [
        schemas.CurvePoint(
            depth=int(r.depth), contact_fraction=float(r.contact_fraction), cost=float(r.cost),
            incremental_conversions=float(r.incremental_conversions), profit=float(r.profit), feasible=bool(r.feasible),
        )
        for r in frame.itertuples(index=False)
    ]


def plan(state: ServiceState, run: RunData, body: schemas.PlanRequest) -> schemas.PlanPublic:
    """Run :func:`plan_campaign` over the served run's customers (consent and audience applied)."""
    frame = run.audience_frame().set_index("customer_id")
    if body.score == "uplift":
        run.require(UPLIFT)
        arms = [c for c in frame.columns if c.startswith("uplift.uplift_")]
        effects = frame[arms].rename(columns=lambda c: c.removeprefix("uplift.uplift_"))
    else:
        if body.score not in frame.columns or not pd.api.types.is_numeric_dtype(frame[body.score]):
            numeric = sorted(c for c in frame.columns if "." not in c and pd.api.types.is_numeric_dtype(frame[c]))
            raise DataValidationError(
                f"score {body.score!r} is not a numeric column of run {run.run_id}",
                fix=f"use 'uplift' or one of: {', '.join(numeric)}",
            )
        effects = frame[[body.score]].rename(columns={body.score: "treatment"})
    effects = effects.dropna(how="all").fillna(0.0)
    if body.audience_id is not None:
        effects = effects[effects.index.isin(AudienceStore(state.workspace).members(body.audience_id))]
    blocked = opted_out(state, "profiling") | (opted_out(state, body.channel) if body.channel else set())
    before = len(effects)
    effects = effects[~effects.index.isin(blocked)]
    if effects.empty:
        raise DataValidationError(
            "no customer is left to plan for", fix="widen the audience, or check the run has scores"
        )
    if body.value_per_conversion == "clv":
        run.require(CLV)
        values: float | pd.Series = frame["clv.clv"].reindex(effects.index).fillna(0.0)
    else:
        values = float(body.value_per_conversion)
    result = plan_campaign(
        effects,
        contact_cost=body.contact_cost,
        value_per_conversion=values,
        budget=body.budget,
        max_contacts=body.max_contacts,
        holdout_fraction=body.holdout_fraction,
        random_state=body.random_state,
    )
    return schemas.PlanPublic(
        run_id=run.run_id,
        as_of=run.as_of,
        score=body.score,
        arms=[str(a) for a in effects.columns],
        customers_considered=len(effects),
        excluded_opt_out=before - len(effects),
        chosen_depth=result.chosen_depth,
        n_contacted=result.n_contacted,
        n_holdout=result.n_holdout,
        total_cost=result.total_cost,
        expected_incremental_conversions=result.expected_incremental_conversions,
        incremental_conversions_interval=result.incremental_conversions_interval,
        expected_profit=result.expected_profit,
        profit_interval=result.profit_interval,
        interval_method=result.interval_method,
        confidence=result.confidence,
        by_reason={str(k): int(v) for k, v in result.assignments["reason"].value_counts().sort_index().items()},
        profit_curve=_curve(result.profit_curve),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def post_events(state: ServiceState, body: schemas.EventsCreate, *, key_id: str) -> IngestSummary:
    """Validate and load posted transactions exactly like a file ingest: all or nothing.

    Values are passed on as text so the ingest's own parsing decides (and
    quarantines) exactly as for a CSV file. Loads are serialised in-process.
    """
    columns = list(schemas.EventIn.model_fields)
    rows = [event.model_dump() for event in body.transactions]
    present = [c for c in columns if any(r[c] is not None for r in rows) or c in ("customer_id",)]
    frame = pd.DataFrame({c: pd.Series([_text(r[c]) for r in rows], dtype=object) for c in present})
    source = source_from_frame(frame, name=f"api:events:{key_id}")
    return state.when_free(lambda: ingest_arrow(state.workspace, "transactions", source), wait_seconds=10.0)


def summary_public(summary: IngestSummary) -> schemas.IngestPublic:
    raw = asdict(summary)
    return schemas.IngestPublic(**{k: raw[k] for k in schemas.IngestPublic.model_fields})


def erase(state: ServiceState, customer_id: str, *, key_id: str) -> schemas.ErasurePublic:
    """Erase a customer everywhere (:func:`targetwise.io.erasure.erase_customer`), then drop cached run data.

    The erasure rewrites run files and rebuilds the database file, so it runs
    under the database lock and every run served from memory is forgotten:
    the next request reads the rewritten files (and answers 404 for the customer).
    """
    from targetwise.io.erasure import erase_customer

    try:
        receipt = state.when_free(lambda: erase_customer(state.workspace, customer_id, actor=f"key:{key_id}"),
                                  wait_seconds=10.0)
    finally:
        state.runs.forget()
    raw = receipt.to_dict()
    return schemas.ErasurePublic(**{k: raw[k] for k in schemas.ErasurePublic.model_fields})


def set_consent(state: ServiceState, body: schemas.ConsentCreate, *, key_id: str) -> IngestSummary:
    """Append a decision to the consent ledger (validated and atomic, like an ingest)."""
    source = f"{body.source} (key {key_id})"
    return state.when_free(
        lambda: consent.record_consent(
            state.workspace, body.customer_id, purpose=body.purpose, status=body.status, source=source
        ),
        wait_seconds=10.0,
    )


def consent_of(state: ServiceState, customer_id: str) -> schemas.ConsentPublic:
    def read() -> tuple[dict[str, str], list[dict[str, Any]]]:
        return consent.consent_status(state.workspace, customer_id), consent.consent_history(state.workspace, customer_id)

    status, history = state.when_free(read)
    return schemas.ConsentPublic(
        customer_id=customer_id,
        status=status,
        history=[schemas.ConsentDecision(**{k: h[k] for k in ("purpose", "status", "recorded_at", "source")})
                 for h in history],
    )
