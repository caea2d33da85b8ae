"""UI pages of one audience (``/ui/audiences/{id}``): its definition, exports, and a lookalike of it;
and the audiences list's id-file upload (``POST /ui/audiences/ids``).

They call the same use cases as ``POST /v1/audiences/{id}/lookalike``, ``POST /v1/audiences/ids``
and ``targetwise audience lookalike|create --ids``, so the size curve and the left-out counts are the
same on every surface. A lookalike preview needs a read key; saving it or uploading a file, a write key.
Forms carry the session's CSRF token like every other UI form (checked in ``pages._key``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from targetwise.errors import DataValidationError, Location
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.keys import ApiKey
from targetwise.runconfig import RunConfig
from targetwise.service.deps import State, audit_details
from targetwise.service.routers.audiences import id_file
from targetwise.service.sessions import COOKIE
from targetwise.service.state import ServiceState
from targetwise.service.ui.pages import MAX_CONDITIONS, _fields, _page, _render, _run_or_none
from targetwise.usecases.audiences import IdsAudience, create_audience_from_ids
from targetwise.usecases.lookalikes import Lookalike, lookalike_audience

router = APIRouter(include_in_schema=False)  # included by pages.router, which adds /ui

METHODS = {"pu": "calibrated seed-vs-rest classifier (pu)", "knn": "nearest neighbours (knn)"}
#: an "in" list longer than this is shown as its count (an id audience's definition lists every member)
SHOWN_VALUES = 5


def _conditions_text(record: AudienceRecord) -> list[str]:
    """The definition in one line per condition; long id lists as their length, never the ids."""
    lines = []
    for condition in record.definition:
        value = condition.get("value")
        if isinstance(value, list) and len(value) > SHOWN_VALUES:
            shown = f"[{len(value):,} values]"
        elif isinstance(value, list):
            shown = ", ".join(map(str, value))
        else:
            shown = str(value)
        lines.append(f"{condition.get('field')} {condition.get('op')} {shown}")
    return lines


def _audience_page(request: Request, state: ServiceState, key: ApiKey, audience_id: str, *, status_code: int = 200,
                   form: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    record = AudienceStore(state.workspace).get(audience_id)
    defaults = {"size": str(record.size), "method": RunConfig().lookalike.method, "save_as": ""}
    return _render(
        request, "audience.html", status_code=status_code, key=key, audience=record,
        conditions=_conditions_text(record), methods=METHODS, form=defaults | (form or {}), run=_run_or_none(state),
        **{"uploaded": None, "lookalike": None, "error": None} | context,
    )


@router.get("/audiences/{audience_id}", response_class=HTMLResponse)
def audience_page(request: Request, state: State, audience_id: str) -> Response:
    def build(key: ApiKey) -> Response:
        # an id file just uploaded (the upload redirects here): shown once, with what was left out of it
        session_id = request.cookies.get(COOKIE)
        uploaded = state.sessions.take_flash(session_id, f"uploaded:{audience_id}")
        saved = state.sessions.take_flash(session_id, f"lookalike:{audience_id}")  # a lookalike just saved
        lookalike, form = saved if saved is not None else (None, None)
        return _audience_page(request, state, key, audience_id, uploaded=uploaded, lookalike=lookalike, form=form)

    return _page(request, state, "read", build)


def _int_field(form: dict[str, str], name: str) -> int:
    raw = form.get(name, "").strip().replace(",", "")
    if not raw.isdigit():
        raise DataValidationError(f"{name} must be a whole number of customers, got {raw!r}",
                                  location=Location(column=name, value=raw), fix="enter a number such as 500")
    return int(raw)


@router.post("/audiences/{audience_id}/lookalike", response_class=HTMLResponse)
async def lookalike_page(request: Request, state: State, audience_id: str) -> Response:
    """The lookalike form: ``action=preview`` shows the size curve (read key); ``action=save`` also saves (write key)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    saving = form.get("action") == "save"

    def build(key: ApiKey) -> Response:
        result: Lookalike | None = None
        error = None
        try:
            save_as = form.get("save_as", "").strip() or None
            if saving and save_as is None:
                raise DataValidationError("give the lookalike a name to save it", location=Location(column="save_as"),
                                          fix="type a name, then Save")
            method = form.get("method") or None
            if method is not None and method not in METHODS:
                raise DataValidationError(f"unknown lookalike method {method!r}", fix="choose pu or knn")
            size = _int_field(form, "size")
            run = state.runs.active()
            result = state.when_free(lambda: lookalike_audience(
                state.workspace, run, audience_id, size=size, method=method, save_as=save_as if saving else None,
                created_by=key.id))
            audit_details(request, seed_id=result.seed_id, size=result.size, method=result.method,
                          audience_id=result.saved.id if result.saved else None)
        except DataValidationError as exc:
            error = exc.message
        if saving and result is not None:
            # post/redirect/get, as for an upload: a reload of the result does not save a second version
            state.sessions.flash(request.state.ui_session.id, f"lookalike:{audience_id}", (result, form))
            return RedirectResponse(f"/ui/audiences/{quote(audience_id, safe='')}", status_code=303)
        return _audience_page(request, state, key, audience_id, status_code=200 if result else 422, form=form,
                              lookalike=result, error=error)

    return _page(request, state, "write" if saving else "read", build, form=form)


@router.post("/audiences/ids", response_class=HTMLResponse)
async def upload_ids_page(request: Request, state: State) -> Response:
    """The audiences list's upload form: the file becomes an audience, shown with what was left out of it."""
    submitted = await request.form()
    form = {k: v for k, v in submitted.items() if isinstance(v, str)}
    upload = submitted.get("file")

    def build(key: ApiKey) -> Response:
        run = state.runs.active()
        name = form.get("name", "").strip()
        try:
            # starlette's UploadFile: request.form() never holds fastapi's subclass of it
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise DataValidationError("choose an id file to upload", location=Location(column="file"),
                                          fix="a CSV with a customer_id column, or one id per line")
            source, content = id_file(upload)
            made: IdsAudience = state.when_free(lambda: create_audience_from_ids(
                state.workspace, run, name=name, content=content, source=source, created_by=key.id))
        except DataValidationError as exc:
            return _render(
                request, "audiences.html", status_code=422, key=key, run=run, fields=_fields(run),
                rows=range(1, MAX_CONDITIONS + 1), form={}, created=None, error=None, upload_error=exc.message,
                upload_name=name, saved=list(reversed(AudienceStore(state.workspace).list()))[:20],
            )
        audit_details(request, audience_id=made.record.id, size=made.record.size, listed=made.listed)
        # post/redirect/get: the saved audience's page shows the upload's counts once; a reload of it
        # does not upload the file again (and save a second version)
        state.sessions.flash(request.state.ui_session.id, f"uploaded:{made.record.id}", made)
        return RedirectResponse(f"/ui/audiences/{quote(made.record.id, safe='')}", status_code=303)

    return _page(request, state, "write", build, form=form)
