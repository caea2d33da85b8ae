"""Server-rendered web UI for marketers (Jinja2): works without JavaScript for every read page.

Login checks the API key once and starts a server-side session
(:mod:`targetwise.service.sessions`): the cookie (HttpOnly, SameSite=Strict,
``Path=/ui``, Secure over HTTPS, ``Max-Age`` = the session's lifetime) holds
only the session's random id. Every ``POST`` (login, logout, audiences,
preview, campaigns) must come from this UI: a foreign or missing
``Origin``/``Referer`` answers 403 before anything else, and so does a form
without its session's CSRF token (the login form carries a signed token of its
own). SameSite=Strict stays as a second layer. Pages call the same views and
actions as the JSON API and are audited the same way.
"""

from __future__ import annotations

import hmac
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from targetwise import presentation
from targetwise.errors import AuthError, CrossSiteError, NotFoundError, PermissionDeniedError, TargetwiseError
from targetwise.io.keys import ApiKey, KeyStore
from targetwise.io.outputs import declared
from targetwise.service import actions, schemas, views
from targetwise.service.deps import State, admit, audit_details
from targetwise.service.security import is_https, require_same_origin
from targetwise.service.sessions import COOKIE, CSRF_FIELD, UiSession
from targetwise.service.state import CLV, PROFILES, SEGMENTS, RunData, ServiceState, plain
from targetwise.service.ui import display, planner

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.globals.update(display.GLOBALS)
MAX_CONDITIONS = 5


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _key(request: Request, state: ServiceState, scope: str, *, form: dict[str, str] | None = None) -> ApiKey:
    """The session's key, holding ``scope``; for a form post (``form``) also its origin and CSRF token.

    Order matters: a cross-site post is refused (403) before the session is even
    looked at; a missing or ended session redirects to the login page.
    """
    if form is not None:
        require_same_origin(request, state.settings)
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise _Redirect(f"/ui/login?next={quote(request.url.path)}")
    try:
        key = admit(request, state, state.keys.active(session.key_id))
    except AuthError:  # the key was revoked or deleted since login: so is the session
        state.sessions.end(session.id)
        raise _Redirect(f"/ui/login?next={quote(request.url.path)}") from None
    request.state.ui_session = session
    if form is not None:
        _require_token(form, session)
    KeyStore.require(key, scope)
    return key


def _require_token(form: dict[str, str], session: UiSession) -> None:
    sent = form.get(CSRF_FIELD, "").encode()
    if not hmac.compare_digest(sent, session.csrf_token.encode()):
        raise CrossSiteError(
            "refused: the form's security token is missing or belongs to another login",
            fix="reload the page and submit the form again",
        )


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; forms on it get the session's CSRF token as ``csrf`` (the login page passes its own)."""
    session: UiSession | None = getattr(request.state, "ui_session", None)
    context.setdefault("csrf", session.csrf_token if session is not None else "")
    context.setdefault("currency", presentation.Currency.from_settings(request.app.state.service.settings))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _page(
    request: Request, state: ServiceState, scope: str, build: Any, *, form: dict[str, str] | None = None
) -> Response:
    """Authenticate (and, for a form post, check origin and token), build the page; errors become a page."""
    try:
        key = _key(request, state, scope, form=form)
        return build(key)
    except _Redirect as redirect:
        return RedirectResponse(redirect.url, status_code=303)
    except TargetwiseError as exc:
        return _render(request, "error.html", status_code=exc.http_status, error=exc, key=None)


def _run_or_none(state: ServiceState) -> RunData | None:
    try:
        return state.runs.active()
    except NotFoundError:
        return None


# -- login ------------------------------------------------------------------------------------


def _login_page(request: Request, state: ServiceState, next: str, *, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    return _render(
        request, "login.html", status_code=status_code, next=_safe_next(next), error=error, key=None,
        csrf=state.login_tokens.issue(),
    )  # fmt: skip


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State, next: str = "/ui/") -> HTMLResponse:
    return _login_page(request, state, next)


