"""Erasure: after `erase_customer`, no byte of the customer's id, e-mail or phone is left anywhere.

One small synthetic shop (120 customers) in which one real customer is renamed to
ZZERASE7731 with e-mail erase.me.7731@example.org and phone +447700900731 (strings
that occur nowhere else), plus planted quarantined rows, an audience, two exports
and a report naming them. A full run is made, the customer erased once (module
fixture), and each test checks one promise on the result.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from targetwise.campaigns.audiences import export_frame
from targetwise.config import get_settings
from targetwise.errors import NotFoundError
from targetwise.io.audiences import AudienceStore
from targetwise.io.erasure import ErasureReceipt, erase_customer, erasure_log, pseudonym
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunStore, _sha256
from targetwise.io.workspace import Workspace

TARGET = "ZZERASE7731"
EMAIL = "erase.me.7731@example.org"
PHONE = "+447700900731"
TOKENS = (TARGET, EMAIL, PHONE)
TABLE_ORDER = ("products", "customers", "customer_pii", "campaigns", "campaign_exposures", "responses",
               "consent", "transactions")


@dataclass
class Erased:
    workspace: Workspace
    receipt: ErasureReceipt
    expected_rows: dict[str, int]
    found_before: dict[str, list[str]]
    run_id: str
    audience_size_before: int


def _pick_customer(retailer: object) -> str:
    """A customer with purchases, a campaign exposure, a response and profiling consent in force."""
    tx = retailer.transactions  # type: ignore[attr-defined]
    exposed = set(retailer.campaign_exposures.customer_id)  # type: ignore[attr-defined]
    responded = set(retailer.responses.customer_id)  # type: ignore[attr-defined]
    consent = retailer.consent.sort_values("recorded_at")  # type: ignore[attr-defined]
    latest = consent.groupby(["customer_id", "purpose"])["status"].last().unstack()
    ok = set(latest.index[(latest["profiling"] == "granted") & (latest["ads"] == "granted")])
    candidates = sorted(c for c in set(tx.customer_id) if c in exposed and c in responded and c in ok)
    return candidates[0]


def byte_search(root: Path, tokens: tuple[str, ...] = TOKENS) -> dict[str, list[str]]:
    """token -> files (relative) whose raw bytes, or gunzipped bytes, contain it."""
    found: dict[str, list[str]] = {t: [] for t in tokens}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        for token in tokens:
            if token.encode("utf-8") in data:
                found[token].append(path.relative_to(root).as_posix())
    return found


def _plant(retailer: object, old: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for table in TABLE_ORDER:
        frame = getattr(retailer, table).copy()
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].replace(old, TARGET)
        frames[table] = frame
    pii = frames["customer_pii"]
    pii.loc[pii.customer_id == TARGET, ["email", "phone"]] = [EMAIL, PHONE]
    # quarantined rows: a row with an empty id but the e-mail (found through its raw JSON) ...
    frames["customer_pii"] = pd.concat(
        [pii, pd.DataFrame({"customer_id": [""], "email": [EMAIL], "phone": [None], "name": ["Erase Me"]})],
        ignore_index=True,
    )
    # ... two zero-price lines and one consent row with an unknown purpose, both with the id
    tx = frames["transactions"]
    bad = tx[tx.customer_id == TARGET].head(2).copy()
    bad["unit_price"] = 0.0
    frames["transactions"] = pd.concat([tx, bad], ignore_index=True)
    consent = frames["consent"]
    odd = consent[consent.customer_id == TARGET].head(1).copy()
    odd["purpose"] = "postal"
    frames["consent"] = pd.concat([consent, odd], ignore_index=True)
    return frames


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory) -> Erased:
    from targetwise.pipeline.run import run_pipeline
    from targetwise.synthetic import generate_retailer

    root = tmp_path_factory.mktemp("erasure") / "ws"
    settings = get_settings(workspace=root, duckdb_threads=2)
    ws = Workspace.init(root, settings)
    retailer = generate_retailer(n_customers=120, random_state=0)
    frames = _plant(retailer, _pick_customer(retailer))
    summaries = {t: ingest_arrow(ws, t, source_from_frame(f, name=f"synthetic:{t}")) for t, f in frames.items()}
    # planted rejects really were quarantined, and nothing else was
    assert summaries["transactions"].reasons == {"non_positive_price": 2}
    assert summaries["consent"].reasons == {"invalid_value": 1}
    assert summaries["customer_pii"].reasons == {"missing_value": 1}
    expected = {
        "transactions": int((retailer.transactions.customer_id == _pick_customer(retailer)).sum()),
        "customers": 1,
        "customer_pii": 1,
        "campaign_exposures": int((frames["campaign_exposures"].customer_id == TARGET).sum()),
        "responses": int((frames["responses"].customer_id == TARGET).sum()),
        "consent": int((retailer.consent.customer_id == _pick_customer(retailer)).sum()),
        "quarantine": 4,
    }
    info = run_pipeline(ws, settings)
    # an audience, a customer-id export, a Google export (hashed e-mail/phone) and a report naming them
    members = sorted(info.read_table("clv/customer_clv.parquet")["customer_id"].astype(str))
    assert TARGET in members
    AudienceStore(ws).save(slug="everyone", name="everyone", members=members, run_id=info.run_id, definition=[],
                           excluded={}, created_by="test")
    export_frame(members, destination="csv").frame.to_csv(ws.exports_dir / "everyone.csv", index=False)
    with ws.connect(read_only=True) as con:
        pii = con.execute("SELECT customer_id, email, phone FROM customer_pii").df()
    google = export_frame(members, destination="google", pii=pii).frame
    google.to_csv(ws.exports_dir / "everyone-google.csv.gz", index=False, compression="gzip")
    export_frame(members, destination="meta", pii=pii).frame.to_csv(ws.exports_dir / "everyone-meta.csv", index=False)
    (ws.reports_dir / "top-customers.html").write_text(
        f'<table><tr><td data-customer-id="{TARGET}">{TARGET}</td></tr></table>', encoding="utf-8"
    )
    found_before = byte_search(ws.path)
    receipt = erase_customer(ws, TARGET, actor="test-suite")
    return Erased(ws, receipt, expected, found_before, info.run_id, len(members))


@pytest.mark.slow  # builds the module's shop and runs the full pipeline (~12 s on 2 cores)
def test_byte_search_finds_planted_strings_before_erasure(erased: Erased) -> None:
    # the search is able to see them: otherwise an empty result afterwards would prove nothing
    before = erased.found_before
    assert "artifacts/reports/top-customers.html" in before[TARGET]
    assert "artifacts/exports/everyone.csv" in before[TARGET]
    # all three are in the database file's bytes (DuckDB keeps them there even after DELETE + CHECKPOINT)
    assert all("targetwise.duckdb" in before[token] for token in TOKENS)
    assert any(p.startswith("artifacts/runs/") and p.endswith(".parquet") for p in before[TARGET])


def test_no_byte_of_id_email_or_phone_remains_anywhere(erased: Erased) -> None:
    assert byte_search(erased.workspace.path) == {t: [] for t in TOKENS}
    assert not (erased.workspace.path / "targetwise.duckdb.wal").exists()
    leftovers = [p.name for p in erased.workspace.path.iterdir() if "erasing" in p.name]
    assert leftovers == []


def test_reading_every_table_and_file_finds_nothing(erased: Erased) -> None:
    ws = erased.workspace
    with ws.connect(read_only=True) as con:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for table in tables:
            columns = [c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()]
            for token in TOKENS:
                hits = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE '
                    + " OR ".join(f'contains(CAST("{c}" AS VARCHAR), ?)' for c in columns),
                    [token] * len(columns),
                ).fetchone()[0]
                assert hits == 0, (table, token)
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 119
    for path in ws.artifacts.rglob("*.parquet"):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            assert not frame[column].astype(str).isin(TOKENS).any(), (path, column)
    exported = pd.read_csv(ws.exports_dir / "everyone.csv", dtype=str)
    assert len(exported) == erased.audience_size_before - 1


def test_receipt_counts_match_the_planted_data(erased: Erased) -> None:
    receipt = erased.receipt
    assert receipt.tables == erased.expected_rows
    run = f"artifacts/runs/{erased.run_id}"
    for output in ("features/customer_features.parquet", "segments/customer_segments.parquet",
                   "clv/customer_clv.parquet", "propensity/scores.parquet", "uplift/uplift.parquet"):
        assert receipt.files[f"{run}/{output}"] == 1, output
    assert receipt.files[f"{run}/recommendations/recommendations.parquet"] == 10  # 10 per customer
    assert receipt.files["artifacts/audiences/everyone-v1.parquet"] == 1
    assert receipt.files["artifacts/exports/everyone.csv"] == 1
    assert receipt.files["artifacts/exports/everyone-google.csv.gz"] == 1  # Google's Email/Phone columns
    assert receipt.files["artifacts/exports/everyone-meta.csv"] == 1  # Meta's email/phone columns hold hashes
    assert receipt.deleted_files == ["artifacts/reports/top-customers.html"]
    assert receipt.runs_rewritten == [erased.run_id]
    assert receipt.actor == "test-suite"
    assert receipt.subject == pseudonym(erased.workspace, TARGET)


def test_manifest_hashes_match_rewritten_files_and_record_the_erasure(erased: Erased) -> None:
    info = RunStore(erased.workspace).get(erased.run_id)
    for relative, digest in info.manifest["files"].items():
        assert _sha256(info.path / relative) == digest, relative
    (entry,) = info.manifest["erasures"]
    assert entry["subject"] == erased.receipt.subject
    assert entry["rows_removed"]["clv/customer_clv.parquet"] == 1
    record = AudienceStore(erased.workspace).get("everyone-v1")
    assert record.size == erased.audience_size_before - 1 == len(AudienceStore(erased.workspace).members("everyone-v1"))
    # the run is still readable: the rewritten files keep their schema
    scores = info.read_table("clv/customer_clv.parquet")
    assert list(scores.columns) == pq.read_schema(info.path / "clv/customer_clv.parquet").names


def test_erasure_log_has_counts_and_no_personal_data(erased: Erased) -> None:
    (entry,) = erasure_log(erased.workspace)
    assert entry["subject"] == erased.receipt.subject
    assert entry["tables"] == erased.expected_rows
    assert entry["rows_removed"] == erased.receipt.rows_removed
    text = json.dumps(entry)
    assert not any(t in text for t in TOKENS)


def test_erasing_again_or_an_unknown_customer_is_not_found(erased: Erased) -> None:
    with pytest.raises(NotFoundError, match="is not in this workspace"):
        erase_customer(erased.workspace, TARGET, actor="test-suite")
    with pytest.raises(NotFoundError, match="is not in this workspace"):
        erase_customer(erased.workspace, "NOBODY-0000", actor="test-suite")
    assert len(erasure_log(erased.workspace)) == 1


def test_an_interrupted_erasure_is_finished_by_running_it_again(workspace: Workspace, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import targetwise.io.erasure as erasure
    from targetwise.errors import WorkspaceError
    from targetwise.io.ingest import ingest

    lines = tmp_path / "tx.csv"
    lines.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        f"{TARGET},O1,2011-01-01 10:00:00,P1,1,2.5\n"
        "K2,O2,2011-01-02 10:00:00,P1,3,2.5\n"
    )
    ingest(workspace, "transactions", lines)
    pii = tmp_path / "pii.csv"
    pii.write_text(f"customer_id,email,phone\n{TARGET},{EMAIL},{PHONE}\nK2,k2@example.org,\n")
    ingest(workspace, "customer_pii", pii)

    def crash(con: object, fresh: Path) -> None:
        raise WorkspaceError("simulated crash before the rebuild")

    monkeypatch.setattr(erasure, "_copy_database", crash)
    with pytest.raises(WorkspaceError, match="simulated crash"):
        erase_customer(workspace, TARGET, actor="test-suite")
    # rows are deleted, but their bytes are still in the file: only the rebuild removes them
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customer_pii").fetchone() == (1,)
    assert "targetwise.duckdb" in byte_search(workspace.path)[EMAIL]
    assert erasure_log(workspace) == []
    monkeypatch.undo()
    with pytest.raises(NotFoundError, match="earlier interrupted erasure was completed"):
        erase_customer(workspace, TARGET, actor="test-suite")
    assert byte_search(workspace.path) == {t: [] for t in TOKENS}
    assert not (workspace.artifacts / "audit" / "erasure.pending").exists()
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id, email FROM customer_pii").fetchall() == [("K2", "k2@example.org")]


def test_reports_naming_a_numeric_id_are_deleted_and_lookalike_numbers_kept(workspace: Workspace,
                                                                             tmp_path: Path) -> None:
    from targetwise.io.ingest import ingest

    lines = tmp_path / "tx.csv"
    lines.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        "12347,O1,2011-01-01 10:00:00,P1,1,2.5\n"
        "123470,O2,2011-01-02 10:00:00,P1,3,2.5\n"
    )
    ingest(workspace, "transactions", lines)
    named = workspace.reports_dir / "vip.html"
    named.write_text('<td data-customer-id="12347">12347</td>', encoding="utf-8")
    lookalike = workspace.reports_dir / "summary.html"
    lookalike.write_text('<td data-customer-id="123470">123470</td><td>12347</td><td>share 0.123471</td>'
                         "<td>12347.5 GBP</td><td>x12347</td>", encoding="utf-8")
    receipt = erase_customer(workspace, "12347", actor="test-suite")
    assert receipt.tables == {"transactions": 1}
    assert receipt.deleted_files == ["artifacts/reports/vip.html"]
    assert not named.exists() and lookalike.exists()
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT customer_id FROM transactions").fetchall() == [("123470",)]
