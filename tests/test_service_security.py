# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""Service hardening (issue 17): UI sessions and CSRF, security headers, the access log, ids with '/',
and an OpenAPI document that says what validation does.

Each test drives the real app in process (the access log: ``targetwise serve`` in a subprocess) and
asserts exact values: cookie attributes, header values, log lines, status codes and error codes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.config import get_settings
from targetwise.io.audiences import AudienceStore
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.service.security import DEFAULT_POLICY
from targetwise.service.sessions import LoginTokens, SessionStore

BASE = "http://127.0.0.1"  # the test client's origin
EVIL = "https://evil.example"


def _tampered(token: str) -> str:
    """The token with its last character changed (never to itself)."""
    return token[:-1] + ("1" if token[-1] == "0" else "0")

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "targetwise" / "service" / "templates"
_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.DOTALL)
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def _hidden(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's one form posting to ``action``."""
    (form,) = [f for f in _FORM.findall(page) if f'action="{action}"' in f.split(">", 1)[0]]
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(form)}


def _login(client: TestClient, token: str, *, origin: str = BASE, **headers: str) -> Any:
    fields = _hidden(client.get("/ui/login").text, "/ui/login") | {"api_key": token, "next": "/ui/audiences"}
    return client.post("/ui/login", data=fields, headers={"Origin": origin, **headers}, follow_redirects=False)


def _cookie_attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip().partition("=") for p in set_cookie.split(";")]
    return {name.lower(): value for name, _, value in parts}


# -- 1. UI sessions and CSRF ---------------------------------------------------------------------------


def test_login_cookie_is_a_server_side_session_id_with_the_configured_lifetime(client: TestClient, keys: Keys) -> None:
    state = client.app.state.service
    response = _login(client, keys.write)
    assert (response.status_code, response.headers["location"]) == (303, "/ui/audiences")
    (set_cookie,) = response.headers.get_list("set-cookie")
    attributes = _cookie_attributes(set_cookie)
    session_id = attributes.pop("targetwise_session")
    assert attributes == {"max-age": "43200", "path": "/ui", "httponly": "", "samesite": "strict"}  # not Secure: http
    assert len(session_id) == 43 and keys.write.split("_", 2)[2] not in session_id
    session = state.sessions.get(session_id)
    assert session.key_id == keys.write_key.id and len(state.sessions) == 1
    assert client.get("/ui/audiences").status_code == 200