@router.post("/login")
def login(
    request: Request,
    state: State,
    api_key: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Start a session for a valid key; refused (403, no cookie) unless posted from this server's login form."""
    try:
        require_same_origin(request, state.settings)
        if not state.login_tokens.valid(csrf_token):
            raise CrossSiteError(
                "refused: the login form expired or was not sent by this site", fix="reload the page and log in again"
            )
        key = state.keys.verify(api_key)
    except CrossSiteError as exc:
        return _login_page(request, state, next, status_code=403, error=exc.message)
    except AuthError as exc:
        return _login_page(request, state, next, status_code=401, error=exc.message)
    request.state.key_id = key.id
    state.sessions.end(request.cookies.get(COOKIE))  # a new login replaces this browser's old session
    session = state.sessions.create(key.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE, session.id, max_age=state.sessions.lifetime_seconds, httponly=True, samesite="strict",
        secure=is_https(request, state.settings), path="/ui",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request, state: State) -> Response:
    """End the session on the server (its cookie is worthless from now on) and drop the cookie."""
    form = await _form(request)
    session = state.sessions.get(request.cookies.get(COOKIE))
    try:
        require_same_origin(request, state.settings)
        if session is not None:
            _require_token(form, session)
    except CrossSiteError as exc:
        return _render(request, "error.html", status_code=exc.http_status, error=exc, key=None)
    if session is not None:
        state.sessions.end(session.id)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _safe_next(target: str) -> str:
    """Only same-site paths under /ui/ (no open redirect)."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


# -- read pages -------------------------------------------------------------------------------


def _histogram(values: list[float], bins: int = 20) -> list[dict[str, float]]:
    clean = sorted(v for v in values if v is not None and math.isfinite(v))
    if not clean:
        return []
    low, high = clean[0], clean[int(0.99 * (len(clean) - 1))]  # clip the far tail for readability
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in clean:
        counts[min(bins - 1, max(0, int((min(v, high) - low) / width)))] += 1
    top = max(counts)
    return [{"from": low + i * width, "to": low + (i + 1) * width, "count": c, "height": c / top} for i, c in enumerate(counts)]


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, state: State) -> Response:
    """The run's key figures from :func:`targetwise.usecases.overview.run_overview` (the report shows the same)."""
    from targetwise.usecases.drift import drift_banner
    from targetwise.usecases.overview import run_overview

    def build(key: ApiKey) -> Response:
        run = _run_or_none(state)
        drift = drift_banner(run.info) if run is not None else None
        figures = None
        profiles: list[dict[str, Any]] = []
        clv_hist: list[dict[str, float]] = []
        plots: list[str] = []
        if run is not None:
            figures = run_overview(run)
            if run.has(CLV):
                clv_hist = _histogram([plain(v) for v in run.table(CLV)["clv"].tolist()])
            if run.has(SEGMENTS) and run.has(PROFILES):
                profiles = run.profiles()
            plots = sorted(f for f in run.info.manifest.get("files", {}) if f.startswith("segments/") and f.endswith(".png"))
        return _render(
            request, "overview.html", key=key, run=run, figures=figures, profiles=profiles, clv_hist=clv_hist,
            plots=plots, drift=drift,
        )

    return _page(request, state, "read", build)


@router.get("/runs/{run_id}/plots/{stage}/{name}")
def run_plot(request: Request, state: State, run_id: str, stage: str, name: str) -> Response:
    def build(key: ApiKey) -> Response:
        relative = f"{stage}/{name}"
        if not name.endswith(".png") or not declared(relative):
            raise NotFoundError(f"{relative} is not a plot", fix="plots are PNG files of a run")
        info = state.runs.get(run_id).info
        return Response(info.file(relative).read_bytes(), media_type="image/png")

    return _page(request, state, "read", build)


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, state: State) -> Response:
    def build(key: ApiKey) -> Response:
        view = views.segments_view(state.runs.active(), state.workspace)
        grid_max = max((c.count for row in view.rfm_grid.cells for c in row), default=0) if view.rfm_grid else 0
        return _render(request, "segments.html", key=key, view=view, grid_max=grid_max)

    return _page(request, state, "read", build)


