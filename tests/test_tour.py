"""docs/tour.md, walked in a real headless Chromium on the bundled Online Retail demo.

Each step of the tour is a page a new user opens after `make demo` and `targetwise serve`; the test
checks that the page shows what the tour says it shows, and takes its screenshot. The screenshots in
``docs/tour/`` are the ones this test wrote: run it with ``TARGETWISE_UPDATE_TOUR=1`` to refresh them
(otherwise they go to a temporary folder), and a check keeps the tour's text and its pictures in step.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_fixtures import CHROMIUM, FLAGS, copy_workspace, serving
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour.md"
SHOTS = ROOT / "docs" / "tour"
MAX_SHOT_BYTES = 120_000  # committed pictures stay small

#: (screenshot, path, text the page must show) in the order of the tour
STEPS = [
    ("01-overview.png", "/ui/", ("net revenue", "£", "total CLV")),
    ("02-segments.png", "/ui/segments", ("Behavioural clusters", "RFM segments", "Champions")),
    ("03-customer.png", "/ui/customers?customer_id=12347", ("Customer 12347", "Customer lifetime value",
                                                             "Recommended products")),
    ("05-campaigns.png", "/ui/campaigns", ("No uplift model: no incremental effect can be planned",)),
]


def test_the_tour_names_each_screenshot_and_each_exists() -> None:
    text = TOUR.read_text(encoding="utf-8")
    named = re.findall(r"\(tour/([\w.-]+\.png)\)", text)
    expected = sorted([s for s, _, _ in STEPS] + ["04-audience.png"])
    assert sorted(named) == expected
    for name in named:
        path = SHOTS / name
        assert path.exists(), f"docs/tour/{name} missing: run TARGETWISE_UPDATE_TOUR=1 pytest tests/test_tour.py"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size <= MAX_SHOT_BYTES


@pytest.fixture
def served(online_retail_demo: Workspace, tmp_path: Path) -> Iterator[tuple[str, str, Workspace]]:
    ws = copy_workspace(online_retail_demo, tmp_path)
    _, token = KeyStore(ws).create(scope="write", name="tour")
    with serving(ws) as server:
        yield server, token, ws


def test_walk_the_tour_and_take_its_screenshots(served: tuple[str, str, Workspace], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    server, token, ws = served
    out = SHOTS if os.environ.get("TARGETWISE_UPDATE_TOUR") == "1" else tmp_path / "tour"
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_context(viewport={"width": 1100, "height": 720}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())
        page.goto(f"{server}/ui/login")
        page.fill("#api_key", token)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        for name, path, must_show in STEPS[:3]:
            _visit(page, f"{server}{path}", must_show, out / name)
        # step 4: an audience built in the browser (the builder's first condition row)
        page.goto(f"{server}/ui/audiences")
        page.fill("#name", "High value")
        page.select_option("select[name=field_1]", "clv")
        page.select_option("select[name=op_1]", ">=")
        page.fill("input[name=value_1]", "2000")
        page.click("#audience-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        body = page.inner_text("body")
        clv = RunStore(ws).active().read_table("clv/customer_clv.parquet")["clv"]
        assert f"Saved high-value-v1: {int((clv >= 2000).sum()):,} customers" in body, body[:500]
        _shoot(page, out / "04-audience.png")
        _visit(page, f"{server}{STEPS[3][1]}", STEPS[3][2], out / STEPS[3][0])
        browser.close()
    assert errors == []
    for shot in out.glob("*.png"):
        assert shot.stat().st_size <= MAX_SHOT_BYTES, f"{shot.name} is {shot.stat().st_size:,} bytes"


def _visit(page, url: str, must_show: tuple[str, ...], shot: Path) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    text = page.inner_text("body")
    for needle in must_show:
        assert needle in text, (url, needle, text[:400])
    _shoot(page, shot)


def _shoot(page, shot: Path) -> None:
    """The visible page as a 256-colour PNG (a third of the size of the browser's, and as legible)."""
    from PIL import Image

    page.screenshot(path=str(shot), full_page=False)
    with Image.open(shot) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(shot, optimize=True)
