"""The API docs pages (/docs: Swagger UI, /redoc: ReDoc), served offline, with a Content-Security-Policy of their own.

FastAPI's default pages load their JavaScript and CSS from a CDN, so ``/docs``
is blank on a machine without internet access (an air-gapped shop, a laptop on a
train). Here both pages load the Swagger UI and ReDoc bundles that the
``fastapi-offline`` package ships (its ``static/`` folder: ``swagger-ui-bundle.js``,
``swagger-ui.css``, ``redoc.standalone.js``, ``favicon.png``), mounted at
:data:`ASSETS` on this app; nothing is fetched from another origin. Swagger UI's
online validator badge (an image from validator.swagger.io) is switched off.

Swagger UI starts with one inline script, which the service-wide policy (this
origin only, no inline script) would block. Each page therefore gets a policy
allowing this origin and the SHA-256 of its inline script, computed here from
the HTML actually served, so the policy can never drift from the page. Inline
styles are allowed on these two pages only: both libraries style themselves at
run time, and the pages show nothing but the API's own description.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from targetwise.service.security import policy, script_hash

__all__ = ["ASSETS", "ASSET_FILES", "install_docs"]

#: where the bundled Swagger UI / ReDoc files are served
ASSETS = "/docs-assets"
#: the files the two pages load, all from the fastapi-offline package
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _asset_dir() -> Path:
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    assert not missing, f"fastapi-offline no longer ships {missing}: pin a version that does"
    return folder


def _common(**directives: list[str]) -> str:
    return policy(
        default_src=["'none'"],
        img_src=["'self'", "data:"],
        connect_src=["'self'"],
        base_uri=["'none'"],
        form_action=["'none'"],
        frame_ancestors=["'none'"],
        **directives,
    )


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets for ``app.openapi_url`` (create the app with ``docs_url=redoc_url=None``).

    Call it before any mount that would shadow :data:`ASSETS`.
    """
    assert app.openapi_url is not None
    app.mount(ASSETS, StaticFiles(directory=_asset_dir()), name="docs-assets")
    swagger = bytes(
        get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=None,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        ).body
    ).decode()
    swagger_policy = _common(
        script_src=["'self'", *(script_hash(s) for s in _INLINE_SCRIPT.findall(swagger))],
        style_src=["'self'", "'unsafe-inline'"],
    )
    redoc = bytes(
        get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        ).body
    ).decode()
    assert not _INLINE_SCRIPT.findall(redoc), "ReDoc's page gained an inline script: hash it like Swagger's"
    redoc_policy = _common(
        script_src=["'self'"],
        style_src=["'self'", "'unsafe-inline'"],
        worker_src=["blob:"],
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger, headers={"Content-Security-Policy": swagger_policy})

    @app.get("/redoc", include_in_schema=False)
    def redoc_ui() -> HTMLResponse:
        return HTMLResponse(redoc, headers={"Content-Security-Policy": redoc_policy})
