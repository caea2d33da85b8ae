"""The attacker's view, end to end on one small workspace (issue 17).

One hand-built shop (a few CSV lines, a float64 Parquet file, a hand-written run with features,
segments and CLV, keys, two audiences, an aggregate report) is probed the way the security probe
of issue 17 did:

* erasing the short ids ``1``, ``10`` and ``00`` (which occur as Quantity, product code, order id
  and in every ``10:00`` timestamp of *other* customers) removes that customer and nothing else:
  ``keys.json``, the report and the other audience stay byte-identical, every other row stays, and
  the API key still authenticates, also after an erasure through ``DELETE /v1/customers/00``;
* a customer id ``=HYPERLINK("x")`` is written ``'=HYPERLINK("x")`` in CSV exports (library, API, UI);
* ``17850.0`` from a float64 Parquet column is the customer ``17850`` of the CSV, and an id ``NULL``
  is an anonymous line, not a customer;
* the UI refuses a cross-site form post (foreign ``Origin``/``Referer``, even with the page's token) with
  403 and saves nothing, login too; its cookie is an expiring session id, not the API key;
* every response, JSON, HTML and error alike, carries the security headers;
* an id with '/' is reachable through the API; two former tracebacks are one line on the command line.

The module's workspace is built once (about a second); each destructive test works on a copy.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from targetwise.config import get_settings
from targetwise.io.audiences import AudienceStore
from targetwise.io.erasure import erase_customer, quarantine_accounting
from targetwise.io.exports import write_table
from targetwise.io.ingest import IngestSummary, ingest
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

HOSTILE = '=HYPERLINK("x")'
SLASHED = "a/b"
# customers of the run; C1 and C2 are the "others" whose rows must survive every erasure
CUSTOMERS = ["1", "10", "00", "C1", "C2", HOSTILE, "17850", SLASHED]
SHORT_IDS = ("1", "10", "00")
HEADER = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
LINES = (
    "1,O1,2011-01-01 10:00,P1,1,2.50\n"
    "10,O2,2011-01-02 10:00,10,10,2.50\n"
    "00,O3,2011-01-03 10:00,P1,2,2.50\n"
    "C1,O4,2011-01-04 10:00,10,10,1.00\n"  # another customer's line: product "10", Quantity 10
    "C1,00,2011-01-05 10:00,P1,1,2.50\n"  # ... order id "00"
    "C2,O6,2011-01-06 10:00,1,1,2.50\n"  # ... product "1", Quantity 1
    '"=HYPERLINK(""x"")",O7,2011-01-07 10:00,P1,1,2.50\n'
    "17850,O8,2011-01-08 10:00,P1,1,2.50\n"
    "NULL,O9,2011-01-09 10:00,P1,1,2.50\n"  # no customer: an anonymous line
    "a/b,O10,2011-01-10 10:00,P1,3,2.50\n"
    "C2,O11,2011-01-11 10:00,10,10,0\n"  # quarantined (price 0): another customer's row holding 10, 10, 10:00
    "C1,O12,2011-01-12 10:00,1,1,0\n"  # quarantined: holds 1, 1
    "10,O13,2011-01-13 10:00,P1,1,0\n"  # quarantined: customer 10's own row
)
# the 'everyone' audience as a CSV download: the formula id gets its ' (and CSV quoting for its quotes)
EVERYONE_CSV = 'customer_id\n1\n10\n00\nC1\nC2\n"\'=HYPERLINK(""x"")"\n17850\na/b\n'
REPORT = (
    "<html><body><h1>Shop report</h1><p>10 customers, 1 segment, as of 2011-12-09 10:00</p></body></html>\n"
)


@dataclass
class Shop:
    root: Path
    run_id: str
    admin: str  # plaintext API keys
    write: str
    read: str
    lines: IngestSummary  # the CSV load
    floats: IngestSummary  # the float64 Parquet load


def _header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _write_run(ws: Workspace) -> str:
    n = len(CUSTOMERS)
    writer = RunStore(ws).begin(as_of="2011-12-09", parameters={"probe": True})
    writer.write_table("features/customer_features.parquet", pd.DataFrame({
        "customer_id": CUSTOMERS, "recency_days": [float(10 * i) for i in range(n)], "frequency": list(range(1, n + 1)),
        "monetary_total": [100.0 + i for i in range(n)], "monetary_mean": [50.0] * n, "tenure_days": [300.0] * n,
        "orders_90d": [1] * n, "distinct_products": [2] * n, "returns_rate": [0.0] * n, "top_category": ["home"] * n,
    }))  # fmt: skip
    writer.stage_record("features").status = "ok"
    writer.write_table("segments/customer_segments.parquet", pd.DataFrame({
        "customer_id": CUSTOMERS, "rfm_score": ["111"] * n, "rfm_segment": ["Hibernating"] * n,
        "cluster": [0] * n, "cluster_name": ["Everyone"] * n, "reason": ["bought once"] * n,
    }))  # fmt: skip
    writer.write_json("segments/profiles.json", [
        {"name": "Everyone", "cluster": 0, "size": n, "share": 1.0, "revenue_share": 1.0, "description": "all",
         "features": {"frequency": {"mean": 10.0, "median": 10.0, "overall_mean": 10.0}}},
    ])  # fmt: skip
    writer.stage_record("segments").status = "ok"
    writer.write_table("clv/customer_clv.parquet", pd.DataFrame({
        "customer_id": CUSTOMERS, "p_alive": [0.5] * n, "expected_purchases": [1.0] * n,
        "expected_spend": [10.0] * n, "clv": [float(10 + i) for i in range(n)], "clv_lower": [1.0] * n,
        "clv_upper": [100.0] * n,
    }))  # fmt: skip
    record = writer.stage_record("clv")
    record.status = "ok"
    record.params = {"horizon": 365, "time_unit": "D"}
    for stage in ("propensity", "recommendations", "uplift"):
        writer.skip(stage, "not requested")
    info = writer.commit()
    RunStore(ws).promote(info.run_id)
    return info.run_id


def _build(root: Path) -> Shop:
    settings = get_settings(workspace=root, duckdb_threads=1, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(root, settings)
    data = root.parent / "input"
    data.mkdir()
    (data / "products.csv").write_text("product_id,name\nP1,Red mug\n10,Ten pack\n1,One cup\n")
    ingest(ws, "products", data / "products.csv")
    (data / "pii.csv").write_text(
        "customer_id,email,phone\n1,one@example.com,+44 20 7031 3001\n10,ten@example.com,+44 20 7031 3010\n"
        "00,zero@example.com,\nC1,c1@example.com,+44 20 7031 3100\nC2,c2@example.com,\n"
    )
    ingest(ws, "customer_pii", data / "pii.csv")
    (data / "lines.csv").write_text(HEADER + LINES)
    lines = ingest(ws, "transactions", data / "lines.csv")
    # what pandas writes when one id is missing: a float64 column, 17850.0 and NaN
    floats = pd.DataFrame({"customer_id": [17850, None], "order_id": ["F1", "F2"],
                           "ordered_at": ["2011-02-01 10:00", "2011-02-02 10:00"], "product_id": ["P1", "P1"],
                           "quantity": [1, 1], "unit_price": [2.5, 2.5]})  # fmt: skip
    assert floats["customer_id"].dtype == "float64"
    floats.to_parquet(data / "floats.parquet", index=False)
    float_load = ingest(ws, "transactions", data / "floats.parquet")
    run_id = _write_run(ws)
    store = KeyStore(ws)
    _, admin = store.create(scope="admin", name="ops")
    _, write = store.create(scope="write", name="crm")
    _, read = store.create(scope="read", name="analyst")
    audiences = AudienceStore(ws)
    audiences.save(
        slug="everyone",
        name="everyone",
        members=CUSTOMERS,
        run_id=run_id,
        definition=[],
        excluded={},
        created_by="test",
    )
    audiences.save(
        slug="others",
        name="others",
        members=["C1", "C2"],
        run_id=run_id,
        definition=[],
        excluded={},
        created_by="test",
    )
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    (ws.reports_dir / "report.html").write_text(REPORT, encoding="utf-8")
    return Shop(root=root, run_id=run_id, admin=admin, write=write, read=read, lines=lines, floats=float_load)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return _build(tmp_path_factory.mktemp("probe") / "ws")


def _open(root: Path) -> Workspace:
    return Workspace.open(
        root, get_settings(workspace=root, duckdb_threads=1, api_rate_limit_per_minute=100_000)
    )


def _copy(shop: Shop, tmp_path: Path) -> Workspace:
    target = tmp_path / "copy"
    shutil.copytree(shop.root, target)
    return _open(target)


def _client(ws: Workspace) -> TestClient:
    return TestClient(
        create_app(ws.settings, workspace=ws), raise_server_exceptions=False, base_url="http://127.0.0.1"
    )


def _rows(ws: Workspace) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """Every table: its columns and every row as text, sorted."""
    out = {}
    with ws.connect(read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = (columns, sorted(tuple("" if v is None else str(v) for v in r) for r in rows))
    return out


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "targetwise.duckdb"}  # fmt: skip


def _fetch(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


# -- erasure of short ids ---------------------------------------------------------------------

# rows of each erased customer, per table, counted by hand from the lines above
OWN_ROWS = {
    "1": {"transactions": 1, "customer_pii": 1},
    "10": {"transactions": 1, "customer_pii": 1, "quarantine": 1},
    "00": {"transactions": 1, "customer_pii": 1},
}


@pytest.mark.parametrize("customer", SHORT_IDS)
def test_erasing_a_short_id_removes_that_customer_and_nothing_else(
    shop: Shop, tmp_path: Path, customer: str
) -> None:
    ws = _copy(shop, tmp_path)
    before, files = _rows(ws), _digests(ws.path)
    receipt = erase_customer(ws, customer, actor="probe")
    after, files_after = _rows(ws), _digests(ws.path)
    assert receipt.tables == OWN_ROWS[customer]
    for table, (columns, rows) in before.items():
        if table == "suppressions":
            continue
        if "customer_id" not in columns:
            assert after[table][1] == rows, table  # products "1" and "10", loads: untouched
            continue
        at = columns.index("customer_id")
        assert after[table][1] == [r for r in rows if r[at] != customer], table
    # the other customers' quarantined rows (Quantity 10 and 1, product "10" and "1", 10:00) are all there
    columns, quarantine = after["quarantine"]
    assert sorted(r[columns.index("customer_id")] for r in quarantine) == sorted(
        ["C1", "C2", "10"] if customer != "10" else ["C1", "C2"]
    )
    # files: keys, report, profiles and the other audience byte-identical; nothing deleted
    run = f"artifacts/runs/{shop.run_id}"
    for survivor in (
        "artifacts/keys.json",
        "artifacts/reports/report.html",
        f"{run}/segments/profiles.json",
        "artifacts/audiences/others-v1.json",
        "artifacts/audiences/others-v1.parquet",
    ):
        assert files_after[survivor] == files[survivor], survivor
    assert receipt.deleted_files == []
    assert set(files) <= set(files_after)
    assert receipt.files == {
        "artifacts/audiences/everyone-v1.parquet": 1,
        f"{run}/clv/customer_clv.parquet": 1,
        f"{run}/features/customer_features.parquet": 1,
        f"{run}/segments/customer_segments.parquet": 1,
    }
    assert AudienceStore(ws).members("everyone-v1") == [c for c in CUSTOMERS if c != customer]
    assert all(a["consistent"] for a in quarantine_accounting(ws))
    # every key still authenticates, in the library and through the API
    assert KeyStore(ws).verify(shop.admin).scope == "admin"
    with _client(ws) as client:
        assert client.get("/v1/customers/C1", headers=_header(shop.read)).json()["customer_id"] == "C1"
        assert client.get(f"/v1/customers/{customer}", headers=_header(shop.read)).status_code == 404
        assert [
            s["name"] for s in client.get("/v1/segments", headers=_header(shop.read)).json()["segments"]
        ] == ["Everyone"]


def test_erasing_00_through_the_api_does_not_lock_the_api_out(shop: Shop, tmp_path: Path) -> None:
    """The fuzzer's case: DELETE /v1/customers/00 matched ':00' in timestamps and deleted keys.json."""
    ws = _copy(shop, tmp_path)
    keys_before = (ws.artifacts / "keys.json").read_bytes()
    with _client(ws) as client:
        erased = client.delete("/v1/customers/00", headers=_header(shop.admin))
        assert erased.status_code == 200, erased.text
        assert erased.json()["tables"] == OWN_ROWS["00"]
        assert client.delete("/v1/customers/00", headers=_header(shop.admin)).status_code == 404  # gone
        for token in (shop.admin, shop.write, shop.read):
            assert client.get("/v1/customers/C1", headers=_header(token)).status_code == 200
        assert client.get("/v1/audiences/others-v1", headers=_header(shop.read)).json()["size"] == 2
    assert (ws.artifacts / "keys.json").read_bytes() == keys_before


