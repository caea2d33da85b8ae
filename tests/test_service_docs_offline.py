# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""/docs and /redoc work offline: every asset they name is served by the app itself, none by a CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.service.security import DEFAULT_POLICY

COMMON = "default-src 'none'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class _Refs(HTMLParser):
    """Every URL an HTML page loads or links: src=, href=, and custom elements' *-url attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is not None and (name in ("src", "href") or name.endswith("-url")):
                self.refs.append((tag, value))


def _refs(page: str) -> list[tuple[str, str]]:
    parser = _Refs()
    parser.feed(page)
    return parser.refs


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/docs-assets/favicon.png"}),
        ("/redoc", {"/docs-assets/redoc.standalone.js", "/docs-assets/favicon.png", "/openapi.json"}),
    ],
)
def test_docs_pages_load_only_assets_this_app_serves(client: TestClient, page: str, assets: set[str]) -> None:
    response = client.get(page)
    assert response.status_code == 200
    text = response.text
    # no absolute URL anywhere in the page (not in an attribute, not in the inline script)
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE) == []
    refs = {value for _, value in _refs(text)}
    assert refs == assets
    for url in sorted(refs):
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = EXPECTED_TYPES[url[url.rfind("."):]]
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > (1000 if url.endswith(".png") else 10_000), url  # the real bundle, not a stub
        assert asset.headers["content-security-policy"] == DEFAULT_POLICY  # assets keep the service-wide headers


def test_swagger_ui_gets_the_openapi_document_and_no_validator_badge(client: TestClient) -> None:
    docs = client.get("/docs").text
    (inline,) = re.findall(r"<script>(.*?)</script>", docs, re.DOTALL)
    assert "url: '/openapi.json'" in inline
    assert '"validatorUrl": null' in inline  # Swagger UI's default badge is an image from validator.swagger.io
    assert client.get("/openapi.json").status_code == 200


def test_docs_policies_allow_this_origin_and_the_hashed_inline_script_only(client: TestClient) -> None:
    docs = client.get("/docs")
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert docs.headers.get_list("content-security-policy") == [
        f"{COMMON}; script-src 'self' 'sha256-{digest}'; style-src 'self' 'unsafe-inline'"
    ]
    redoc = client.get("/redoc")
    assert re.findall(r"<script>", redoc.text) == []
    assert redoc.headers.get_list("content-security-policy") == [
        f"{COMMON}; script-src 'self'; style-src 'self' 'unsafe-inline'; worker-src blob:"
    ]
    for response in (docs, redoc):
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    # the UI's own static files still answer from /static (the docs mount does not shadow them)
    assert client.get("/static/audience.js").status_code == 200
    assert client.get("/docs-assets/nothing.js").status_code == 404