@router.get("/cohorts", response_class=HTMLResponse)
def cohorts_page(request: Request, state: State) -> Response:
    """Retention and cumulative revenue per customer by acquisition month: the view /v1/cohorts returns."""
    import pandas as pd

    from targetwise.usecases.cohorts import heatmap_rows

    def build(key: ApiKey) -> Response:
        view = views.cohorts_view(state.runs.active())
        table = pd.DataFrame([row.model_dump() for row in view.rows])
        return _render(
            request, "cohorts.html", key=key, view=view, retention=heatmap_rows(table, "retention"),
            revenue=heatmap_rows(table, "cumulative_revenue_per_customer"),
        )

    return _page(request, state, "read", build)


@router.get("/forecasts", response_class=HTMLResponse)
def forecasts_page(request: Request, state: State) -> Response:
    """Each series' history, forecast and 80% band with its sentence: the view /v1/forecasts returns."""
    import re

    from targetwise.presentation import Currency, money
    from targetwise.reports.forecasts import SHOWN_HISTORY
    from targetwise.service.ui.forecast_chart import forecast_chart
    from targetwise.usecases.forecast import forecast_of_run

    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        view = views.forecasts_view(run, state.workspace)
        result = forecast_of_run(run)
        currency = Currency.from_settings(state.workspace.settings)
        charts = []
        for s in view.summaries:
            def pick(frame, s=s):
                return frame[(frame["measure"] == s.measure) & (frame["level"] == s.level)
                             & (frame["series"] == s.series)].sort_values("period_start")
            past, ahead = pick(result.history).tail(SHOWN_HISTORY), pick(result.forecasts)
            labels = [f"{t:%Y-%m-%d}" for t in [*past["period_start"], *ahead["period_start"]]]
            fmt = (lambda v: money(v, currency, compact=True)) if s.measure == "net_sales" else (lambda v: f"{v:,.0f}")
            chart = forecast_chart(list(past["y"]), list(ahead["forecast"]), list(ahead["lo_80"]), list(ahead["hi_80"]),
                                   labels=labels, y_format=fmt)
            slug = re.sub(r"[^a-z0-9]+", "-", f"{s.level} {s.series}".lower()).strip("-")
            suffix = "" if s.measure == "net_sales" else f"-{s.measure}"
            charts.append({"summary": s, "chart": chart, "id": f"forecast-chart-{slug}{suffix}"})
        return _render(request, "forecasts.html", key=key, view=view, charts=charts)

    return _page(request, state, "read", build)


