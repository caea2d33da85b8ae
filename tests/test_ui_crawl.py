"""Crawl the web UI in a real headless Chromium on both demos: no page answers 4xx/5xx or shows raw JSON.

Logs in, then follows every same-origin link reachable from ``/ui/``: the nav pages, every
segment (behavioural clusters and RFM segments, and their next member page), customers
linked from each page (the first few per page: the demo has thousands), the saved
audiences and the campaign planner. Downloads (audience exports, plan assignments) are
requested once each through the browser's own session rather than opened as pages: each
is a file, or a refusal the user can read (the UI's error page with its fix, never raw
JSON), e.g. a Google export of a shop without e-mail addresses;
logout is a form and is never followed. The Content-Security-Policy must block nothing.

Before issue 19 every segment page answered 500 (the template read a profile field
the run does not write), so both crawls failed on their first segment.
"""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from browser_fixtures import CHROMIUM, FLAGS, copy_workspace, serving
from targetwise.io.keys import KeyStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.runs import active_run
from targetwise.usecases.segments_browse import cluster_profiles, rfm_profiles

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CUSTOMERS_PER_PAGE = 2  # customer links followed per page (each segment page lists 50)
MAX_OFFSET = 50  # member pages followed per segment: the first and the next
RAW_ERROR_MARKS = ('{"error"', '"code":', "Traceback (most recent call last)", "Internal Server Error")


def _is_download(path: str, download: bool) -> bool:
    return download or path.endswith("/export") or path.endswith(".csv")


def _download_problem(status: int, headers: dict[str, str], body: str) -> str | None:
    """A file, or a refusal the user can read (the UI's error page with its fix, e.g. a Google export of
    customers without e-mail or phone); anything else is a problem."""
    if status == 200:
        return None if "attachment" in headers.get("content-disposition", "") else "200 without a file"
    readable = headers.get("content-type", "").startswith("text/html") and "Fix:" in body
    if 400 <= status < 500 and readable and not any(mark in body for mark in RAW_ERROR_MARKS):
        return None
    return f"HTTP {status} ({headers.get('content-type')}): {body[:200]!r}"


def crawl(server: str, token: str) -> dict[str, object]:
    """Visit every reachable UI page; returns what was visited and every problem found."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    problems: list[str] = []
    visited: dict[str, int] = {}
    downloads: dict[str, int] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())

        page.goto(f"{server}/ui/login")
        page.fill("#api_key", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/ui/")

        queue: deque[str] = deque(["/ui/"])
        seen = {"/ui/"}
        while queue:
            target = queue.popleft()
            response = page.goto(server + target)
            status = response.status if response is not None else 0
            visited[target] = status
            if status >= 400 or status == 0:
                problems.append(f"{target}: HTTP {status}")
            if urlparse(page.url).path == "/ui/login":
                problems.append(f"{target}: sent back to the login page")
            text = page.inner_text("body")
            for mark in RAW_ERROR_MARKS:
                if mark in text:
                    problems.append(f"{target}: raw error text {mark!r}")
            links = page.eval_on_selector_all(
                "a[href]", "els => els.map(e => [e.href, e.hasAttribute('download')])"
            )
            customers = 0
            for href, download in links:
                url = urlparse(href)
                if f"{url.scheme}://{url.netloc}" != server or not url.path.startswith("/ui/"):
                    continue
                if url.path == "/ui/logout":
                    continue
                relative = url.path + (f"?{url.query}" if url.query else "")
                if _is_download(url.path, download):
                    if relative not in downloads:
                        got = context.request.get(server + relative)
                        downloads[relative] = got.status
                        problem = _download_problem(got.status, got.headers, got.text())
                        if problem:
                            problems.append(f"download {relative}: {problem}")
                    continue
                query = parse_qs(url.query)
                if url.path == "/ui/customers" and "customer_id" in query:
                    customers += 1
                    if customers > CUSTOMERS_PER_PAGE:
                        continue
                if int(query.get("offset", ["0"])[0]) > MAX_OFFSET:
                    continue
                if relative not in seen:
                    seen.add(relative)
                    queue.append(relative)
        # the planner's form once, with its defaults (uplift when the run has a model, else the first
        # response score), and its assignments download once
        page.goto(f"{server}/ui/campaigns")
        with page.expect_navigation():
            page.click("#plan-form button[type=submit]")
        visited["POST /ui/campaigns"] = 200 if page.locator("#plan").count() else 0
        if not page.locator("#plan").count():
            problems.append(f"the planner's defaults made no plan: {page.inner_text('main')[:300]!r}")
        else:
            href = page.get_attribute("#download-assignments", "href") or ""
            got = context.request.get(server + href)
            downloads[href] = got.status
            problem = _download_problem(got.status, got.headers, got.text())
            if problem or got.status != 200:
                problems.append(f"download {href}: {problem}")
        browser.close()
    problems += [f"console: {m}" for m in console if "Content Security Policy" in m]
    return {"visited": visited, "downloads": downloads, "problems": problems}


def _check(ws: Workspace) -> None:
    run = active_run(ws)
    create_audience(ws, run, name="Everyone", conditions=[], created_by=None)
    _, token = KeyStore(ws).create(scope="write", name="crawler")
    with serving(ws) as server:
        found = crawl(server, token)
    visited: dict[str, int] = found["visited"]  # type: ignore[assignment]
    assert found["problems"] == [], found["problems"]
    paths = set(visited)
    assert {"/ui/", "/ui/segments", "/ui/customers", "/ui/audiences", "/ui/campaigns"} <= paths
    # every segment of the run was visited: each behavioural cluster and each RFM segment
    for profile in cluster_profiles(run) + rfm_profiles(run):
        assert f"/ui/segments/{quote(profile['name'])}" in paths, profile["name"]
    assert any(p.startswith("/ui/customers?customer_id=") for p in paths)
    assert any("/ui/audiences/everyone-v1/export" in d for d in found["downloads"])  # type: ignore[operator]
    assert visited["POST /ui/campaigns"] == 200
    assert any(d.startswith("/ui/campaigns/assignments.csv?") for d in found["downloads"])  # type: ignore[union-attr]


def test_crawl_the_online_retail_demo(online_retail_demo: Workspace, tmp_path: Path) -> None:
    _check(copy_workspace(online_retail_demo, tmp_path))


def test_crawl_the_synthetic_demo(synthetic_demo: Workspace, tmp_path: Path) -> None:
    _check(copy_workspace(synthetic_demo, tmp_path))
