"""UI page of next-best offers (``/ui/offers``): the catalogue, the off-policy evaluation of the learned
policy against the logging policy and uniform random, and an assignment form (``POST /ui/offers/assign``).

The page calls :func:`targetwise.usecases.offers.list_offers`, :func:`evaluate_offers` and
:func:`assign_offers`, the use cases behind ``targetwise offers evaluate|assign`` and
``GET /v1/offers/evaluate`` / ``POST /v1/offers/assign``, with their defaults (200 bootstrap resamples), so
every estimate is the one the CLI's ``--json`` and the API answer (computed once per state of the run, the offers,
the log and consent: :meth:`ServiceState.offer_evaluation`). Reading needs a read key; assigning
logs decisions, so it needs a write key and the form carries the session's CSRF token (``pages._key``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from targetwise.errors import ConfigError, DataValidationError, Location, NotFoundError, TargetwiseError
from targetwise.io.keys import ApiKey
from targetwise.service.deps import State, audit_details
from targetwise.service.sessions import COOKIE
from targetwise.service.state import ServiceState
from targetwise.service.ui.pages import _page, _render, _run_or_none
from targetwise.usecases.offers import (
    ESTIMATOR_LABELS,
    POLICY_LABELS,
    OfferAssignment,
    OfferEvaluation,
    assign_offers,
    list_offers,
)

router = APIRouter(include_in_schema=False)  # included by pages.router, which adds /ui

METHODS = {"thompson": "linear Thompson sampling (thompson)", "linucb": "upper confidence bound (linucb)"}
REWARD_KINDS = ("click", "conversion", "revenue")


def _choice(raw: str | None, allowed: Any, name: str) -> str | None:
    """A form or query value among ``allowed`` (empty: None); anything else is a 422 naming the field."""
    value = (raw or "").strip() or None
    if value is not None and value not in allowed:
        raise DataValidationError(f"unknown {name.replace('_', ' ')} {value!r}", location=Location(column=name, value=value),
                                  fix=f"choose one of {', '.join(allowed)}")
    return value


def _evaluation(state: ServiceState, method: str, reward_kind: str | None) -> tuple[OfferEvaluation | None, str | None]:
    """The use case's evaluation, or why there is none (no active run, no rewarded decision, mixed reward kinds)."""
    run = _run_or_none(state)
    if run is None:
        return None, "No run is being served yet: the evaluation needs the run's customer features."
    try:
        return state.offer_evaluation(run, method=method, reward_kind=reward_kind), None
    except (NotFoundError, ConfigError, DataValidationError) as exc:  # no log, mixed kinds, bad eligibility
        return None, f"{exc.message} (fix: {exc.fix})" if exc.fix else exc.message


def _offers_page(request: Request, state: ServiceState, key: ApiKey, *, query: dict[str, str], status_code: int = 200,
                 form: dict[str, str] | None = None, assignment: OfferAssignment | None = None,
                 assign_error: str | None = None) -> HTMLResponse:
    from targetwise.io.audiences import AudienceStore

    offers = list_offers(state.workspace)
    evaluation = why_not = None
    query_error = None
    if offers:
        try:
            method = _choice(query.get("method"), METHODS, "method") or "thompson"
            reward_kind = _choice(query.get("reward_kind"), REWARD_KINDS, "reward_kind")
            evaluation, why_not = _evaluation(state, method, reward_kind)
        except DataValidationError as exc:
            query_error, status_code = exc.message, 422
    return _render(
        request, "offers.html", status_code=status_code, key=key, offers=offers, evaluation=evaluation,
        why_not=why_not, query_error=query_error, query=query, methods=METHODS, reward_kinds=REWARD_KINDS,
        policies=POLICY_LABELS, estimators=ESTIMATOR_LABELS, audiences=list(reversed(AudienceStore(state.workspace).list())),
        form={"holdout": "0.1", "method": "thompson"} | (form or {}), assignment=assignment, assign_error=assign_error,
    )


@router.get("/offers", response_class=HTMLResponse)
def offers_page(request: Request, state: State) -> Response:
    """The catalogue and the evaluation (``?method=`` and ``?reward_kind=`` as ``GET /v1/offers/evaluate``)."""
    query = {k: v for k, v in request.query_params.items() if k in ("method", "reward_kind")}

    def build(key: ApiKey) -> Response:
        # an assignment just made (the assign form redirects here): shown once, with the form as it was sent
        made = state.sessions.take_flash(request.cookies.get(COOKIE), "offers:assignment")
        assignment, form = made if made is not None else (None, None)
        return _offers_page(request, state, key, query=query, form=form, assignment=assignment)

    return _page(request, state, "read", build)


@router.post("/offers/assign", response_class=HTMLResponse)
async def assign_offers_page(request: Request, state: State) -> Response:
    """One eligible, live offer per member of a saved audience, logged like ``POST /v1/offers/assign``."""
    form = {k: str(v) for k, v in (await request.form()).items()}

    def build(key: ApiKey) -> Response:
        try:
            audience_id = form.get("audience_id", "").strip()
            if not audience_id:
                raise DataValidationError("choose an audience to give offers to",
                                          location=Location(column="audience_id"), fix="pick a saved audience")
            method = _choice(form.get("method"), METHODS, "method") or "thompson"
            reward_kind = _choice(form.get("reward_kind"), REWARD_KINDS, "reward_kind")
            raw = form.get("holdout", "").strip() or "0.1"
            try:
                holdout = float(raw)
            except ValueError:
                holdout = -1.0
            if not 0.0 <= holdout <= 1.0:
                raise DataValidationError(f"holdout {raw!r} is not a share between 0 and 1",
                                          location=Location(column="holdout", value=raw), fix="enter e.g. 0.1")
            run = state.runs.active()
            made = state.when_free(lambda: assign_offers(state.workspace, run, audience_id, holdout=holdout,
                                                         method=method, reward_kind=reward_kind))
        except TargetwiseError as exc:
            return _offers_page(request, state, key, query={}, status_code=422 if exc.http_status < 400 else
                                exc.http_status, form=form, assign_error=exc.message)
        audit_details(request, audience_id=made.audience_id, assigned=made.assigned, load_id=made.load_id)
        # post/redirect/get: a reload of the result must not log a second set of decisions
        state.sessions.flash(request.state.ui_session.id, "offers:assignment", (made, form))
        return RedirectResponse("/ui/offers", status_code=303)

    return _page(request, state, "write", build, form=form)
