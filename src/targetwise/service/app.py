"""The FastAPI application: ``create_app(settings)`` builds one, with no import-time state.

Every error, whatever raised it (a targetwise error, request validation, an
unknown route, a wrong method, a bug), answers with the one JSON error shape of
:meth:`targetwise.errors.TargetwiseError.to_dict`; a bug answers a generic 500
without a traceback (the traceback goes to the server log, which names the
route template, never the raw path). A 405 lists in ``Allow`` every method the
path really has.

The two outermost layers, outside even Starlette's 500 handler, add the
security headers (:mod:`targetwise.service.security`) and write the access log
(:mod:`targetwise.service.logs`), so both cover every response.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import targetwise
from targetwise.config import Settings
from targetwise.errors import QueueFullError, RateLimitedError, TargetwiseError
from targetwise.io.workspace import Workspace
from targetwise.service.deps import single_valued_query
from targetwise.service.docs import install_docs
from targetwise.service.logs import AccessLogMiddleware
from targetwise.service.routing import allowed_methods, route_template
from targetwise.service.schemas import ErrorPublic
from targetwise.service.security import SecurityHeadersMiddleware
from targetwise.service.state import ServiceState

__all__ = ["TargetwiseAPI", "create_app", "error_response"]

log = logging.getLogger("targetwise.service")
STATIC = Path(__file__).parent / "static"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": text}
    for status, text in {
        400: "The request cannot be carried out as asked (see the error's fix)",
        401: "Missing, unknown or revoked API key",
        403: "The key's scope is too low",
        404: "Not found (or the stage producing it did not run)",
        422: "Invalid request or data",
        429: "Rate limit exceeded (see Retry-After)",
        503: "The workspace database is busy, or too many event posts are queued (see Retry-After)",
    }.items()
}


def _body(code: str, message: str, *, fix: str | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fix": fix, "location": None, "details": details or {}}}


def error_response(exc: TargetwiseError) -> JSONResponse:
    headers = None
    if isinstance(exc, (RateLimitedError, QueueFullError)):
        headers = {"Retry-After": str(exc.retry_after)}
    elif exc.http_status == 503:
        headers = {"Retry-After": "2"}
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    clean = [
        {"location": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors[:20]
    ]
    # a union ("a number, or a non-blank text") fails once per branch; the branch of the input's own
    # type says what is wrong ("should have at least 1 character"), a type mismatch only which branch it was not
    specific = [e for e in clean if not e["type"].endswith("_type")]
    first = (specific or clean or [{"location": [], "message": "invalid request"}])[0]
    where = ".".join(first["location"])
    return f"invalid request: {where}: {first['message']}" if where else f"invalid request: {first['message']}", clean


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TargetwiseError)
    async def targetwise_error(_request: Request, exc: TargetwiseError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, errors = _validation_message(list(exc.errors()))
        body = _body("validation_error", message, fix="correct the request; see /openapi.json", details={"errors": errors})
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            body = _body("not_found", f"no route {request.url.path}", fix="see /openapi.json for the API's routes")
        elif exc.status_code == 405:
            allowed = allowed_methods(request.app.router.routes, request.scope)
            body = _body("method_not_allowed", f"{request.method} is not allowed on {request.url.path}",
                         fix=f"use {', '.join(allowed) or 'another method'}; see /openapi.json",
                         details={"allowed": allowed})  # fmt: skip
            headers = dict(getattr(exc, "headers", None) or {})
            if allowed:
                headers["Allow"] = ", ".join(allowed)
            return JSONResponse(body, status_code=405, headers=headers)
        else:
            body = _body("http_error", str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, route_template(request.scope), exc_info=exc)
        body = _body("internal_error", "internal server error", fix="retry; if it persists, see the server log")
        return JSONResponse(body, status_code=500)


class AuditMiddleware:
    """Appends one audit entry per request made with a valid key (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            request_state = scope.get("state") or {}
            key_id = request_state.get("key_id")
            route = scope.get("route")
            if key_id is not None and route is not None:
                params = scope.get("path_params") or {}
                self.state.audit.record(
                    key_id=key_id,
                    action=getattr(route, "name", "unknown"),
                    method=scope["method"],
                    route=route_template(scope),
                    status=status,
                    customer_id=params.get("customer_id"),
                    details=request_state.get("audit_details"),
                )


class TargetwiseAPI(FastAPI):
    """FastAPI with two outermost layers: security headers and the access log (see the module docstring)."""

    def build_middleware_stack(self) -> ASGIApp:
        return AccessLogMiddleware(SecurityHeadersMiddleware(super().build_middleware_stack()))


def create_app(settings: Settings, *, workspace: Workspace | None = None) -> FastAPI:
    """An app serving the workspace of ``settings`` (opened here; a clear error if it is not one)."""
    from targetwise.service.routers import (
        audiences,
        audit,
        campaigns,
        cohorts,
        consent,
        copy,
        customers,
        drift,
        events,
        forecasts,
        health,
        offers,
        products,
        runs,
        segments,
        syncs,
    )
    from targetwise.service.ui import pages

    ws = workspace or Workspace.open(settings.workspace, settings)
    state = ServiceState(settings=settings, workspace=ws)
    app = TargetwiseAPI(
        title="targetwise",
        version=targetwise.__version__,
        summary="Segments, CLV, propensity, recommendations and audiences of the served run.",
        responses=_ERRORS,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.service = state
    _install_error_handlers(app)
    install_docs(app)
    for module in (health, customers, consent, products, segments, cohorts, forecasts, audiences, campaigns, copy,
                   events, runs, drift, syncs, offers, audit):
        app.include_router(module.router, prefix="/v1", dependencies=[Depends(single_valued_query)])
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)

    app.add_middleware(AuditMiddleware, state=state)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    return app


def serve(workspace: Workspace, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``workspace`` with uvicorn (one worker: DuckDB allows one writer process).

    The one entry point the CLI's ``targetwise serve`` calls; the access log names
    route templates, never customer ids (:mod:`targetwise.service.logs`).
    """
    import uvicorn

    from targetwise.service.logs import uvicorn_options

    app = create_app(workspace.settings, workspace=workspace)
    uvicorn.run(app, host=host, port=port, workers=1, log_level="info", **uvicorn_options(workspace.settings))
