"""The audience builder's text box in a real headless Chromium, on the bundled Online Retail demo, no endpoint.

Done when a marketer can type "champions and loyal customers who have not ordered in 60
days and are worth over 500", see the conditions and the live size, and save it (issue 21).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_fixtures import CHROMIUM, FLAGS, copy_workspace, serving
from targetwise.assist.golden import canonical
from targetwise.io.audiences import AudienceStore
from targetwise.io.keys import KeyStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.assist import draft_audience
from targetwise.usecases.runs import active_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "champions and loyal customers who have not ordered in 60 days and are worth over 500"


@pytest.fixture
def served(online_retail_demo: Workspace, tmp_path: Path) -> Iterator[tuple[str, str, Workspace]]:
    ws = copy_workspace(online_retail_demo, tmp_path)
    _, token = KeyStore(ws).create(scope="write", name="marketer")
    with serving(ws) as server:
        yield server, token, ws


def test_type_a_sentence_see_the_conditions_and_live_size_and_save(served: tuple[str, str, Workspace]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    server, token, ws = served
    expected = draft_audience(ws, active_run(ws), TEXT)
    frame = active_run(ws).audience_frame()
    by_hand = int((frame["rfm_segment"].isin(["Champions", "Loyal"]) & (frame["recency_days"] >= 60)
                   & (frame["clv"] > 500)).sum())
    assert expected.size == by_hand > 0
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())
        page.goto(f"{server}/ui/login")
        page.fill("#api_key", token)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        page.goto(f"{server}/ui/audiences")
        page.fill("#audience-text", TEXT)
        page.click("#draft-button")
        page.wait_for_selector("#draft-explanation li")
        rows = [(page.input_value(f"select[name=field_{i}]"), page.input_value(f"select[name=op_{i}]"),
                 page.input_value(f"input[name=value_{i}]")) for i in range(1, 6)]
        assert rows[:3] == [("rfm_segment", "in", "Champions,Loyal"), ("recency_days", ">=", "60"),
                            ("clv", ">", "500")]
        assert [r[0] for r in rows[3:]] == ["", ""]
        explanation = page.inner_text("#draft-explanation")
        assert "Days since the last order is at least 60 days" in explanation and "over £500" in explanation
        assert page.query_selector("#draft-unresolved") is None
        live = f"{by_hand:,} customers ("
        page.wait_for_function(f"() => document.getElementById('live-size').textContent.startsWith({live!r})")

        page.fill("#name", "Lapsed valuable loyalists")
        page.click("#audience-form button[type=submit]")
        page.wait_for_selector("#created")
        assert f"Saved lapsed-valuable-loyalists-v1: {by_hand:,} customers" in page.inner_text("#created")

        # a sentence with a part it cannot read says so, and fills only what it read
        page.fill("#audience-text", "champions in London")
        page.click("#draft-button")
        page.wait_for_selector("#draft-unresolved")
        assert "london" in page.inner_text("#draft-unresolved")
        assert page.input_value("select[name=field_1]") == "rfm_segment"
        assert page.input_value("select[name=field_2]") == ""

        # without JavaScript the form posts and the builder page comes back with the rows filled
        plain = browser.new_context(java_script_enabled=False).new_page()
        plain.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else route.abort())
        plain.goto(f"{server}/ui/login")
        plain.fill("#api_key", token)
        plain.click("button[type=submit]")
        plain.goto(f"{server}/ui/audiences")
        plain.fill("#audience-text", TEXT)
        plain.click("#draft-button")
        plain.wait_for_selector("#draft-explanation li")
        assert plain.input_value("select[name=field_1]") == "rfm_segment"
        assert plain.input_value("input[name=value_1]") == "Champions,Loyal"
        assert plain.input_value("select[name=op_3]") == ">" and plain.input_value("input[name=value_3]") == "500"
        browser.close()
    assert problems == []
    saved = AudienceStore(ws).get("lapsed-valuable-loyalists-v1")
    assert saved.size == by_hand and canonical(saved.definition) == canonical(expected.conditions)
