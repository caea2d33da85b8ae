"""The service's write-side and planning routes, mapped onto the use cases (:mod:`targetwise.usecases`).

Each function turns a request schema into a use case's parameters and its result
into a response schema; the decisions live in the use cases. Calls that open the
workspace database run through :meth:`ServiceState.when_free`, which serialises
them in-process and answers 503 ``workspace_busy`` while another process holds it
(see :mod:`targetwise.service.state`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from targetwise.io.audiences import AudienceRecord
from targetwise.io.ingest import IngestSummary
from targetwise.service import schemas
from targetwise.service.state import RunData, ServiceState
from targetwise.usecases import assist, audiences, campaigns, events, privacy
from targetwise.usecases.audiences import MEDIA_TYPES, AudienceExport

__all__ = [
    "MEDIA_TYPES",
    "audience_size",
    "consent_of",
    "create_audience",
    "draft_audience",
    "erase",
    "export_audience",
    "plan",
    "plan_outcome",
    "plan_public",
    "post_events",
    "set_consent",
]


def _conditions(conditions: list[schemas.ConditionIn]) -> list[dict[str, Any]]:
    return [c.model_dump() for c in conditions]


def audience_size(state: ServiceState, run: RunData, conditions: list[schemas.ConditionIn]) -> schemas.AudienceSizePublic:
    size = state.when_free(lambda: audiences.audience_size(state.workspace, run, _conditions(conditions)))
    return schemas.AudienceSizePublic(run_id=size.run_id, as_of=size.as_of, size=size.size, excluded=size.excluded)


def create_audience(
    state: ServiceState, run: RunData, body: schemas.AudienceCreate, *, key_id: str | None
) -> AudienceRecord:
    return state.when_free(
        lambda: audiences.create_audience(
            state.workspace, run, name=body.name, conditions=_conditions(body.conditions), created_by=key_id
        )
    )


def draft_audience(state: ServiceState, run: RunData, text: str, *, key_id: str | None) -> schemas.AudienceDraftPublic:
    """The draft; the database steps take the workspace lock, the model call (if any) does not."""
    draft = assist.draft_audience(state.workspace, run, text, key_id=key_id, db=state.when_free)
    return schemas.AudienceDraftPublic(
        run_id=draft.run_id, as_of=run.as_of, text=draft.text, conditions=draft.conditions, where=draft.where,
        size=draft.size, excluded=draft.excluded, explanation=draft.explanation, unresolved=draft.unresolved,
        engine=draft.engine,  # type: ignore[arg-type]
    )


def export_audience(
    state: ServiceState,
    audience_id: str,
    *,
    destination: str,
    channel: str | None = None,
    country_code: str | None = None,
) -> AudienceExport:
    return state.when_free(
        lambda: audiences.export_audience(
            state.workspace, audience_id, destination=destination, channel=channel, country_code=country_code
        )
    )


def _thin(frame: pd.DataFrame, points: int = 101) -> pd.DataFrame:
    if len(frame) > points:
        frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))]
    return frame


def _curve(frame: pd.DataFrame) -> list[schemas.CurvePoint]:
    margin = "incremental_margin" in frame.columns
    return [
        schemas.CurvePoint(
            depth=int(r.depth), contact_fraction=float(r.contact_fraction), cost=float(r.cost),
            incremental_conversions=None if margin else float(r.incremental_conversions),
            incremental_margin=float(r.incremental_margin) if margin else None,
            profit=float(r.profit), feasible=bool(r.feasible),
        )
        for r in _thin(frame).itertuples(index=False)
    ]


def _responder_curve(frame: pd.DataFrame) -> list[schemas.ResponderPoint]:
    return [
        schemas.ResponderPoint(
            depth=int(r.depth), contact_fraction=float(r.contact_fraction), cost=float(r.cost),
            expected_responders=float(r.expected_responders), feasible=bool(r.feasible),
        )
        for r in _thin(frame).itertuples(index=False)
    ]


def plan_request(body: schemas.PlanRequest) -> campaigns.PlanRequest:
    return campaigns.PlanRequest(
        contact_cost=body.contact_cost, value_per_conversion=body.value_per_conversion, margin=body.margin,
        score=body.score, budget=body.budget, max_contacts=body.max_contacts, holdout_fraction=body.holdout_fraction,
        channel=body.channel, audience_id=body.audience_id, random_state=body.random_state,
        discount_rate=body.discount_rate,
    )


def plan_outcome(state: ServiceState, run: RunData, body: schemas.PlanRequest) -> campaigns.PlanOutcome:
    """:func:`targetwise.usecases.campaigns.plan_from_run` over the served run (the UI's download uses it)."""
    return state.when_free(lambda: campaigns.plan_from_run(state.workspace, run, plan_request(body)))


def plan_public(outcome: campaigns.PlanOutcome) -> schemas.PlanPublic:
    common: dict[str, Any] = {
        "run_id": outcome.run_id, "as_of": outcome.as_of, "kind": outcome.kind, "score": outcome.score,
        "arms": outcome.arms, "customers_considered": outcome.customers_considered,
        "excluded_opt_out": outcome.excluded_opt_out, "chosen_depth": outcome.chosen_depth,
        "n_contacted": outcome.n_contacted, "n_holdout": outcome.n_holdout, "total_cost": outcome.total_cost,
        "by_reason": outcome.by_reason, "notes": outcome.notes,
    }
    if outcome.plan is None:
        ranking = outcome.ranking
        assert ranking is not None
        return schemas.PlanPublic(
            **common, expected_responders=ranking.expected_responders, profit_curve=[],
            responder_curve=_responder_curve(ranking.curve),
        )
    result = outcome.plan
    return schemas.PlanPublic(
        **common,
        outcome=result.outcome,  # type: ignore[arg-type]
        expected_incremental_conversions=result.expected_incremental_conversions,
        incremental_conversions_interval=result.incremental_conversions_interval,
        expected_incremental_margin=result.expected_incremental_value,
        incremental_margin_interval=result.incremental_value_interval,
        expected_profit=result.expected_profit,
        profit_interval=result.profit_interval,
        interval_method=result.interval_method,
        confidence=result.confidence,
        profit_curve=_curve(result.profit_curve),
    )


def plan(state: ServiceState, run: RunData, body: schemas.PlanRequest) -> schemas.PlanPublic:
    """:func:`targetwise.usecases.campaigns.plan_from_run` over the served run, as the API answers it."""
    return plan_public(plan_outcome(state, run, body))


def campaign_readout(state: ServiceState, campaign_id: str, *, pre_period_days: int) -> schemas.CampaignReadoutPublic:
    """:func:`targetwise.usecases.readout.readout_dict` of a campaign: what `campaign report --json` prints."""
    from targetwise.usecases.readout import campaign_readout as measure
    from targetwise.usecases.readout import readout_dict

    readout = state.when_free(lambda: measure(state.workspace, campaign_id, pre_period_days=pre_period_days))
    return schemas.CampaignReadoutPublic(**readout_dict(readout))


def power(state: ServiceState, body: schemas.PowerRequest) -> schemas.PowerPublic:
    """:func:`targetwise.usecases.readout.plan_power`: what `campaign power --json` prints."""
    from targetwise.usecases.readout import plan_power

    def size() -> schemas.PowerPublic:
        plan = plan_power(
            state.workspace if body.cuped_from_campaign is not None else None, baseline_rate=body.baseline_rate,
            mde=body.mde, alpha=body.alpha, power=body.power, cuped_r2=body.cuped_r2,
            cuped_from_campaign=body.cuped_from_campaign,
        )
        return schemas.PowerPublic(**plan.to_dict())

    return state.when_free(size) if body.cuped_from_campaign is not None else size()


def post_events(state: ServiceState, body: schemas.EventsCreate, *, key_id: str) -> IngestSummary:
    """Validate and load posted transactions exactly like a file ingest, all or nothing per post; committed
    in groups with concurrent posts by the workspace's events writer (:attr:`ServiceState.events`)."""
    rows = [event.model_dump() for event in body.transactions]
    columns = list(schemas.EventIn.model_fields)
    summary = events.load_events(
        state.workspace, rows, columns=columns, source=f"api:events:{key_id}", writer=state.events
    )
    if summary.rows_loaded:
        state.rescorer.notify()  # re-scored in the background when TARGETWISE_RESCORE_AFTER_EVENTS_S is set
    return summary


def summary_public(summary: IngestSummary) -> schemas.IngestPublic:
    raw = asdict(summary)
    return schemas.IngestPublic(**{k: raw[k] for k in schemas.IngestPublic.model_fields})


def erase(state: ServiceState, customer_id: str, *, key_id: str) -> schemas.ErasurePublic:
    """Erase a customer everywhere, then drop cached run data.

    The erasure rewrites run files and rebuilds the database file, so it runs
    under the database lock and every run served from memory is forgotten:
    the next request reads the rewritten files (and answers 404 for the customer).
    """
    try:
        receipt = state.when_free(lambda: privacy.erase(state.workspace, customer_id, actor=f"key:{key_id}"),
                                  wait_seconds=10.0)
    finally:
        state.runs.forget()
    at_url = receipt.runs_at_url
    raw = {**receipt.to_dict(), "runs_url_complete": at_url is None or at_url.complete,
           "runs_url_unpublished": [] if at_url is None else at_url.unpublished}
    return schemas.ErasurePublic(**{k: raw[k] for k in schemas.ErasurePublic.model_fields})


def set_consent(state: ServiceState, body: schemas.ConsentCreate, *, key_id: str) -> IngestSummary:
    """Append a decision to the consent ledger (validated and atomic, like an ingest)."""
    source = f"{body.source} (key {key_id})"
    return state.when_free(
        lambda: privacy.set_consent(
            state.workspace, body.customer_id, purpose=body.purpose, status=body.status, source=source
        ),
        wait_seconds=10.0,
    )


def consent_of(state: ServiceState, customer_id: str) -> schemas.ConsentPublic:
    found = state.when_free(lambda: privacy.consent_of(state.workspace, customer_id))
    return schemas.ConsentPublic(
        customer_id=customer_id,
        status=found.status,
        history=[schemas.ConsentDecision(**{k: h[k] for k in ("purpose", "status", "recorded_at", "source")})
                 for h in found.history],
    )