@router.get("/segments/{name}", response_class=HTMLResponse)
def segment_page(request: Request, state: State, name: str, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        view = views.segment_view(run, name, limit=50, offset=offset, ws=state.workspace, key_id=key.id,
                                  db=state.when_free)
        cluster_names = {p["cluster"]: p["name"] for p in run.profiles()} if run.has(PROFILES) else {}
        return _render(request, "segment.html", key=key, view=view, cluster_names=cluster_names)

    return _page(request, state, "read", build)


@router.get("/customers", response_class=HTMLResponse)
def customer_page(request: Request, state: State, customer_id: str | None = None) -> Response:
    def build(key: ApiKey) -> Response:
        customer = recs = None
        error = None
        if customer_id:
            run = state.runs.active()
            request.scope.setdefault("path_params", {})["customer_id"] = customer_id  # audited as a pseudonym
            try:
                customer = views.customer_view(run, customer_id.strip(), ws=state.workspace, key_id=key.id,
                                               db=state.when_free)
            except NotFoundError as exc:
                error = exc
            try:
                recs = views.recommendations_view(run, customer_id.strip(), 10)
            except NotFoundError:
                recs = None
        return _render(request, "customer.html", key=key, customer_id=customer_id or "", customer=customer, recs=recs, error=error)

    return _page(request, state, "read", build)


# -- audiences --------------------------------------------------------------------------------


def _conditions_from_form(form: dict[str, str], fields: dict[str, str]) -> list[schemas.ConditionIn]:
    conditions = []
    for i in range(1, MAX_CONDITIONS + 1):
        field, op, raw = form.get(f"field_{i}", ""), form.get(f"op_{i}", ""), form.get(f"value_{i}", "").strip()
        if not field or not op:
            continue
        numeric = fields.get(field) == "number"
        if op == "in":
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            value: Any = [_number_or_text(p, numeric) for p in parts]
        else:
            value = _number_or_text(raw, numeric)
        conditions.append(schemas.ConditionIn(field=field, op=op, value=value))  # type: ignore[arg-type]
    return conditions


def _problem(exc: Exception) -> str:
    """One readable line for a refused form: the error's message, or the first invalid field."""
    if isinstance(exc, TargetwiseError):
        return exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]


def _number_or_text(raw: str, numeric: bool) -> Any:
    if not numeric:
        return raw
    try:
        return float(raw)
    except ValueError:
        return raw  # the filter reports "not a finite number" with the field name


def _fields(run: RunData | None) -> dict[str, str]:
    from targetwise.campaigns.audiences import audience_fields

    if run is None:
        return {}
    fields = audience_fields(run.audience_frame())
    return {k: v for k, v in sorted(fields.items()) if "." not in k}


@router.get("/audiences", response_class=HTMLResponse)
def audiences_page(request: Request, state: State) -> Response:
    def build(key: ApiKey) -> Response:
        from targetwise.io.audiences import AudienceStore

        run = _run_or_none(state)
        # an audience just saved (the create form redirects here): shown once, with the form as it was sent
        made = state.sessions.take_flash(request.cookies.get(COOKIE), "audiences:created")
        created, form = made if made is not None else (None, {})
        return _render(
            request, "audiences.html", key=key, run=run, fields=_fields(run), rows=range(1, MAX_CONDITIONS + 1),
            form=form, created=created, error=None, saved=list(reversed(AudienceStore(state.workspace).list()))[:20],
        )

    return _page(request, state, "read", build)


@router.post("/audiences", response_class=HTMLResponse)
async def create_audience_page(request: Request, state: State) -> Response:
    form = await _form(request)

    def build(key: ApiKey) -> Response:
        from targetwise.io.audiences import AudienceStore

        run = state.runs.active()
        fields = _fields(run)
        created = error = None
        try:
            body = schemas.AudienceCreate(name=form.get("name", ""), conditions=_conditions_from_form(form, fields))
            created = actions.create_audience(state, run, body, key_id=key.id)
            audit_details(request, audience_id=created.id, size=created.size)
        except (TargetwiseError, ValueError) as exc:
            error = _problem(exc)
        if created is not None:
            # post/redirect/get: a reload of the result must not save the audience a second time
            state.sessions.flash(request.state.ui_session.id, "audiences:created", (created, form))
            return RedirectResponse("/ui/audiences", status_code=303)
        return _render(
            request, "audiences.html", status_code=422, key=key, run=run, fields=fields,
            rows=range(1, MAX_CONDITIONS + 1), form=form, created=created, error=error,
            saved=list(reversed(AudienceStore(state.workspace).list()))[:20],
        )

    return _page(request, state, "write", build, form=form)


