# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""The web UI in a real headless Chromium: log in, look up a customer, build an audience, download it.

Serves the app with uvicorn on 127.0.0.1 (a free port) in a background thread;
the browser talks to nothing else. Screenshots go to a pytest temp folder.
The browser also proves what a TestClient cannot: it sends the Origin header
the CSRF check needs, and it enforces the Content-Security-Policy (any
violation shows up as a console message, and none may).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_fixtures import CHROMIUM, FLAGS, serving
from service_fixtures import Keys, keys, run_a, service_ws  # noqa: F401
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture
def server(service_ws: Workspace, run_a: RunInfo) -> Iterator[str]:
    with serving(service_ws) as url:
        yield url


def test_login_lookup_build_audience_and_export(server: str, keys: Keys, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        # only loopback traffic
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())

        page.goto(f"{server}/ui/customers")
        assert page.url.startswith(f"{server}/ui/login")  # not logged in: redirected
        page.fill("#api_key", "tw_00000000_wrong")
        page.click("button[type=submit]")
        assert "not valid" in page.inner_text("[role=alert]")
        page.fill("#api_key", keys.write)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/ui/customers")
        (cookie,) = context.cookies()
        assert cookie["name"] == "targetwise_session" and cookie["path"] == "/ui"
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain http here
        assert keys.write.split("_", 2)[2] not in cookie["value"]  # a session id, not the key (the secret may hold "_")

        page.fill("#customer_id", "C1")
        page.click("form.inline button")
        page.wait_for_selector("#customer")
        text = page.inner_text("#customer")
        assert "Big spenders" in text and "bought 12 times, last 3 days ago" in text
        assert "£380.00" in text and "between £300.00 and £460.00" in text and "bought 3 days ago" in text
        recs = page.inner_text("#recommendations")
        assert "Blue plate" in recs and "bought with P1" in recs
        page.screenshot(path=str(shots / "customer.png"), full_page=True)

        page.goto(f"{server}/ui/")
        assert "4" in page.inner_text(".kpis") and "Big spenders" in page.inner_text("table")
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        page.goto(f"{server}/ui/audiences")
        page.fill("#name", "Lapsed from UI")
        page.select_option("select[name=field_1]", "cluster_name")
        page.select_option("select[name=op_1]", "==")
        page.fill("input[name=value_1]", "Lapsed")
        # live size (JavaScript): C2 and C4 are Lapsed, C4 objected to profiling
        page.wait_for_function("() => document.getElementById('live-size').textContent.startsWith('1 customers')")
        assert "1 left out" in page.inner_text("#live-size")
        page.click("#audience-form button[type=submit]")
        page.wait_for_selector("#created")
        assert "lapsed-from-ui-v1" in page.inner_text("#created")
        page.screenshot(path=str(shots / "audience.png"), full_page=True)
        with page.expect_download() as download_info:
            page.click("#export-csv")
        download = download_info.value
        assert download.suggested_filename == "lapsed-from-ui-v1-csv.csv"
        saved = shots / download.suggested_filename
        download.save_as(str(saved))
        assert saved.read_text() == "customer_id\nC2\n"

        # logging out ends the session on the server: the old cookie no longer opens a page
        page.goto(f"{server}/ui/")
        page.click("form.logout button")
        page.wait_for_url(f"{server}/ui/login")
        context.add_cookies([cookie])
        page.goto(f"{server}/ui/audiences")
        assert page.url.startswith(f"{server}/ui/login")
        browser.close()
    assert [m for m in console if "Content Security Policy" in m] == []
    assert {p.name for p in shots.glob("*.png")} == {"customer.png", "overview.png", "audience.png"}
    print(f"screenshots in {shots}")


def test_read_pages_work_without_javascript(server: str, keys: Keys) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{server}/ui/login")
        page.fill("#api_key", keys.read)
        page.click("button[type=submit]")
        page.goto(f"{server}/ui/segments/Lapsed")
        assert "C2" in page.inner_text("main") and "no order for 200 days" in page.inner_text("main")
        # an RFM segment has a page too (issue 19), with its profile against all customers
        page.goto(f"{server}/ui/segments/Champions")
        assert "RFM segment" in page.inner_text("main") and page.inner_text("#members").count("Big spenders") == 2
        frequency = next(r for r in page.inner_text("#profile").splitlines() if r.startswith("Orders"))
        assert frequency.split("\t") == ["Orders", "8.50", "8.50", "2.43×"]  # 8.5 / median 3.5 of all four
        page.goto(f"{server}/ui/segments")
        assert "Champions" in page.inner_text("#rfm-segments") and "Big spenders" in page.inner_text("#clusters")
        top_row = page.inner_text("#rfm-grid tbody tr:first-child").split("\t")
        assert [cell.split("\n")[0] for cell in top_row] == ["5", "0", "0", "0", "1", "1"]  # 544 and 555
        assert "no earlier run with segments" in page.inner_text("#moves-rfm")
        page.goto(f"{server}/ui/customers?customer_id=C3")
        assert "Big spenders" in page.inner_text("#customer")
        # a read key may look but not save: the form post answers a readable 403 page
        page.goto(f"{server}/ui/audiences")
        page.fill("#name", "nope")
        page.click("#audience-form button[type=submit]")
        assert "needs 'write'" in page.inner_text("main")
        browser.close()


def test_the_browser_enforces_the_policy_and_the_docs_inline_script_is_hashed(server: str, keys: Keys) -> None:
    """The UI policy blocks an injected inline script; /docs runs its own inline script (allowed by hash) and the
    Swagger UI assets the app serves, with no CDN."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        console: list[str] = []
        errors: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())

        page.goto(f"{server}/ui/login")
        injected = page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
            " document.head.appendChild(s); return window.injected === 1; }"
        )
        assert injected is False
        assert any("Content Security Policy" in m and "blocked" in m for m in console), console

        console.clear()
        page.goto(f"{server}/docs")
        # the Swagger UI bundle is served by the app itself (offline): the hashed inline script runs it and
        # it renders the API's operations; nothing is refused by the policy and no script fails
        page.wait_for_selector(".opblock-summary-path", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/v1/customers/{customer_id}" in p.replace("\u200b", "") for p in paths), paths[:5]
        assert errors == []
        assert [m for m in console if "Content Security Policy" in m] == []
        browser.close()