# -- float and null-like ids --------------------------------------------------------------------


def test_a_float64_parquet_id_is_the_csv_customer_and_null_is_no_customer(shop: Shop) -> None:
    ws = _open(shop.root)
    assert _fetch(ws, "SELECT customer_id, list(order_id ORDER BY order_id) FROM transactions "
                      "WHERE customer_id LIKE '17850%' GROUP BY ALL") == [("17850", ["F1", "O8"])]  # fmt: skip
    assert _fetch(ws, "SELECT order_id FROM anonymous_transactions ORDER BY 1") == [("F2",), ("O9",)]
    assert _fetch(
        ws, "SELECT count(*) FROM transactions WHERE upper(customer_id) IN ('NULL', 'NAN', '17850.0')"
    ) == [(0,)]
    assert (shop.lines.rows_loaded, shop.lines.rows_anonymous, shop.lines.rows_quarantined) == (9, 1, 3)
    assert shop.lines.reasons == {"non_positive_price": 3}
    assert (shop.floats.rows_loaded, shop.floats.rows_anonymous, shop.floats.rows_quarantined) == (1, 1, 0)
    assert any("17850.0" in w for w in shop.floats.warnings), shop.floats.warnings
    assert _fetch(ws, "SELECT count(DISTINCT customer_id) FROM transactions") == [(len(CUSTOMERS),)]


