"""Id-file and lookalike audiences on the web UI in a real headless Chromium (issue 22), on the synthetic demo.

A marketer uploads an id file on the audiences page (the left-out ids counted as planted), opens the
new audience from the list, previews a lookalike of it (the size curve is the use case's, row by row,
nothing saved yet) and saves it: the saved audience holds the use case's members and says where it came from.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_fixtures import CHROMIUM, FLAGS, copy_workspace, serving
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.keys import KeyStore
from targetwise.io.workspace import Workspace
from targetwise.segment.lookalike import SizePoint
from targetwise.usecases.lookalikes import lookalike_audience
from targetwise.usecases.runs import active_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED_SIZE = 30


@pytest.fixture
def served(synthetic_demo: Workspace, tmp_path: Path) -> Iterator[tuple[str, str, Workspace]]:
    ws = copy_workspace(synthetic_demo, tmp_path)
    _, token = KeyStore(ws).create(scope="write", name="marketer")
    with serving(ws) as server:
        yield server, token, ws


def _curve_rows(points: tuple[SizePoint, ...]) -> list[list[str]]:
    """The curve table as the page writes it (the template's formats)."""
    return [[f"{p.size:,}", f"{p.min_similarity:.2f}", f"{p.expected_similarity:.2f}", f"{p.spy_recall:.0%}",
             f"{p.estimated_precision:.0%}"] for p in points]


def test_upload_ids_open_the_audience_preview_and_save_a_lookalike(served: tuple[str, str, Workspace],
                                                                   tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium not installed (make test installs it)")
    server, token, ws = served
    before = {a.id for a in AudienceStore(ws).list()}  # the shared demo may hold other tests' audiences
    features = active_run(ws).table(out.FEATURES)
    heavy = features.sort_values(["monetary_total", "customer_id"], ascending=[False, True])
    seed = heavy["customer_id"].astype(str).head(SEED_SIZE).tolist()
    id_file = tmp_path / "big spenders.csv"
    id_file.write_text("\n".join(["customer_id", *seed, "NOPE-1", seed[0], ""]) + "\n", encoding="utf-8")

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

        # upload the id file on the audiences page
        page.goto(f"{server}/ui/audiences")
        page.fill("#upload-name", "Big spenders")
        page.set_input_files("#upload-file", str(id_file))
        page.click("#upload-button")
        page.wait_for_selector("#uploaded")
        uploaded = page.inner_text("#uploaded")
        assert f"Saved big-spenders-v1: {SEED_SIZE} customers of the {SEED_SIZE + 1} ids listed in big spenders.csv" \
            in uploaded
        notes = page.locator("#upload-notes li").all_inner_texts()
        assert notes[0].startswith(f"1 of {SEED_SIZE + 1} ids are not customers of run") and "'NOPE-1'" in notes[0]
        assert notes[1:] == ["1 ids were listed more than once: counted once", "1 blank lines: skipped"]
        assert AudienceStore(ws).members("big-spenders-v1") == sorted(seed)
        # post/redirect/get: the result is the saved audience's own page; reloading it uploads nothing again
        assert page.url == f"{server}/ui/audiences/big-spenders-v1"
        page.reload()
        page.wait_for_selector("#lookalike-form")
        assert page.query_selector("#uploaded") is None  # the counts are shown once
        assert {a.id for a in AudienceStore(ws).list()} == before | {"big-spenders-v1"}

        # open it from the list
        page.goto(f"{server}/ui/audiences")
        page.click("a[href='/ui/audiences/big-spenders-v1']")
        page.wait_for_selector("#lookalike-form")
        assert page.inner_text("#audience-size").startswith(f"{SEED_SIZE} customers of run")
        assert "the id file big spenders.csv (31 ids listed)" in page.inner_text("#audience-definition")

        # preview: the size curve of the use case, nothing saved
        direct = lookalike_audience(ws, active_run(ws), "big-spenders-v1", size=40)
        page.fill("#lookalike-size", "40")
        page.select_option("#lookalike-method", "pu")
        page.click("#lookalike-preview")
        page.wait_for_selector("#lookalike-curve")
        rows = [[cell.strip() for cell in row.locator("td").all_inner_texts()]
                for row in page.locator("#lookalike-curve tbody tr").all()]
        assert rows == _curve_rows(direct.curve)
        assert page.locator("#lookalike-chosen td").first.inner_text() == "40"
        assert f"40 of the {direct.candidates:,} customers outside the seed" in page.inner_text("#lookalike-summary")
        assert page.query_selector("#lookalike-saved") is None
        assert {a.id for a in AudienceStore(ws).list()} == before | {"big-spenders-v1"}
        assert page.input_value("#lookalike-size") == "40"  # the form keeps what was asked, ready to save

        # save it under a name
        page.fill("#lookalike-name", "Like big spenders")
        page.click("#lookalike-save")
        page.wait_for_selector("#lookalike-saved")
        assert "Saved like-big-spenders-v1: 40 customers like big-spenders-v1" in page.inner_text("#lookalike-saved")
        assert [[c.strip() for c in r.locator("td").all_inner_texts()]
                for r in page.locator("#lookalike-curve tbody tr").all()] == _curve_rows(direct.curve)
        assert page.url == f"{server}/ui/audiences/big-spenders-v1"  # redirected: a reload saves nothing again
        page.reload()
        page.wait_for_selector("#lookalike-form")
        assert page.query_selector("#lookalike-saved") is None
        assert {a.id for a in AudienceStore(ws).list()} == before | {"big-spenders-v1", "like-big-spenders-v1"}
        page.go_back()  # the page the save redirected to, from the browser's history: still no second save
        assert {a.id for a in AudienceStore(ws).list()} == before | {"big-spenders-v1", "like-big-spenders-v1"}
        page.goto(f"{server}/ui/audiences/like-big-spenders-v1")
        page.wait_for_selector("#audience-definition")
        assert "a lookalike of big-spenders-v1 (pu, 40 customers" in page.inner_text("#audience-definition")

        # on the lookalike's own page, a size beyond the customers outside it is refused in one line
        outside = direct.candidates + SEED_SIZE - 40  # the same customers, now without the 40 saved
        page.fill("#lookalike-size", str(outside + 1))
        page.click("#lookalike-preview")
        page.wait_for_selector("#lookalike-error")
        assert f"is outside 1 to {outside:,}" in page.inner_text("#lookalike-error")
        browser.close()
    assert problems == []
    store = AudienceStore(ws)
    assert store.members("like-big-spenders-v1") == list(direct.members)
    assert not set(direct.members) & set(seed)