def test_ui_session_hours_sets_cookie_and_server_expiry(service_ws: Workspace, run_a: RunInfo, keys: Keys,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TARGETWISE_UI_SESSION_HOURS", "2")
    settings = get_settings(workspace=service_ws.path, duckdb_threads=1)
    assert settings.ui_session_hours == 2 and get_settings().ui_session_hours == 2
    app = create_app(settings, workspace=service_ws)
    now = [1_000_000.0]
    app.state.service.sessions = SessionStore(lifetime_seconds=2 * 3600, clock=lambda: now[0])
    with TestClient(app, base_url=BASE) as c:
        cookie = _cookie_attributes(_login(c, keys.read).headers["set-cookie"])
        assert cookie["max-age"] == "7200"
        now[0] += 7199
        assert c.get("/ui/audiences", follow_redirects=False).status_code == 200
        now[0] += 1  # two hours after login the server forgets the session, whatever the browser keeps
        expired = c.get("/ui/audiences", follow_redirects=False)
        assert (expired.status_code, expired.headers["location"]) == (303, "/ui/login?next=/ui/audiences")
        assert len(app.state.service.sessions) == 0


def test_a_flash_is_read_once_by_its_own_session_and_ends_with_it() -> None:
    """Post/redirect/get: a form's result waits for the page the post redirects to, for that login only."""
    now = [0.0]
    store = SessionStore(lifetime_seconds=60, clock=lambda: now[0])
    mine, theirs = store.create("k1"), store.create("k2")
    store.flash(mine.id, "uploaded:a-v1", {"listed": 31})
    store.flash("not-a-session", "uploaded:a-v1", {"listed": 1})  # no live session: nothing kept
    assert store.take_flash(theirs.id, "uploaded:a-v1") is None
    assert store.take_flash(mine.id, "uploaded:b-v1") is None
    assert store.take_flash(mine.id, "uploaded:a-v1") == {"listed": 31}
    assert store.take_flash(mine.id, "uploaded:a-v1") is None  # a reload shows it no more
    store.flash(mine.id, "x", 1)
    store.end(mine.id)
    assert store.take_flash(mine.id, "x") is None
    store.flash(theirs.id, "y", 2)
    now[0] = 61.0
    assert len(store) == 0 and store.take_flash(theirs.id, "y") is None  # expired with its session


def test_logout_ends_the_session_on_the_server(client: TestClient, keys: Keys) -> None:
    session_id = _cookie_attributes(_login(client, keys.read).headers["set-cookie"])["targetwise_session"]
    token = _hidden(client.get("/ui/audiences").text, "/ui/logout")["csrf_token"]
    out = client.post("/ui/logout", data={"csrf_token": token}, headers={"Origin": BASE}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
    assert client.app.state.service.sessions.get(session_id) is None
    client.cookies.set("targetwise_session", session_id, path="/ui")  # a copy of the old cookie is worthless
    assert client.get("/ui/audiences", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_ui_sessions(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    _login(client, keys.write)
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    KeyStore(service_ws).revoke(keys.write_key.id)
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login?next=/ui/"
    assert len(client.app.state.service.sessions) == 0


def _ui_forms(client: TestClient) -> dict[str, dict[str, str]]:
    """Every state-changing UI post, with a valid form (its page's hidden fields included)."""
    audiences = _hidden(client.get("/ui/audiences").text, "/ui/audiences")
    campaigns = _hidden(client.get("/ui/campaigns").text, "/ui/campaigns")
    audience = audiences | {"name": "Lapsed pick", "field_1": "cluster_name", "op_1": "==", "value_1": "Lapsed"}
    return {
        "/ui/audiences": audience,
        "/ui/audiences/preview": audience,
        "/ui/campaigns": campaigns | {"score": "uplift", "contact_cost": "0.1", "value_per_conversion": "20"},
        "/ui/logout": _hidden(client.get("/ui/").text, "/ui/logout"),
    }


def test_every_state_changing_ui_post_needs_its_origin_and_token(client: TestClient, keys: Keys,
                                                                  service_ws: Workspace) -> None:  # fmt: skip
    _login(client, keys.write)
    forms = _ui_forms(client)
    assert {len(f["csrf_token"]) for f in forms.values()} == {43}  # one per-login token in every form
    refusals = {
        "foreign Origin": ({"Origin": EVIL}, None),
        "null Origin": ({"Origin": "null"}, None),
        "foreign Referer": ({"Referer": f"{EVIL}/x.html"}, None),
        "no Origin, no Referer": ({}, None),
        "other port": ({"Origin": "http://127.0.0.1:8001"}, None),
        "https for http": ({"Origin": "https://127.0.0.1"}, None),
        "no token": ({"Origin": BASE}, "csrf_token"),
    }
    for path, form in forms.items():
        for why, (headers, drop) in refusals.items():
            data = {k: v for k, v in form.items() if k != drop}
            refused = client.post(path, data=data, headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (path, why, refused.status_code)
        wrong = client.post(path, data=form | {"csrf_token": "x" * 43}, headers={"Origin": BASE})
        assert wrong.status_code == 403, path
    assert AudienceStore(service_ws).list() == [] and len(client.app.state.service.sessions) == 1
    # the controls: the same forms from the UI itself (a same-origin Referer is enough without Origin)
    expected = {"/ui/audiences": 303, "/ui/audiences/preview": 200, "/ui/campaigns": 200, "/ui/logout": 303}  # saved: see other
    for path, form in forms.items():
        headers = {"Referer": f"{BASE}/ui/audiences"} if path == "/ui/campaigns" else {"Origin": BASE}
        done = client.post(path, data=form, headers=headers, follow_redirects=False)
        assert done.status_code == expected[path], (path, done.text[:300])
    assert [a.id for a in AudienceStore(service_ws).list()] == ["lapsed-pick-v1"]
    assert len(client.app.state.service.sessions) == 0  # the logout


def test_login_needs_the_login_forms_token_and_this_origin(client: TestClient, keys: Keys) -> None:
    fields = _hidden(client.get("/ui/login").text, "/ui/login") | {"api_key": keys.admin}
    assert not client.cookies  # an anonymous visit leaves no cookie
    for headers, data in [
        ({"Origin": EVIL}, fields),
        ({"Referer": f"{EVIL}/login.html"}, fields),
        ({}, fields),
        ({"Origin": BASE}, {k: v for k, v in fields.items() if k != "csrf_token"}),
        ({"Origin": BASE}, fields | {"csrf_token": _tampered(fields["csrf_token"])}),
    ]:
        refused = client.post("/ui/login", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, (headers, refused.status_code)
        assert "refused" in _hidden_alert(refused.text)
    assert len(client.app.state.service.sessions) == 0
    assert _login(client, keys.admin).status_code == 303


def _hidden_alert(page: str) -> str:
    (alert,) = re.findall(r'<p class="error" role="alert">(.*?)</p>', page, re.DOTALL)
    return html.unescape(alert)


def test_login_tokens_are_signed_and_expire() -> None:
    now = [5_000.0]
    tokens = LoginTokens(lifetime_seconds=3600, secret=b"k" * 32, clock=lambda: now[0])
    token = tokens.issue()
    issued, nonce, signature = token.split(".")
    assert issued == "5000" and len(signature) == 64 and tokens.valid(token)
    assert not tokens.valid(f"6000.{nonce}.{signature}")  # the time is signed
    assert not LoginTokens(secret=b"x" * 32, clock=lambda: now[0]).valid(token)  # another process's secret
    assert not tokens.valid("") and not tokens.valid(None) and not tokens.valid("a.b")
    now[0] += 3600
    assert tokens.valid(token)
    now[0] += 1
    assert not tokens.valid(token)


def test_cookie_is_secure_over_tls_and_forwarded_proto_counts_only_behind_a_trusted_proxy(
    service_ws: Workspace, run_a: RunInfo, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def secure(settings: Any, base_url: str, origin: str, **headers: str) -> bool | int:
        with TestClient(create_app(settings, workspace=service_ws), base_url=base_url) as c:
            response = _login(c, keys.read, origin=origin, **headers)
            if response.status_code != 303:
                return response.status_code
            return "secure" in _cookie_attributes(response.headers["set-cookie"])

    direct = service_ws.settings
    assert direct.trust_proxy is False
    assert secure(direct, "https://127.0.0.1", "https://127.0.0.1") is True  # served over TLS
    assert secure(direct, BASE, BASE) is False
    # a client claiming https is not believed without TARGETWISE_TRUST_PROXY (and its https Origin is foreign)
    assert secure(direct, BASE, BASE, **{"X-Forwarded-Proto": "https"}) is False
    assert secure(direct, BASE, "https://127.0.0.1", **{"X-Forwarded-Proto": "https"}) == 403
    monkeypatch.setenv("TARGETWISE_TRUST_PROXY", "1")
    proxied = get_settings(workspace=service_ws.path, duckdb_threads=1)
    assert proxied.trust_proxy is True
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"}
    assert secure(proxied, BASE, "https://shop.example", **forwarded) is True
    assert secure(proxied, BASE, BASE, **forwarded) == 403  # the browser is on https://shop.example


# -- 2. security headers ---------------------------------------------------------------------------------


def _assert_headers(response: Any, where: str, *, csp: str = DEFAULT_POLICY) -> None:
    headers = response.headers
    assert headers.get_list("content-security-policy") == [csp], where
    assert headers.get_list("x-frame-options") == ["DENY"], where
    assert headers.get_list("x-content-type-options") == ["nosniff"], where
    assert headers.get_list("referrer-policy") == ["same-origin"], where


def test_security_headers_on_api_ui_docs_static_and_error_responses(client: TestClient, keys: Keys) -> None:
    @client.app.get("/v1/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    read = Keys.header(keys.read)
    responses = {
        "API": (client.get("/v1/customers/C1", headers=read), 200),
        "health": (client.get("/v1/health"), 200),
        "OpenAPI": (client.get("/openapi.json"), 200),
        "404 resource": (client.get("/v1/customers/NOPE", headers=read), 404),
        "404 route": (client.get("/nowhere"), 404),
        "401": (client.get("/v1/customers/C1"), 401),
        "405": (client.delete("/v1/health"), 405),
        "422": (client.get("/v1/customers/C1/recommendations", params={"n": 0}, headers=read), 422),
        "500": (client.get("/v1/boom"), 500),
        "redirect": (client.get("/", follow_redirects=False), 303),
        "UI login": (client.get("/ui/login"), 200),
        "UI redirect to login": (client.get("/ui/segments", follow_redirects=False), 303),
        "static": (client.get("/static/audience.js"), 200),
    }
    _login(client, keys.read)
    responses["UI page"] = (client.get("/ui/customers", params={"customer_id": "C1"}), 200)
    responses["UI error page"] = (client.get("/ui/segments/Nobody"), 404)
    for where, (response, status) in responses.items():
        assert response.status_code == status, (where, response.status_code)
        _assert_headers(response, where)
    assert responses["500"][0].json()["error"]["code"] == "internal_error"


def test_docs_pages_allow_exactly_this_origin_and_their_inline_script(client: TestClient) -> None:
    """The docs assets are served by the app (tests/test_service_docs_offline.py), so no CDN is allowed."""
    docs = client.get("/docs")
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    common = ("default-src 'none'; img-src 'self' data:; connect-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip
    _assert_headers(docs, "/docs", csp=(
        f"{common}; script-src 'self' 'sha256-{digest}'; style-src 'self' 'unsafe-inline'"
    ))  # fmt: skip
    assert "oauth2" not in docs.text and client.get("/docs/oauth2-redirect").status_code == 404
    redoc = client.get("/redoc")
    assert re.findall(r"<script>", redoc.text) == []
    _assert_headers(redoc, "/redoc", csp=(
        f"{common}; script-src 'self'; style-src 'self' 'unsafe-inline'; worker-src blob:"
    ))  # fmt: skip


def test_templates_have_no_inline_script_style_or_event_handler() -> None:
    """What lets the UI run under script-src/style-src 'self' without 'unsafe-inline'."""
    found = {}
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", text)
        if inline:
            found[template.name] = inline
    assert found == {}
    assert len(list(TEMPLATES.glob("*.html"))) == 16


# -- 3. the access log ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, path: str, token: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})  # the path is sent as is
    status = connection.getresponse().status
    connection.close()
    return status


def test_access_log_of_targetwise_serve_names_route_templates_not_customer_ids(
    service_ws: Workspace, run_a: RunInfo, keys: Keys, tmp_path: Path
) -> None:
    port = _free_port()
    log_file = tmp_path / "serve.log"
    command = [sys.executable, "-c", "from targetwise.cli import app; app()", "serve",
               "-w", str(service_ws.path), "--port", str(port)]  # fmt: skip
    with open(log_file, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _request(port, "/v1/health", keys.read) == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.2)
            statuses = [
                _request(port, "/v1/customers/SECRET-ID-4711", keys.read),
                _request(port, "/v1/customers/C1/recommendations?n=1", keys.read),
                _request(port, "/v1/customers/SECRET%2FSLASH-4712/consent", keys.read),
                _request(port, "/ui/customers?customer_id=SECRET-QUERY-4713", keys.read),
                _request(port, "/v1/no-route/SECRET-PATH-4714", keys.read),
                _request(port, "/static/style.css", keys.read),
            ]
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert statuses == [404, 200, 200, 303, 404, 200]
    text = log_file.read_text()
    assert "SECRET" not in text
    access = [line.split(" - ", 1)[1] for line in text.splitlines() if '" 200' in line or '" 30' in line or '" 40' in line]
    assert access[-6:] == [
        '"GET /v1/customers/{customer_id} HTTP/1.1" 404 Not Found',
        '"GET /v1/customers/{customer_id}/recommendations HTTP/1.1" 200 OK',
        '"GET /v1/customers/{customer_id}/consent HTTP/1.1" 200 OK',
        '"GET /ui/customers HTTP/1.1" 303 See Other',
        '"GET (no route) HTTP/1.1" 404 Not Found',
        '"GET /static/{path} HTTP/1.1" 200 OK',
    ]
    assert set(access[:-6]) == {'"GET /v1/health HTTP/1.1" 200 OK'}  # the readiness polls
    assert re.search(r'INFO: +127\.0\.0\.1:\d+ - "GET /v1/customers/\{customer_id\} HTTP/1\.1" 404', text)


# -- 4. ids with '/' --------------------------------------------------------------------------------------

SLASHED = ["AB/12", "X/recommendations", "C1"]


@pytest.fixture
def slashed_client(tmp_path: Path) -> tuple[TestClient, Keys, str]:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(settings.workspace, settings)
    consent = tmp_path / "consent.csv"
    consent.write_text("customer_id,purpose,status,recorded_at\nAB/12,email,revoked,2011-12-10\n")
    ingest(ws, "consent", consent)
    writer = RunStore(ws).begin(as_of="2011-12-09", parameters={})
    writer.write_table("features/customer_features.parquet", pd.DataFrame({
        "customer_id": SLASHED, "recency_days": [1.0, 2.0, 3.0], "frequency": [7, 8, 9],
    }))  # fmt: skip
    writer.stage_record("features").status = "ok"
    writer.write_table("recommendations/recommendations.parquet", pd.DataFrame({
        "customer_id": ["AB/12"], "rank": [1], "product_id": ["P/1"], "score": [0.9], "reason": ["bought before"],
    }))  # fmt: skip
    writer.write_table("recommendations/similar_products.parquet", pd.DataFrame({
        "product_id": ["P/1"], "rank": [1], "similar_product_id": ["P2"], "score": [0.5],
    }))  # fmt: skip
    writer.write_table("recommendations/popular.parquet", pd.DataFrame({"rank": [1], "product_id": ["P2"], "score": [3.0]}))
    writer.stage_record("recommendations").status = "ok"
    for stage in ("segments", "clv", "propensity", "uplift"):
        writer.skip(stage, "not requested")
    info = writer.commit()
    RunStore(ws).promote(info.run_id)
    keys = Keys(ws)
    with TestClient(create_app(settings, workspace=ws), raise_server_exceptions=False, base_url=BASE) as c:
        yield c, keys, info.run_id


def test_ids_with_a_slash_reach_every_customer_route_percent_encoded(slashed_client) -> None:
    client, keys, run_id = slashed_client
    read = Keys.header(keys.read)
    customer = client.get("/v1/customers/AB%2F12", headers=read)
    assert customer.status_code == 200, customer.text
    assert (customer.json()["customer_id"], customer.json()["features"]) == ("AB/12", {"recency_days": 1.0, "frequency": 7})
    recs = client.get("/v1/customers/AB%2F12/recommendations", headers=read).json()
    assert (recs["run_id"], recs["customer_id"], recs["source"]) == (run_id, "AB/12", "personal")
    assert recs["items"] == [{"rank": 1, "product_id": "P/1", "name": None, "score": 0.9, "reason": "bought before"}]
    consent = client.get("/v1/customers/AB%2F12/consent", headers=read).json()
    assert consent["customer_id"] == "AB/12" and consent["status"]["email"] == "revoked"
    # no ambiguity: the customer "X/recommendations" is a customer, not X's recommendations
    other = client.get("/v1/customers/X%2Frecommendations", headers=read).json()
    assert (other["customer_id"], other["features"]["frequency"]) == ("X/recommendations", 8)
    similar = client.get("/v1/products/P%2F1/similar", headers=read).json()
    assert (similar["product_id"], [i["product_id"] for i in similar["items"]]) == ("P/1", ["P2"])
    # a literal '/' is a path separator: the id must be encoded
    assert client.get("/v1/customers/AB/12", headers=read).json()["error"]["code"] == "not_found"
    assert client.get("/v1/customers/AB/12", headers=read).json()["error"]["message"] == "no route /v1/customers/AB/12"
    # audited as the pseudonym of the decoded id
    state = client.app.state.service
    subjects = [e.subject for e in state.audit.query(action="get_customer")[1]]
    assert f"customer:{state.audit.pseudonym('AB/12')}" in subjects
    # and erased through the same route
    erased = client.delete("/v1/customers/AB%2F12", headers=Keys.header(keys.admin))
    assert erased.status_code == 200, erased.text
    assert client.get("/v1/customers/AB%2F12", headers=read).status_code == 404
    assert client.get("/v1/customers/C1", headers=read).json()["customer_id"] == "C1"


# -- 5. the OpenAPI document says what validation does ----------------------------------------------------


def test_405_allow_lists_exactly_the_methods_of_the_path(client: TestClient, keys: Keys) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert len(paths) >= 15
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "C1", template.replace("{audience_id}", "lapsed-v1"))
        expected = {m.upper() for m in operations}  # FastAPI's GET routes do not answer HEAD, so Allow omits it
        for method in ("OPTIONS", "PATCH", "PUT"):
            response = client.request(method, path, headers=Keys.header(keys.admin))
            assert response.status_code == 405, (method, template)
            allow = response.headers["allow"].split(", ")
            assert set(allow) == expected and len(allow) == len(expected), (method, template, allow)
            assert response.json()["error"]["details"] == {"allowed": allow}
    assert client.options("/v1/customers/C1").headers["allow"] == "GET, DELETE"  # two routes: Starlette said "GET"
    assert client.put("/v1/audiences").headers["allow"] == "GET, POST"
    assert client.head("/v1/health").headers["allow"] == "GET"
    # "preview" is no audience id (ids are <slug>-v<N>): GET there is no lookup of an audience "preview"
    assert client.get("/v1/audiences/preview", headers=Keys.header(keys.read)).headers["allow"] == "POST"


LINE = {"customer_id": "C1", "order_id": "O-1", "ordered_at": "2011-12-09 12:50:00", "product_id": "P1",
        "quantity": 1, "unit_price": 2.5}  # fmt: skip
# requests refused for a null, empty or blank value: now at the edge, as request validation of a declared rule
REFUSED = [
    ("/v1/events", {"transactions": [LINE | {"quantity": ""}]}, "body.transactions.0.quantity.constrained-str"),
    ("/v1/events", {"transactions": [LINE | {"unit_price": " "}]}, "body.transactions.0.unit_price.constrained-str"),
    ("/v1/events", {"transactions": [LINE | {"order_id": ""}]}, "body.transactions.0.order_id.constrained-str"),
    ("/v1/events", {"transactions": [LINE | {"product_id": "  "}]}, "body.transactions.0.product_id.constrained-str"),
    ("/v1/events", {"transactions": [LINE | {"ordered_at": ""}]}, "body.transactions.0.ordered_at"),
    ("/v1/audiences/preview", {"conditions": [{"field": "clv", "op": ">=", "value": None}]}, "body.conditions.0.value.str"),
    ("/v1/audiences/preview", {"conditions": [{"field": "clv", "op": ">=", "value": True}]}, "body.conditions.0.value.str"),
    ("/v1/audiences/preview", {"conditions": [{"field": "cluster_name", "op": "in", "value": []}]},
     "body.conditions.0.value.list[union[str,int,float]]"),
    ("/v1/audiences", {"name": "!!!", "conditions": []}, "body.name"),
    ("/v1/campaigns/plan", {"contact_cost": 0.1, "value_per_conversion": 10, "audience_id": ""}, "body.audience_id"),
    ("/v1/consent", {"customer_id": " ", "purpose": "email", "status": "granted"}, "body.customer_id"),
]


def test_null_and_empty_values_are_refused_by_declared_rules(client: TestClient, keys: Keys,
                                                              service_ws: Workspace) -> None:  # fmt: skip
    for path, body, where in REFUSED:
        response = client.post(path, json=body, headers=Keys.header(keys.write))
        assert response.status_code == 422, (path, body)
        error = response.json()["error"]
        assert error["code"] == "validation_error", (path, body, error)
        assert error["message"].startswith(f"invalid request: {where}: "), (path, error["message"])
    assert AudienceStore(service_ws).list() == []
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    non_blank = {"type": "string", "minLength": 1, "pattern": "\\S"}
    event = schemas["EventIn"]["properties"]
    assert event["quantity"]["anyOf"] == event["unit_price"]["anyOf"] == [{"type": "integer"}, {"type": "number"}, non_blank]
    assert event["order_id"]["anyOf"] == event["product_id"]["anyOf"] == [non_blank, {"type": "integer"}]
    assert {k: event["ordered_at"][k] for k in non_blank} == non_blank
    value = schemas["ConditionIn"]["properties"]["value"]["anyOf"]
    assert {"type": "null"} not in value and {"type": "boolean"} not in value
    assert value[3] == {"type": "array", "minItems": 1, "maxItems": 1000,
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}]}}  # fmt: skip
    assert schemas["AudienceCreate"]["properties"]["name"]["pattern"] == "[A-Za-z0-9]"
    assert schemas["PlanRequest"]["properties"]["audience_id"]["anyOf"][0]["minLength"] == 1
    assert {k: schemas["ConsentCreate"]["properties"]["customer_id"][k] for k in non_blank} == non_blank


def test_a_query_parameter_given_twice_is_refused(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/customers/C1/recommendations?n=1&n=2", headers=Keys.header(keys.read))
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "invalid request: query.n: given more than once; give it once"
    assert json.loads(response.text)["error"]["details"]["errors"][0]["type"] == "repeated_parameter"