# -- CSV formula injection ------------------------------------------------------------------------


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_formula_id_is_escaped_in_a_library_csv_export(shop: Shop, tmp_path: Path) -> None:
    ws = _open(shop.root)
    clv = RunStore(ws).get(shop.run_id).read_table("clv/customer_clv.parquet")[["customer_id", "clv"]]
    path = write_table(clv, tmp_path / "clv.csv")
    text = path.read_text(encoding="utf-8")
    assert '"\'=HYPERLINK(""x"")",15.0\n' in text  # the sixth customer, clv 10 + 5
    cells = _cells(text)
    assert [row[0] for row in cells] == [
        "customer_id",
        "1",
        "10",
        "00",
        "C1",
        "C2",
        "'" + HOSTILE,
        "17850",
        SLASHED,
    ]
    assert [row[1] for row in cells][1:] == [
        f"{10 + i:.1f}" for i in range(len(CUSTOMERS))
    ]  # numbers stay numbers


def test_a_formula_id_is_escaped_in_the_api_and_ui_csv_download(shop: Shop, tmp_path: Path) -> None:
    ws = _copy(shop, tmp_path)
    with _client(ws) as client:
        response = client.get("/v1/audiences/everyone-v1/export", params={"destination": "csv"},
                              headers=_header(shop.write))  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text == EVERYONE_CSV
        assert [row[0] for row in _cells(response.text)][6] == "'" + HOSTILE


