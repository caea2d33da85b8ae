"""The API docs pages (/docs: Swagger UI, /redoc: ReDoc) with a Content-Security-Policy of their own.

FastAPI's pages load their JavaScript and CSS from a CDN and start Swagger UI
with one inline script, which the service-wide policy (this origin only, no
inline script) would block. Each page therefore gets a policy naming exactly
the CDN it loads from and the SHA-256 of its inline script, computed here from
the HTML actually served, so the policy can never drift from the page. Inline
styles are allowed on these two pages only: both libraries style themselves at
run time, and the pages show nothing but the API's own description.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from targetwise.service.security import policy, script_hash

__all__ = ["install_docs"]

CDN = "https://cdn.jsdelivr.net"
FAVICON = "https://fastapi.tiangolo.com"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _common(**directives: list[str]) -> str:
    return policy(
        default_src=["'none'"],
        img_src=["'self'", "data:", FAVICON],
        connect_src=["'self'"],
        base_uri=["'none'"],
        form_action=["'none'"],
        frame_ancestors=["'none'"],
        **directives,
    )


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for ``app.openapi_url`` (create the app with ``docs_url=redoc_url=None``)."""
    assert app.openapi_url is not None
    swagger = bytes(
        get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI", oauth2_redirect_url=None).body
    ).decode()
    swagger_policy = _common(
        script_src=[CDN, *(script_hash(s) for s in _INLINE_SCRIPT.findall(swagger))],
        style_src=[CDN, "'unsafe-inline'"],
    )
    redoc = bytes(get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc").body).decode()
    assert not _INLINE_SCRIPT.findall(redoc), "ReDoc's page gained an inline script: hash it like Swagger's"
    redoc_policy = _common(
        script_src=[CDN],
        style_src=["https://fonts.googleapis.com", "'unsafe-inline'"],
        font_src=["https://fonts.gstatic.com"],
        worker_src=["blob:"],
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger, headers={"Content-Security-Policy": swagger_policy})

    @app.get("/redoc", include_in_schema=False)
    def redoc_ui() -> HTMLResponse:
        return HTMLResponse(redoc, headers={"Content-Security-Policy": redoc_policy})