@router.post("/audiences/preview")
async def preview_audience_page(request: Request, state: State) -> Response:
    """Live size for the builder (called by audience.js with the form's fields, CSRF token included)."""
    form = await _form(request)
    try:
        _key(request, state, "read", form=form)
        run = state.runs.active()
        size = actions.audience_size(state, run, _conditions_from_form(form, _fields(run)))
        return JSONResponse(size.model_dump())
    except _Redirect:
        return JSONResponse(AuthError("log in again").to_dict(), status_code=401)
    except TargetwiseError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)
    except ValueError as exc:
        return JSONResponse({"error": {"code": "validation_error", "message": _problem(exc)}}, status_code=422)


def _draft_form(draft: schemas.AudienceDraftPublic) -> dict[str, str]:
    """The builder's form fields filled from a draft (the first MAX_CONDITIONS conditions)."""
    form: dict[str, str] = {}
    for i, condition in enumerate(draft.conditions[:MAX_CONDITIONS], start=1):
        value = condition["value"]
        form[f"field_{i}"], form[f"op_{i}"] = str(condition["field"]), str(condition["op"])
        form[f"value_{i}"] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return form


@router.post("/audiences/draft", response_class=HTMLResponse)
async def draft_audience_page(request: Request, state: State) -> Response:
    """The builder's text box: conditions read from a sentence, for the user to check and save.

    audience.js asks for JSON (``Accept: application/json``) and fills the rows; without
    JavaScript the builder page comes back with the rows filled.
    """
    form = await _form(request)
    if "application/json" in request.headers.get("accept", ""):
        try:
            key = _key(request, state, "read", form=form)
            draft = actions.draft_audience(state, state.runs.active(), form.get("text", ""), key_id=key.id)
        except _Redirect:
            return JSONResponse(AuthError("log in again").to_dict(), status_code=401)
        except TargetwiseError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.http_status)
        audit_details(request, engine=draft.engine, conditions=len(draft.conditions), unresolved=len(draft.unresolved))
        return JSONResponse(draft.model_dump() | {"rows": MAX_CONDITIONS})

    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        draft = error = None
        try:
            draft = actions.draft_audience(state, run, form.get("text", ""), key_id=key.id)
            audit_details(request, engine=draft.engine, conditions=len(draft.conditions),
                          unresolved=len(draft.unresolved))
        except TargetwiseError as exc:
            error = exc.message
        return _render(
            request, "audiences.html", status_code=200 if draft else 422, key=key, run=run, fields=_fields(run),
            rows=range(1, MAX_CONDITIONS + 1), form=_draft_form(draft) if draft else {}, created=None, error=error,
            saved=[], draft=draft, draft_text=form.get("text", ""),
        )

    return _page(request, state, "read", build, form=form)


@router.get("/audiences/{audience_id}/export")
def export_audience_page(request: Request, state: State, audience_id: str, destination: str = "csv") -> Response:
    def build(key: ApiKey) -> Response:
        if destination not in actions.MEDIA_TYPES:
            raise PermissionDeniedError(f"unknown destination {destination!r}", fix="use csv, parquet, google or meta")
        export = actions.export_audience(state, audience_id, destination=destination)
        content, result = export.data, export.result
        audit_details(request, audience_id=audience_id, destination=destination, exported=result.exported)
        suffix = "parquet" if destination == "parquet" else "csv"
        return Response(
            content,
            media_type=export.media_type,
            headers={"Content-Disposition": f'attachment; filename="{audience_id}-{destination}.{suffix}"'},
        )

    return _page(request, state, "write", build)


# -- campaigns --------------------------------------------------------------------------------