# -- the UI: cross-site form posts ------------------------------------------------------------------

BASE = "http://127.0.0.1"  # the test client's origin
EVIL = "https://evil.example"
_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.DOTALL)
_INPUT = re.compile(r"<input\b[^>]*>")
_ATTR = re.compile(r'([a-z_-]+)="([^"]*)"')


def _hidden(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form that posts to ``action`` (a CSRF token among them)."""
    (form,) = [f for f in _FORM.findall(page) if f'action="{action}"' in f.split(">", 1)[0]]
    fields = {}
    for tag in _INPUT.findall(form):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("type") == "hidden":
            fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
    return fields


def _login(client: TestClient, key: str) -> Any:
    """Log in as a browser would: the login page's form, posted from the UI's own origin."""
    fields = _hidden(client.get("/ui/login").text, "/ui/login") | {"api_key": key, "next": "/ui/audiences"}
    response = client.post("/ui/login", data=fields, headers={"Origin": BASE}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/audiences"
    return response


def test_the_ui_cookie_holds_an_expiring_session_id_not_the_api_key(shop: Shop) -> None:
    ws = _open(shop.root)
    with _client(ws) as client:
        response = _login(client, shop.write)
        (cookie,) = response.headers.get_list("set-cookie")
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        assert shop.write not in cookie and shop.write.split("_", 2)[2] not in value  # not the key, nor its secret
        parts = [part.strip().partition("=") for part in cookie.split(";")[1:]]
        attributes = {name.lower(): setting for name, _, setting in parts}
        assert "httponly" in attributes and attributes.get("samesite", "").lower() == "strict"
        assert attributes.get("max-age") == str(12 * 3600), cookie  # default lifetime 12 h
        assert client.get("/ui/audiences").status_code == 200  # the session works


def test_a_cross_site_post_to_ui_audiences_with_a_valid_session_is_403_and_saves_nothing(
    shop: Shop, tmp_path: Path
) -> None:
    ws = _copy(shop, tmp_path)
    store = AudienceStore(ws)
    before = [r.id for r in store.list()]
    with _client(ws) as client:
        _login(client, shop.write)
        tokens = _hidden(client.get("/ui/audiences").text, "/ui/audiences")
        assert any(len(v) >= 16 for v in tokens.values()), tokens  # the form carries a per-login token
        form = tokens | {"name": "Evil twin", "field_1": "clv", "op_1": ">=", "value_1": "0"}
        # even with the page's own token: a foreign Origin, or a foreign Referer without Origin, is refused
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page.html"}, {"Origin": "null"}):
            refused = client.post("/ui/audiences", data=form, headers=headers)
            assert refused.status_code == 403, (headers, refused.status_code)
        # same origin without the token: refused too
        bare = {k: v for k, v in form.items() if k not in tokens}
        assert client.post("/ui/audiences", data=bare, headers={"Origin": BASE}).status_code == 403
        assert [r.id for r in store.list()] == before
        # the control: the same form from the UI itself is saved
        saved = client.post("/ui/audiences", data=form, headers={"Origin": BASE}, follow_redirects=False)
        assert (saved.status_code, saved.headers["location"]) == (303, "/ui/audiences"), saved.text
        shown = client.get("/ui/audiences").text
        assert 'id="created"' in shown and "evil-twin-v1" in shown  # once: a reload saves and shows nothing again
        assert 'id="created"' not in client.get("/ui/audiences").text
    assert [r.id for r in store.list()] == [*before, "evil-twin-v1"]
    assert store.get("evil-twin-v1").size == len(CUSTOMERS)


def test_a_cross_site_login_is_403_and_sets_no_cookie(shop: Shop) -> None:
    """Login CSRF: another site must not log the victim's browser in under the attacker's key."""
    ws = _open(shop.root)
    with _client(ws) as client:
        fields = _hidden(client.get("/ui/login").text, "/ui/login") | {"api_key": shop.read}
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/login.html"}):
            refused = client.post("/ui/login", data=fields, headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (headers, refused.status_code)
            assert "set-cookie" not in refused.headers
        assert not client.cookies


def test_the_ui_csv_download_escapes_a_formula_id(shop: Shop, tmp_path: Path) -> None:
    ws = _copy(shop, tmp_path)
    with _client(ws) as client:
        _login(client, shop.write)
        response = client.get("/ui/audiences/everyone-v1/export", params={"destination": "csv"})
        assert response.status_code == 200, response.text
        assert response.text == EVERYONE_CSV


# -- security headers on every response ---------------------------------------------------------------

STRICT_REFERRERS = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def _assert_security_headers(response: Any, where: str) -> None:
    headers = response.headers
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") in STRICT_REFERRERS, (where, headers.get("referrer-policy"))
    csp = headers.get("content-security-policy")
    assert csp, f"{where}: no Content-Security-Policy"
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None and "'unsafe-inline'" not in scripts and "*" not in scripts, (where, csp)


def test_security_headers_on_api_ui_and_error_responses(shop: Shop) -> None:
    ws = _open(shop.root)
    with _client(ws) as client:
        responses = {
            "API route": client.get("/v1/customers/C1", headers=_header(shop.read)),
            "health": client.get("/v1/health"),
            "UI login page": client.get("/ui/login"),
            "404 error": client.get("/v1/customers/NOPE", headers=_header(shop.read)),
            "401 error": client.get("/v1/customers/C1"),
            "unknown route": client.get("/v1/no-such-route"),
            "405 error": client.put("/v1/health"),
            "422 error": client.get("/v1/customers/C1/recommendations", params={"n": "0"}, headers=_header(shop.read)),
            "static file": client.get("/static/style.css"),
        }
        _login(client, shop.read)
        responses["UI page"] = client.get("/ui/audiences")
    expected = {"API route": 200, "health": 200, "UI login page": 200, "404 error": 404, "401 error": 401,
                "unknown route": 404, "405 error": 405, "422 error": 422, "static file": 200, "UI page": 200}  # fmt: skip
    assert {where: r.status_code for where, r in responses.items()} == expected
    for where, response in responses.items():
        _assert_security_headers(response, where)
    # the UI runs no inline script the policy would have to allow
    page = responses["UI page"].text
    assert re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>", page) == []
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/static/audience.js" defer>']


def test_an_id_with_a_slash_is_reachable_through_the_api(shop: Shop) -> None:
    ws = _open(shop.root)
    with _client(ws) as client:
        response = client.get(f"/v1/customers/{quote(SLASHED, safe='')}", headers=_header(shop.read))
        assert response.status_code == 200, response.text
        assert response.json()["customer_id"] == SLASHED


# -- the careless user's view on the command line ---------------------------------------------------


def test_epoch_and_mars_mistakes_are_one_line_on_the_command_line_with_options_intact(tmp_path: Path) -> None:
    """Two tracebacks of the probe (int64 epoch Parquet, Mars time zone) are one line; Rich keeps '[options]'."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from targetwise.cli import app

    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    epoch = tmp_path / "epoch.parquet"
    pq.write_table(pa.table({"customer_id": ["A"], "order_id": ["1"], "ordered_at": pa.array([1_300_000_000], pa.int64()),
                             "product_id": ["P1"], "quantity": [1], "unit_price": [2.5]}), epoch)  # fmt: skip
    mars = tmp_path / "mars.toml"
    mars.write_text('[options]\ntimezone = "Mars/Olympus"\n')
    lines = tmp_path / "lines.csv"
    lines.write_text(HEADER + "A,1,2011-01-01 10:00,P1,1,2.5\n")
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", "transactions", str(epoch), "--workspace", str(ws.path)])
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit)
    assert done.output.startswith(f"error: {epoch}: column 'ordered_at' holds int64 values, not timestamps")
    assert 'set date_format = "epoch_s" (seconds) or "epoch_ms" (milliseconds) under [options]' in done.output
    assert done.output.count("\n") == 1 and "Traceback" not in done.output
    done = runner.invoke(
        app, ["ingest", "transactions", str(lines), "--mapping", str(mars), "--workspace", str(ws.path)]
    )
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit)
    assert done.output == (f"error: mapping file {mars}: [options] timezone = 'Mars/Olympus' is not a known time zone. "
                           'Fix: use an IANA name such as timezone = "Europe/London" (or "UTC")\n')  # fmt: skip
    assert _fetch(ws, "SELECT count(*) FROM loads") == [(0,)]
