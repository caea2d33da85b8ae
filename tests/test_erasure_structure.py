"""Erasure removes exactly one customer and nothing else, even when their id is short or common text.

A real run on a small synthetic shop whose customers include the ids ``1``, ``10``, ``00``, ``2011`` and
one equal to a product code, plus quarantined rows of *other* customers whose Quantity is 10 or 1, whose
order id is "00", whose product is "2011" or the code-like id: exactly the data an erasure by text match
destroyed (keys.json, the report, profiles, audiences and foreign quarantine rows went with it). Each id
is erased in its own copy of the workspace; every other customer's rows, every key, audience, report
and profile must survive byte-identical or, where they held the person, rewritten without them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from targetwise.config import get_settings
from targetwise.errors import ErasedError
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import consent_history, consent_status, opted_out, record_consent
from targetwise.io.erasure import erase_customer, erasure_log, quarantine_accounting
from targetwise.io.ingest import ingest_arrow
from targetwise.io.keys import KeyStore
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.schema import CONSENT_PURPOSES

SHORT_IDS = ("1", "10", "00", "2011")
TABLE_ORDER = ("products", "customers", "customer_pii", "campaigns", "campaign_exposures", "responses",
               "consent", "transactions")


@dataclass
class Shop:
    root: Path
    code_id: str  # a customer id equal to a product code
    token: str  # a valid API key
    run_id: str
    emails: dict[str, str]


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "targetwise.duckdb"
    }


def _rows(ws: Workspace) -> dict[str, list[tuple]]:
    """Every row of every table, sorted (rowid-independent), as text."""
    out: dict[str, list[tuple]] = {}
    with ws.connect(read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = sorted(tuple("" if v is None else str(v) for v in r) for r in rows)
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    from targetwise.pipeline.run import run_pipeline
    from targetwise.reports.report import render_report
    from targetwise.synthetic import generate_retailer

    root = tmp_path_factory.mktemp("structure") / "ws"
    settings = get_settings(workspace=root, duckdb_threads=2)
    ws = Workspace.init(root, settings)
    retailer = generate_retailer(n_customers=120, random_state=0)
    product_code = sorted(retailer.products.product_id)[3]
    buyers = retailer.transactions.groupby("customer_id").size()
    latest = retailer.consent.sort_values("recorded_at").groupby(["customer_id", "purpose"])["status"].last().unstack()
    profiled = set(latest.index[latest["profiling"] == "granted"]) | (set(buyers.index) - set(latest.index))
    chosen = [c for c in buyers[buyers >= 3].index if c in profiled][:5]  # in every model's output
    renames = dict(zip(chosen, [*SHORT_IDS, product_code], strict=True))
    frames = {}
    for table in TABLE_ORDER:
        frame = getattr(retailer, table).copy()
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].replace(renames)
        frames[table] = frame
    # quarantined rows of *other* customers whose fields equal the short ids as text
    tx = frames["transactions"]
    others = tx[~tx.customer_id.isin(renames.values())].head(5).copy()
    others["unit_price"] = 0.0  # non_positive_price: quarantined
    others["quantity"] = [10, 1, 10, 1, 10]
    others.iloc[0, others.columns.get_loc("order_id")] = "00"
    others.iloc[1, others.columns.get_loc("product_id")] = "2011"
    others.iloc[2, others.columns.get_loc("product_id")] = product_code
    # and two quarantined rows that *are* customer 10's (own customer_id column) ...
    mine = tx[tx.customer_id == "10"].head(2).copy()
    mine["unit_price"] = 0.0
    frames["transactions"] = pd.concat([tx, others, mine], ignore_index=True)
    # ... and a rejected PII row with no id but customer 10's e-mail, written differently
    pii = frames["customer_pii"]
    emails = dict(zip(pii.customer_id, pii.email, strict=True))
    frames["customer_pii"] = pd.concat(
        [pii, pd.DataFrame({"customer_id": [""], "email": [f"  {emails['10'].upper()} "], "phone": [None],
                            "name": ["Ten"]})],
        ignore_index=True,
    )
    for table in TABLE_ORDER:
        ingest_arrow(ws, table, source_from_frame(frames[table], name=f"synthetic:{table}"))
    info = run_pipeline(ws, settings)
    from targetwise.io.runs import RunStore

    RunStore(ws).promote(info.run_id)
    members = sorted(info.read_table("clv/customer_clv.parquet")["customer_id"].astype(str))
    store = AudienceStore(ws)
    store.save(slug="everyone", name="everyone", members=members, run_id=info.run_id, definition=[],
               excluded={}, created_by="test")
    store.save(slug="others", name="others", members=[m for m in members if m not in renames.values()][:20],
               run_id=info.run_id, definition=[{"field": "clv", "op": ">=", "value": 10}], excluded={},
               created_by="test")
    (ws.reports_dir / "report.html").write_text(render_report(ws, RunStore(ws).get(info.run_id)), encoding="utf-8")
    _, token = KeyStore(ws).create(scope="write", name="admin")
    return Shop(root=root, code_id=product_code, token=token, run_id=info.run_id, emails=emails)


def _fetch(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def _copy(shop: Shop, tmp_path: Path) -> Workspace:
    target = tmp_path / "copy"
    shutil.copytree(shop.root, target)
    return Workspace.open(target, get_settings(workspace=target, duckdb_threads=2))


@pytest.mark.slow  # the module's shop: a full run (~15 s on 2 cores), then one erasure per id
@pytest.mark.parametrize("which", [*SHORT_IDS, "product-code"])
def test_erasing_a_short_or_code_like_id_removes_that_customer_and_nobody_else(
    shop: Shop, tmp_path: Path, which: str
) -> None:
    customer = shop.code_id if which == "product-code" else which
    ws = _copy(shop, tmp_path)
    before_rows = _rows(ws)
    before_files = _digests(ws.path)
    receipt = erase_customer(ws, customer, actor="test")
    after_rows = _rows(ws)
    # every table: exactly the customer's rows are gone (by their own customer_id column, or, for the
    # rejected PII row of customer 10, by its e-mail field); every other row is unchanged
    with ws.connect(read_only=True) as con:
        columns = {t: [r[0] for r in con.execute(f'DESCRIBE "{t}"').fetchall()] for t in before_rows}
    for table, rows in before_rows.items():
        if table == "suppressions":
            continue
        if "customer_id" not in columns[table]:
            assert after_rows[table] == rows, table
            continue
        at = columns[table].index("customer_id")
        kept = [r for r in rows if r[at] != customer]
        if table == "quarantine" and customer == "10":
            raw_at = columns[table].index("raw")
            assert sum(shop.emails["10"].upper() in r[raw_at] for r in kept) == 1
            kept = [r for r in kept if shop.emails["10"].upper() not in r[raw_at]]
        assert after_rows[table] == kept, table
        assert not any(r[at] == customer for r in after_rows[table])
    # other customers' quarantined rows that hold "10", "1", "00", "2011" or the code as values all survive
    quarantined = {r[columns["quarantine"].index("source_row")] for r in after_rows["quarantine"]}
    assert len(after_rows["quarantine"]) == len(before_rows["quarantine"]) - (3 if customer == "10" else 0)
    assert len(quarantined) >= 5
    assert receipt.tables.get("quarantine", 0) == (3 if customer == "10" else 0)
    # files: keys, audit, manifests' neighbours, plots, profiles, report, the second audience untouched;
    # the run tables and the first audience rewritten without the customer, nothing deleted
    after_files = _digests(ws.path)
    assert receipt.deleted_files == []
    changed = {p for p in before_files if after_files.get(p) != before_files[p]}
    run = f"artifacts/runs/{shop.run_id}"
    allowed = set(receipt.files) | {f"{run}/manifest.json", "artifacts/audiences/everyone-v1.json"}
    assert changed <= allowed, sorted(changed - allowed)
    for survivor in ("artifacts/keys.json", "artifacts/reports/report.html", f"{run}/segments/profiles.json",
                     "artifacts/audiences/others-v1.json", "artifacts/audiences/others-v1.parquet"):
        assert after_files[survivor] == before_files[survivor], survivor
    assert set(before_files) <= set(after_files)  # no file deleted
    assert set(after_files) - set(before_files) <= {"artifacts/audit/erasures.jsonl", "artifacts/audit/salt"}
    assert receipt.files["artifacts/audiences/everyone-v1.parquet"] == 1
    assert receipt.files[f"{run}/clv/customer_clv.parquet"] == 1
    for relative, removed in receipt.files.items():
        frame = pq.read_table(ws.path / relative).to_pandas()
        assert customer not in set(frame["customer_id"].astype(str)), relative
        assert removed > 0
    # the key still works: the service would not lock itself out
    assert KeyStore(ws).verify(shop.token).scope == "write"
    # counts add up: loads.rows_quarantined == held + erased, per load
    accounting = quarantine_accounting(ws)
    assert all(a["consistent"] for a in accounting), accounting
    assert sum(a["erased"] for a in accounting) == receipt.tables.get("quarantine", 0)
    assert sum(a["recorded"] for a in accounting) == len(before_rows["quarantine"])


@pytest.mark.slow
def test_an_erased_person_who_comes_back_is_suppressed_until_they_consent_again(shop: Shop, tmp_path: Path) -> None:
    ws = _copy(shop, tmp_path)
    email = shop.emails["10"]
    erase_customer(ws, "10", actor="test")
    # nothing left, and the API/CLI say "erased", not "granted"
    with pytest.raises(ErasedError, match="was erased") as caught:
        consent_status(ws, "10")
    assert caught.value.code == "erased" and caught.value.http_status == 404
    with pytest.raises(ErasedError):
        consent_history(ws, "10")
    assert consent_status(ws, "NEVER-SEEN") == dict.fromkeys(CONSENT_PURPOSES, "granted")
    (entry,) = erasure_log(ws)
    assert entry["suppressed"] == 3  # the id, the e-mail and the phone
    with ws.connect(read_only=True) as con:
        subjects = con.execute("SELECT kind, subject FROM suppressions ORDER BY kind").fetchall()
    assert [k for k, _ in subjects] == ["customer_id", "email", "phone"]
    assert not any(s == "10" or email in s for _, s in subjects)
    # a new file brings them back, with an old grant from before the erasure
    old = datetime(2023, 1, 1)
    lines = pd.DataFrame({"customer_id": ["10", "K1"], "order_id": ["N1", "N2"],
                          "ordered_at": [pd.Timestamp("2023-12-30 10:00"), pd.Timestamp("2023-12-30 11:00")],
                          "product_id": [shop.code_id, shop.code_id], "quantity": [1, 2], "unit_price": [3.0, 3.0]})
    summary = ingest_arrow(ws, "transactions", source_from_frame(lines, name="new-lines"))
    assert any("erased earlier" in w and w.startswith("1 customer") for w in summary.warnings)
    grants = pd.DataFrame({"customer_id": ["10"] * 4, "purpose": list(CONSENT_PURPOSES), "status": ["granted"] * 4,
                           "recorded_at": [pd.Timestamp(old)] * 4, "source": ["crm"] * 4})
    ingest_arrow(ws, "consent", source_from_frame(grants, name="old-grants"))
    assert consent_status(ws, "10") == dict.fromkeys(CONSENT_PURPOSES, "denied")
    for purpose in CONSENT_PURPOSES:
        assert "10" in opted_out(ws, purpose)
        assert "K1" not in opted_out(ws, purpose)
    # the same person under a new id, found through the e-mail, is suppressed too
    pii = pd.DataFrame({"customer_id": ["NEW10"], "email": [email.upper()], "phone": [None], "name": ["again"]})
    ingest_arrow(ws, "customer_pii", source_from_frame(pii, name="crm-export"))
    assert "NEW10" in opted_out(ws, "email")
    # the denial is written once per erasure, not once per file
    ingest_arrow(ws, "transactions", source_from_frame(lines.assign(order_id=["N3", "N4"]), name="more-lines"))
    with ws.connect(read_only=True) as con:
        (denials,) = con.execute(
            "SELECT count(*) FROM consent WHERE customer_id = '10' AND source = 'erasure suppression'"
        ).fetchone()
    assert denials == len(CONSENT_PURPOSES)
    # a grant given after the erasure lifts the suppression for that purpose only
    (erased_at,) = {at for (at,) in _fetch(ws, "SELECT DISTINCT erased_at FROM suppressions")}
    record_consent(ws, "10", purpose="email", status="granted", source="web form",
                   recorded_at=erased_at.replace(tzinfo=UTC) + timedelta(milliseconds=1))
    assert "10" not in opted_out(ws, "email")
    assert "10" in opted_out(ws, "profiling") and "10" in opted_out(ws, "ads")


def test_salt_is_private_and_erasure_log_holds_no_id(workspace: Workspace, tmp_path: Path) -> None:
    from targetwise.io.ingest import ingest

    lines = tmp_path / "tx.csv"
    lines.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        "7,O1,2011-01-01 10:00:00,P1,1,2.5\n"
        "8,O2,2011-01-02 10:00:00,7,7,7\n"
    )
    ingest(workspace, "transactions", lines)
    receipt = erase_customer(workspace, "7", actor="test")
    assert receipt.tables == {"transactions": 1}
    salt = workspace.artifacts / "audit" / "salt"
    assert salt.stat().st_mode & 0o777 == 0o600
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id, product_id FROM transactions").fetchall() == [("8", "7")]
    entry = json.loads((workspace.artifacts / "audit" / "erasures.jsonl").read_text())
    assert entry["subject"].startswith("customer:") and len(entry["subject"]) == len("customer:") + 16


@pytest.mark.slow
def test_the_api_answers_erased_not_granted_and_keys_survive_short_id_erasures(shop: Shop, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from targetwise.service.app import create_app

    ws = _copy(shop, tmp_path)
    _, admin = KeyStore(ws).create(scope="admin", name="ops")
    auth = {"Authorization": f"Bearer {admin}"}
    app = create_app(ws.settings, workspace=ws)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        assert client.get("/v1/customers/10/consent", headers=auth).status_code == 200
        for customer in ("10", "1", "00"):
            r = client.delete(f"/v1/customers/{customer}", headers=auth)
            assert r.status_code == 200, r.text
        gone = client.get("/v1/customers/10/consent", headers=auth)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "erased"
        # every key still works, the served run still has its segments
        assert client.get("/v1/segments", headers={"Authorization": f"Bearer {shop.token}"}).status_code == 200
        other = next(c for c in pq.read_table(ws.runs_dir / shop.run_id / "clv/customer_clv.parquet")
                     .column("customer_id").to_pylist() if c not in SHORT_IDS)
        assert client.get(f"/v1/customers/{other}", headers=auth).status_code == 200


def test_a_formula_like_id_is_erased_from_an_escaped_csv_export(workspace: Workspace, tmp_path: Path) -> None:
    from targetwise.io.exports import write_table
    from targetwise.io.ingest import ingest

    evil = '=HYPERLINK("x")'
    lines = tmp_path / "tx.csv"
    lines.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        '"=HYPERLINK(""x"")",O1,2011-01-01 10:00:00,P1,1,2.5\n'
        "-5,O2,2011-01-02 10:00:00,P1,3,2.5\n"
    )
    ingest(workspace, "transactions", lines)
    export = workspace.exports_dir / "all.csv"
    write_table(pd.DataFrame({"customer_id": [evil, "-5"]}), export)
    assert pd.read_csv(export, dtype=str)["customer_id"].tolist() == [f"'{evil}", "'-5"]  # escaped on disk
    receipt = erase_customer(workspace, evil, actor="test")
    assert receipt.tables == {"transactions": 1}
    assert receipt.files == {"artifacts/exports/all.csv": 1}
    assert pd.read_csv(export, dtype=str)["customer_id"].tolist() == ["'-5"]  # the other row: still escaped
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id FROM transactions").fetchall() == [("-5",)]