def _planner(run: RunData | None, state: ServiceState) -> dict[str, Any]:
    """What the planner form offers: scores (uplift only with a model), channels, saved audiences."""
    from targetwise.io.audiences import AudienceStore
    from targetwise.usecases.campaigns import (
        CHANNEL_PURPOSE,
        HOW_TO_GET_UPLIFT,
        response_scores,
        uplift_status,
    )

    has_uplift, why = uplift_status(run) if run is not None else (False, "")
    responses = response_scores(run) if run is not None else []
    has_value = has_uplift and any(c.startswith("uplift.value_uplift_") for c in run.audience_frame().columns)  # type: ignore[union-attr]
    scores = ([("uplift", "Uplift model: incremental effect of the campaign")] if has_uplift else []) + (
        [("value_uplift", "Value uplift: incremental revenue x margin, minus costs")] if has_value else []) + [
        (s, f"{presentation.label(s)} ({s}): expected responders, not incremental") for s in responses
    ]
    return {
        "scores": scores, "has_uplift": has_uplift, "no_uplift_why": why, "how_to_get_uplift": HOW_TO_GET_UPLIFT,
        "channels": list(CHANNEL_PURPOSE), "audiences": list(reversed(AudienceStore(state.workspace).list())),
        "campaigns": state.workspace.status().campaigns,
    }


def _campaigns_page(
    request: Request, state: State, key: ApiKey, run: RunData | None, *, form: dict[str, str], status_code: int = 200,
    plan: schemas.PlanPublic | None = None, problem: planner.FormProblem | None = None,
    power: schemas.PowerPublic | None = None, power_form: dict[str, str] | None = None,
) -> HTMLResponse:
    currency = presentation.Currency.from_settings(state.settings)
    return _render(
        request, "campaigns.html", status_code=status_code, key=key, run=run, form=form, plan=plan, problem=problem,
        chart=planner.chart_of(plan, currency) if plan is not None else None, currency=currency,
        download=planner.download_query(form) if plan is not None else "", power=power, power_form=power_form or {},
        **_planner(run, state),
    )


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, state: State) -> Response:
    def build(key: ApiKey) -> Response:
        return _campaigns_page(request, state, key, _run_or_none(state), form={})

    return _page(request, state, "read", build)


@router.post("/campaigns", response_class=HTMLResponse)
async def plan_page(request: Request, state: State) -> Response:
    form = await _form(request)

    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        try:
            plan = actions.plan_public(actions.plan_outcome(state, run, planner.plan_body(form)))
        except TargetwiseError as exc:
            status = exc.http_status if exc.http_status >= 400 else 422
            return _campaigns_page(request, state, key, run, form=form, status_code=status,
                                   problem=planner.problem_of(exc))
        audit_details(request, kind=plan.kind, contacted=plan.n_contacted)
        return _campaigns_page(request, state, key, run, form=form, plan=plan)

    return _page(request, state, "read", build, form=form)


@router.get("/campaigns/assignments.csv")
def plan_assignments(request: Request, state: State) -> Response:
    """The assignments of the plan described by the query (the planner form's fields), as CSV."""
    from targetwise.io.exports import csv_bytes

    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        form = {k: v for k, v in request.query_params.items() if k in planner.FIELDS}
        outcome = actions.plan_outcome(state, run, planner.plan_body(form))
        audit_details(request, kind=outcome.kind, contacted=outcome.n_contacted)
        name = f"plan-{run.run_id}-{outcome.score}.csv".replace("/", "-")
        return Response(
            csv_bytes(outcome.assignments.reset_index()), media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return _page(request, state, "read", build)


# the readout and power pages (service/ui/campaign_pages.py) build on the helpers above
from targetwise.service.ui import campaign_pages  # noqa: E402

router.include_router(campaign_pages.router)

# the syncs pages (service/ui/sync_pages.py)
from targetwise.service.ui import sync_pages  # noqa: E402

router.include_router(sync_pages.router)

# one audience's page, its lookalike form and the id-file upload (service/ui/audience_pages.py)
from targetwise.service.ui import audience_pages  # noqa: E402

router.include_router(audience_pages.router)

# the offers page: catalogue, off-policy evaluation and assignment (service/ui/offer_pages.py)
from targetwise.service.ui import offer_pages  # noqa: E402

router.include_router(offer_pages.router)
