"""Security probe (issue 17): bad inputs, erasure of short ids, API fuzz and kills, as one bounded table.

    .venv/bin/python benchmarks/security_probe.py [--fuzz-requests 4000] [--skip-pytest]

1. **Bad inputs**: the 57 kinds of ``tests/test_reliability_bad_input.py`` (``KINDS``) plus the probe
   kinds of issue 17 (float ids, each null-like id spelling, int64 epoch Parquet with and without an
   epoch mapping, a Mars time zone, a 300-character id, PNG bytes named .csv, UTF-16 with and without
   the encoding named, formula ids, ids with '/'), each ingested into a fresh workspace that already
   holds a baseline load, and classified:

   * ``clear error``: a TargetwiseError, one line naming the file (data or mapping) with a fix,
     workspace unchanged; ``unclear error``: a TargetwiseError that misses one of those;
   * ``quarantined``: loaded, every row accounted for, the bad rows quarantined or anonymous;
   * ``loaded, warned``: loaded, nothing quarantined, a warning says what was converted;
   * ``loaded clean``: loaded, nothing to report (right for kinds that are valid input);
   * ``silent``: a kind known to be bad loaded with no quarantine, anonymous line or warning, rows not
     accounted for, or stored values wrong (the kind's own check: one customer split in two, ...);
   * ``crash``: any other exception.

2. **Erasure**: the shop of ``tests/test_erasure_structure.py`` (a real run on
   ``generate_retailer(n_customers=120, random_state=0)`` whose customers include the ids 1, 10, 00,
   2011 and a product code, other customers' quarantined rows holding those values); each id erased
   on its own copy. Counted: foreign rows lost, keys/report/profiles/audience changed, files deleted,
   whether the API key still verifies.
3. **Fuzz**: seeded random requests over every OpenAPI operation (DELETE included: real erasures) and
   the UI's forms, with hostile ids, query values and bodies, against the in-process app on a throw-away
   workspace: 5xx answers and lockouts (a valid key refused, or a key that fails afterwards). Then the
   schemathesis test file and the attacker's-view tests through pytest.
4. **Kills**: ``tests/test_reliability_crash.py -k sigkill`` through pytest (5 SIGKILLs during an
   ingest, 4 during a run), its printed outcomes parsed.

Bounded: 2-3 minutes on 2 shared cores (``--skip-pytest`` leaves out 3b and 4: about 1 minute).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from _machine import describe  # noqa: E402

from targetwise.config import get_settings  # noqa: E402
from targetwise.errors import TargetwiseError  # noqa: E402
from targetwise.io.ingest import ingest  # noqa: E402
from targetwise.io.workspace import Workspace  # noqa: E402
from test_reliability_bad_input import GOOD, HEADER, KINDS  # noqa: E402

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
TABLES = ("transactions", "anonymous_transactions", "quarantine", "loads")
OUTCOMES = ("clear error", "quarantined", "loaded, warned", "loaded clean", "silent", "unclear error", "crash")
Check = Callable[[Workspace, Path], "str | None"]


# -- 1. bad inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One input and what a correct ingest does with it."""

    build: Callable[[Path], Path]
    expected: str  # one of OUTCOMES
    bad: bool  # known to be bad input: a clean load is 'silent'
    mapping: str | None = None  # TOML text of the mapping file, if any
    check: Check | None = None  # a problem with the stored data, or None
    fix_names: str | None = None  # text the error's fix must contain


def _fetch(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _csv(text: str, *, encoding: str = "utf-8") -> Callable[[Path], Path]:
    return lambda folder: _write(folder / "input.csv", text.encode(encoding))


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _parquet(**columns: pa.Array) -> Callable[[Path], Path]:
    """A transactions Parquet file: the given columns over typed, valid defaults for the others."""

    def build(folder: Path) -> Path:
        n = len(next(iter(columns.values())))
        table = {
            "customer_id": pa.array([f"K{i}" for i in range(n)]),
            "order_id": pa.array([f"Q{i}" for i in range(n)]),
            "ordered_at": pa.array([pd.Timestamp("2011-01-02 10:00")] * n, pa.timestamp("us")),
            "product_id": pa.array(["P1"] * n),
            "quantity": pa.array([1] * n, pa.int64()),
            "unit_price": pa.array([2.5] * n),
        }
        pq.write_table(pa.table(table | columns), folder / "input.parquet")
        return folder / "input.parquet"

    return build


def _ids_are(expected: set[str], *, column: str = "customer_id") -> Check:
    def check(ws: Workspace, _path: Path) -> str | None:
        sql = f"SELECT DISTINCT {column} FROM transactions WHERE order_id NOT IN ('900', '901')"  # not the baseline
        stored = {r[0] for r in _fetch(ws, sql)}
        return None if stored == expected else f"stored {column}s {sorted(stored)}, expected {sorted(expected)}"

    return check


def _no_customer(spelling: str) -> Check:
    def check(ws: Workspace, _path: Path) -> str | None:
        (n,) = _fetch(ws, f"SELECT count(*) FROM transactions WHERE customer_id = {_lit(spelling.strip())}")[0]
        return f"{spelling!r} stored as a customer" if n else None

    return check


def _instants(expected: list[str]) -> Check:
    def check(ws: Workspace, _path: Path) -> str | None:
        sql = "SELECT ordered_at FROM transactions WHERE order_id NOT IN ('900', '901') ORDER BY order_id"
        stored = [str(r[0]) for r in _fetch(ws, sql)]
        return None if stored == expected else f"stored {stored}, expected {expected}"

    return check


def _formula_export(ws: Workspace, path: Path) -> str | None:
    """The ids are stored as given; a CSV export of them puts a ' before each formula."""
    from targetwise.io.exports import write_table

    problem = _ids_are({'=HYPERLINK("x")', "+1", "-2", "@SUM(A1)"})(ws, path)
    if problem:
        return problem
    ids = [r[0] for r in _fetch(ws, "SELECT DISTINCT customer_id FROM transactions ORDER BY 1")]
    written = write_table(pd.DataFrame({"customer_id": ids}), path.with_name("export.csv")).read_text("utf-8")
    raw = [line for line in written.splitlines()[1:] if line.lstrip('"')[:1] in "=+-@"]
    return f"formula cells written raw in a CSV export: {raw}" if raw else None


_UTF16 = HEADER + "Zoë,1,2011-01-01 10:00,P1,2,3.5\n日本,2,2011-01-02,P2,1,1.25\n"
_EPOCH = ["2001-09-09 01:46:40", "2011-03-13 07:06:40"]  # order ids Q0, Q1
_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
_FORMULAS = (HEADER + '"=HYPERLINK(""x"")",1,2020-01-01,P1,1,2\n+1,2,2020-01-01,P1,1,2\n'
             "-2,3,2020-01-01,P1,1,2\n@SUM(A1),4,2020-01-01,P1,1,2\n")  # fmt: skip
_NULL_SPELLINGS = {"NULL": "NULL", "null": "null", "None": "None", "nan": "nan", "NaN": "NaN", "N_A": "N/A",
                   "hash_N_A": "#N/A", "blank": "   "}  # fmt: skip


def _issue17_probes() -> dict[str, Probe]:
    """The probe kinds of issue 17: input, expected outcome, known bad, mapping, stored-data check."""
    epoch_s = pa.array([1_000_000_000, 1_300_000_000], pa.int64())
    epoch_ms = pa.array([1_000_000_000_000, 1_300_000_000_000], pa.int64())
    # fmt: off
    probes = {
        "float64_ids_parquet": Probe(_parquet(customer_id=pa.array([17850.0, 12346.0, 17850.0])), "loaded, warned",
                                     True, check=_ids_are({"17850", "12346"})),
        "float64_ids_with_missing": Probe(_parquet(customer_id=pa.array([17850.0, None], pa.float64())),
                                          "quarantined", True, check=_ids_are({"17850"})),
        "non_whole_float_ids": Probe(_parquet(customer_id=pa.array([17850.5, 12346.0, 1.0, 2.0])), "quarantined",
                                     True, check=_ids_are({"12346", "1", "2"})),
        "float_product_ids": Probe(_parquet(product_id=pa.array([85123.0, 22423.0])), "loaded, warned", True,
                                   check=_ids_are({"85123", "22423"}, column="product_id")),
        "epoch_int64_parquet": Probe(_parquet(ordered_at=epoch_s), "clear error", True, fix_names="epoch_s"),
        "epoch_int64_parquet_epoch_s": Probe(_parquet(ordered_at=epoch_s), "loaded clean", False,
                                             mapping='[options]\ndate_format = "epoch_s"\n', check=_instants(_EPOCH)),
        "epoch_int64_parquet_epoch_ms": Probe(_parquet(ordered_at=epoch_ms), "loaded clean", False,
                                              mapping='[options]\ndate_format = "epoch_ms"\n',
                                              check=_instants(_EPOCH)),
        "mars_timezone_mapping": Probe(_csv(HEADER + GOOD), "clear error", True,
                                       mapping='[options]\ntimezone = "Mars/Olympus"\n', fix_names="Europe/London"),
        "id_300_chars": Probe(_csv(HEADER + GOOD + "X" * 300 + ",9,2020-01-05,P1,1,2\n"), "quarantined", True,
                              check=_ids_are({"A", "B", "C"})),
        "png_named_csv": Probe(lambda folder: _write(folder / "input.csv", _PNG), "clear error", True),
        "utf16_csv_no_mapping": Probe(_csv(_UTF16, encoding="utf-16"), "clear error", True,
                                      fix_names='encoding = "utf-16"'),
        "utf16_csv_encoding_mapping": Probe(_csv(_UTF16, encoding="utf-16"), "loaded clean", False,
                                            mapping='[options]\nencoding = "utf-16"\n',
                                            check=_ids_are({"Zoë", "日本"})),
        "formula_ids": Probe(_csv(_FORMULAS), "loaded clean", False, check=_formula_export),
        "slash_ids": Probe(_csv(HEADER + "a/b,1,2020-01-01,P1,1,2\n../x,2,2020-01-01,P1,1,2\n"), "loaded clean",
                           False, check=_ids_are({"a/b", "../x"})),
    }
    # fmt: on
    for label, spelling in _NULL_SPELLINGS.items():
        build = _csv(HEADER + GOOD + f"{spelling},9,2020-01-05,P1,1,2\n")
        probes[f"null_like_id_{label}"] = Probe(build, "quarantined", True, check=_no_customer(spelling))
    return probes


def _from_kinds() -> dict[str, Probe]:
    """KINDS as probes: an error kind expects a clear error, a kind with reasons or anonymous lines quarantine."""
    probes = {}
    for name, kind in KINDS.items():
        if kind.error is not None:
            expected = "clear error"
        else:
            expected = "quarantined" if kind.reasons or kind.anonymous else "loaded clean"
        probes[name] = Probe(kind.build, expected, bad=expected != "loaded clean")
    return probes


def _counts(ws: Workspace) -> dict[str, int]:
    return {t: _fetch(ws, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def _judge_error(
    exc: TargetwiseError, probe: Probe, path: Path, mapping: Path | None, *, changed: bool
) -> tuple[str, str]:
    message, fix = str(exc), exc.fix or ""
    missing = []
    if str(path) not in message and (mapping is None or str(mapping) not in message):
        missing.append("does not name the file")
    if not fix or (probe.fix_names and probe.fix_names not in fix):
        missing.append("no fix" + (f" naming {probe.fix_names!r}" if probe.fix_names else ""))
    if "\n" in message:
        missing.append("more than one line")
    if changed:
        missing.append("workspace changed")
    short = message.replace(str(path), "<file>").replace(str(mapping), "<mapping>")[:90]
    if missing:
        return "unclear error", "; ".join(missing) + ": " + short
    return "clear error", f"{type(exc).__name__}: {short}"


def classify(probe: Probe, folder: Path) -> tuple[str, str]:
    """Ingest the probe's input into a fresh workspace holding a baseline load; (outcome, detail)."""
    settings = get_settings(workspace=folder / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    baseline = HEADER + "BASE,900,2019-05-01,P9,1,9.99\nBASE,901,2019-05-02,P9,2,9.99\n"
    ingest(ws, "transactions", _write(folder / "baseline.csv", baseline.encode()))
    (folder / "data").mkdir()
    path = probe.build(folder / "data")
    mapping = None if probe.mapping is None else _write(folder / "mapping.toml", probe.mapping.encode())
    before = _counts(ws)
    try:
        summary = ingest(ws, "transactions", path, mapping=mapping)
    except TargetwiseError as exc:
        return _judge_error(exc, probe, path, mapping, changed=_counts(ws) != before)
    except Exception as exc:  # a crash is what this counts
        return "crash", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:100]}"
    after = _counts(ws)
    grew = {t: after[t] - before[t] for t in TABLES}
    counts = f"{summary.rows_loaded} loaded, {summary.rows_anonymous} anonymous, {summary.rows_quarantined} quarantined"
    if summary.rows_read != summary.rows_loaded + summary.rows_anonymous + summary.rows_quarantined or (
        grew["transactions"], grew["anonymous_transactions"], grew["quarantine"]
    ) != (summary.rows_loaded, summary.rows_anonymous, summary.rows_quarantined):
        return "silent", f"rows not accounted for: read {summary.rows_read}, {counts}, tables grew {grew}"
    problem = probe.check(ws, path) if probe.check else None
    if problem:
        return "silent", problem
    if summary.rows_quarantined or summary.rows_anonymous:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.reasons.items()))
        return "quarantined", counts + (f" ({reasons})" if reasons else "")
    if summary.warnings:
        return "loaded, warned", summary.warnings[0][:100]
    return ("silent" if probe.bad else "loaded clean"), counts


def bad_inputs(tmp: Path) -> list[tuple[str, str, str, str, str]]:
    """(source, kind, expected, outcome, detail) for every probe."""
    rows = []
    for source, probes in (("KINDS", _from_kinds()), ("issue 17", _issue17_probes())):
        for name, probe in sorted(probes.items()):
            folder = tmp / "bad" / name
            folder.mkdir(parents=True)
            rows.append((source, name, probe.expected, *classify(probe, folder)))
            shutil.rmtree(folder, ignore_errors=True)
    return rows


# -- 2. erasure of short ids -------------------------------------------------------------------------


@dataclass
class ErasureShop:
    root: Path
    code_id: str  # a customer id equal to a product code
    token: str
    run_id: str
    email_of_10: str


def erasure_shop(root: Path) -> ErasureShop:
    """The shop of tests/test_erasure_structure.py, built the same way."""
    from targetwise.io.audiences import AudienceStore
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.keys import KeyStore
    from targetwise.io.readers import source_from_frame
    from targetwise.io.runs import RunStore
    from targetwise.pipeline.run import run_pipeline
    from targetwise.reports.report import render_report
    from targetwise.synthetic import generate_retailer

    settings = get_settings(workspace=root, duckdb_threads=2)
    ws = Workspace.init(root, settings)
    retailer = generate_retailer(n_customers=120, random_state=0)
    product_code = sorted(retailer.products.product_id)[3]
    buyers = retailer.transactions.groupby("customer_id").size()
    consent = retailer.consent.sort_values("recorded_at")
    latest = consent.groupby(["customer_id", "purpose"])["status"].last().unstack()
    profiled = set(latest.index[latest["profiling"] == "granted"]) | (set(buyers.index) - set(latest.index))
    chosen = [c for c in buyers[buyers >= 3].index if c in profiled][:5]  # in every model's output
    renames = dict(zip(chosen, ["1", "10", "00", "2011", product_code], strict=True))
    order = ("products", "customers", "customer_pii", "campaigns", "campaign_exposures", "responses", "consent",
             "transactions")  # fmt: skip
    frames = {}
    for table in order:
        frame = getattr(retailer, table).copy()
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].replace(renames)
        frames[table] = frame
    tx = frames["transactions"]
    others = tx[~tx.customer_id.isin(renames.values())].head(5).copy()  # quarantined rows of other customers
    others["unit_price"] = 0.0
    others["quantity"] = [10, 1, 10, 1, 10]
    others.iloc[0, others.columns.get_loc("order_id")] = "00"
    others.iloc[1, others.columns.get_loc("product_id")] = "2011"
    others.iloc[2, others.columns.get_loc("product_id")] = product_code
    mine = tx[tx.customer_id == "10"].head(2).copy()
    mine["unit_price"] = 0.0
    frames["transactions"] = pd.concat([tx, others, mine], ignore_index=True)
    pii = frames["customer_pii"]
    emails = dict(zip(pii.customer_id, pii.email, strict=True))
    rejected = pd.DataFrame({"customer_id": [""], "email": [f"  {emails['10'].upper()} "], "phone": [None],
                             "name": ["Ten"]})  # fmt: skip
    frames["customer_pii"] = pd.concat([pii, rejected], ignore_index=True)
    for table in order:
        ingest_arrow(ws, table, source_from_frame(frames[table], name=f"synthetic:{table}"))
    info = run_pipeline(ws, settings)
    RunStore(ws).promote(info.run_id)
    members = sorted(info.read_table("clv/customer_clv.parquet")["customer_id"].astype(str))
    store = AudienceStore(ws)
    others_ = [m for m in members if m not in renames.values()][:20]
    for slug, who in (("everyone", members), ("others", others_)):
        store.save(slug=slug, name=slug, members=who, run_id=info.run_id, definition=[], excluded={},
                   created_by="probe")  # fmt: skip
    report = render_report(ws, RunStore(ws).get(info.run_id))
    (ws.reports_dir / "report.html").write_text(report, encoding="utf-8")
    _, token = KeyStore(ws).create(scope="admin", name="ops")
    return ErasureShop(root, code_id=product_code, token=token, run_id=info.run_id, email_of_10=emails["10"])


def _table_rows(ws: Workspace) -> dict[str, tuple[list[str], Counter]]:
    out = {}
    with ws.connect(read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = (columns, Counter(tuple("" if v is None else str(v) for v in r) for r in rows))
    return out


def _digests(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).digest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "targetwise.duckdb"}  # fmt: skip


def erasures(tmp: Path) -> tuple[list[tuple], float]:
    """One row per erased id: (id, own rows, run-file rows, foreign rows lost, protected files changed,
    files deleted, key verifies, quarantine counts add up, seconds)."""
    from targetwise.io import erasure
    from targetwise.io.keys import KeyStore

    accounting = getattr(erasure, "quarantine_accounting", None)  # absent before issue 17
    started = time.perf_counter()
    shop = erasure_shop(tmp / "erasure" / "ws")
    built = time.perf_counter() - started
    run = f"artifacts/runs/{shop.run_id}"
    protected = ("artifacts/keys.json", "artifacts/reports/report.html", f"{run}/segments/profiles.json",
                 "artifacts/audiences/others-v1.json", "artifacts/audiences/others-v1.parquet")  # fmt: skip
    rows = []
    for label, customer in (("1", "1"), ("10", "10"), ("00", "00"), ("2011", "2011"),
                            (f"product code {shop.code_id}", shop.code_id)):  # fmt: skip
        target = tmp / "erasure" / f"copy-{len(rows)}"
        shutil.copytree(shop.root, target)
        ws = Workspace.open(target, get_settings(workspace=target, duckdb_threads=2))
        before, files = _table_rows(ws), _digests(target)
        t0 = time.perf_counter()
        receipt = erasure.erase_customer(ws, customer, actor="probe")
        seconds = time.perf_counter() - t0
        after, files_after = _table_rows(ws), _digests(target)
        own = foreign = 0
        for table, (columns, counter) in before.items():
            if table == "suppressions":
                continue
            at = columns.index("customer_id") if "customer_id" in columns else None
            for row, n in (counter - after[table][1]).items():
                mine = at is not None and row[at] == customer
                if not mine and table == "quarantine" and customer == "10":  # the rejected PII row, by e-mail
                    mine = shop.email_of_10.upper() in row[columns.index("raw")].upper()
                own, foreign = (own + n, foreign) if mine else (own, foreign + n)
            foreign += sum((after[table][1] - counter).values())  # a row changed in place is lost too
        changed = sum(files_after.get(p) != files[p] for p in protected)
        deleted = len(set(files) - set(files_after))
        try:
            key_ok = KeyStore(ws).verify(shop.token).scope == "admin"
        except TargetwiseError:
            key_ok = False
        consistent = None if accounting is None else all(a["consistent"] for a in accounting(ws))
        rows.append((label, own, sum(receipt.files.values()), foreign, changed, deleted, key_ok, consistent, seconds))
        shutil.rmtree(target, ignore_errors=True)
    return rows, built


# -- 3. fuzz ----------------------------------------------------------------------------------------

HOSTILE_IDS = ["C1", "C2", "C3", "C4", "1", "10", "00", "2011", "P1", "a/b", "../../etc/passwd", '=HYPERLINK("x")',
               "NULL", "", " ", "x" * 300, "%00", "<script>alert(1)</script>", "' OR 1=1 --", "😀", "\u202e",
               "C1\n"]  # fmt: skip
HOSTILE_VALUES = ["", "0", "-1", "1e309", "NaN", "abc", "9" * 30, "true", "null", "[]", "{}", "a/b", "'", "%", "\x00"]
BODY_KEYS = ["name", "conditions", "customer_id", "purpose", "status", "source", "lines", "score", "contact_cost",
             "value_per_conversion", "budget", "holdout_fraction", "scope"]  # fmt: skip
# the UI's forms (not in the OpenAPI document)
UI_ROUTES = [("GET", "/ui/"), ("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/audiences"),
             ("POST", "/ui/audiences"), ("POST", "/ui/audiences/preview"), ("POST", "/ui/campaigns"),
             ("GET", "/ui/customers"), ("GET", "/ui/segments/{id}"), ("GET", "/ui/audiences/{id}/export"),
             ("POST", "/ui/logout")]  # fmt: skip


def _random_body(rng: random.Random) -> Any:
    values: list[Any] = [1, -1, 0.5, "Lapsed", None, [], ["C1", "C2"], 1e308, "x" * 500, {"a": 1}, True]
    if rng.random() < 0.2:
        return rng.choice([None, [], "text", 1, {"unexpected": True}])
    body: dict[str, Any] = {}
    for key in rng.sample(BODY_KEYS, k=rng.randint(0, 6)):
        if key == "conditions":
            body[key] = [{"field": rng.choice(["clv", "cluster_name", "p_alive", "customer_id", "nope", ""]),
                          "op": rng.choice(["==", "!=", ">", ">=", "<", "in", "like", ""]),
                          "value": rng.choice(values)} for _ in range(rng.randint(0, 3))]  # fmt: skip
        elif key == "lines":
            body[key] = [{"customer_id": rng.choice(HOSTILE_IDS), "order_id": rng.choice(HOSTILE_VALUES),
                          "ordered_at": rng.choice(["2011-01-01T10:00:00", "soon", ""]), "product_id": "P1",
                          "quantity": rng.choice([1, -1, 0, "x"]), "unit_price": rng.choice([1.0, 0, -2, "x"])}
                         for _ in range(rng.randint(0, 3))]  # fmt: skip
        else:
            body[key] = rng.choice([*values, *HOSTILE_IDS[:6], "email", "granted", "revoked", "uplift", "admin"])
    return body


def _random_form(rng: random.Random, keys: Any) -> dict[str, str]:
    form = {k: str(rng.choice(HOSTILE_VALUES + HOSTILE_IDS[:8])) for k in rng.sample(
        ["name", "field_1", "op_1", "value_1", "score", "contact_cost", "budget", "next", "csrf_token"],
        k=rng.randint(0, 5))}  # fmt: skip
    if rng.random() < 0.3:
        form["api_key"] = rng.choice([keys.admin, keys.read, "tw_00000000_wrong", ""])
    return form


def fuzz(tmp: Path, n_requests: int, seed: int = 17) -> dict[str, Any]:
    """Seeded random requests (90% OpenAPI operations, 10% UI forms); 5xx answers and lockouts."""
    from fastapi.testclient import TestClient

    from service_fixtures import Keys, load_workspace_tables, make_run
    from targetwise.io.runs import RunStore
    from targetwise.service.app import create_app

    folder = tmp / "fuzz"
    folder.mkdir()
    settings = get_settings(workspace=folder / "ws", duckdb_threads=1, api_rate_limit_per_minute=1_000_000)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, folder)
    RunStore(ws).promote(make_run(ws).run_id)
    keys = Keys(ws)
    app = create_app(settings, workspace=ws)
    operations = [(path, method.upper(), spec) for path, item in app.openapi()["paths"].items()
                  for method, spec in item.items() if method in ("get", "post", "delete", "put", "patch")]  # fmt: skip
    rng = random.Random(seed)
    statuses: Counter = Counter()
    by_method: Counter = Counter()
    server_errors: list[str] = []
    refused_valid = erased = ui = cross_site_accepted = 0
    started = time.perf_counter()
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        for _ in range(n_requests):
            if rng.random() < 0.1:
                method, path = rng.choice(UI_ROUTES)
                spec, ui = {}, ui + 1
            else:
                path, method, spec = rng.choice(operations)
            url = re.sub(r"\{[^}]+\}", lambda _m: quote(rng.choice(HOSTILE_IDS), safe=""), path)
            params = {p["name"]: rng.choice([*HOSTILE_VALUES, "csv", "google", "email", "5"])
                      for p in spec.get("parameters", []) if p.get("in") == "query" and rng.random() < 0.6}  # fmt: skip
            who = rng.random()
            token = keys.admin if who < 0.8 else (None if who < 0.9 else "tw_00000000_not-a-key")
            headers = Keys.header(token) if token else {}
            if rng.random() < 0.1:
                headers["Origin"] = rng.choice(["https://evil.example", "null", "http://127.0.0.1"])
            kwargs: dict[str, Any] = {"params": params, "headers": headers}
            if method == "POST" and path.startswith("/ui/"):
                kwargs["data"] = _random_form(rng, keys)
            elif method in ("POST", "PUT", "PATCH"):
                if rng.random() < 0.05:
                    kwargs["content"] = b"{not json"
                    headers["Content-Type"] = "application/json"
                else:
                    kwargs["json"] = _random_body(rng)
            response = client.request(method, url, **kwargs)
            statuses[response.status_code] += 1
            by_method[method] += 1
            if response.status_code >= 500 and response.status_code != 503:
                server_errors.append(f"{method} {url}: {response.status_code} {response.text[:120]}")
            erased += method == "DELETE" and response.status_code == 200
            foreign = headers.get("Origin") in ("https://evil.example", "null")
            cross_site_accepted += foreign and method == "POST" and path.startswith("/ui/") and (
                path != "/ui/audiences/preview") and response.status_code in (200, 201, 303)
            refused_valid += token == keys.admin and not path.startswith("/ui/") and response.status_code == 401
        seconds = time.perf_counter() - started
        after = {name: client.get("/v1/audiences", headers=Keys.header(token)).status_code
                 for name, token in (("admin", keys.admin), ("write", keys.write), ("read", keys.read))}  # fmt: skip
    return {"requests": n_requests, "ui": ui, "operations": len(operations), "seconds": seconds,
            "statuses": dict(sorted(statuses.items())), "by_method": dict(by_method), "server_errors": server_errors,
            "refused_valid": refused_valid, "keys_after": after, "erased": erased,
            "cross_site_accepted": cross_site_accepted}  # fmt: skip


# -- 3b, 4. test files through pytest ----------------------------------------------------------------


def _pytest(args: list[str], timeout: int) -> tuple[str, float]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", *args, "-q", "-s", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        output = f"TIMEOUT after {timeout} s\n{partial}"
    return output, time.perf_counter() - started


def _tally(output: str) -> str:
    """pytest's final counts ('3 passed, 1 failed in 12.3s'), or the timeout."""
    if output.startswith("TIMEOUT"):
        return output.splitlines()[0]
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|errors?|skipped)", line)]
    return lines[-1].strip("= ") if lines else "no result line"


# -- report -----------------------------------------------------------------------------------------


def _print_bad_inputs(rows: list[tuple[str, str, str, str, str]], seconds: float) -> None:
    print(f"\n## 1. Bad inputs ({len(rows)} kinds, {seconds:.0f} s)\n")
    print("| kinds | tried | " + " | ".join(OUTCOMES) + " | as expected |")
    print("|---|---:|" + "---:|" * (len(OUTCOMES) + 1))
    for source in ("KINDS", "issue 17", "all"):
        chosen = [r for r in rows if source in ("all", r[0])]
        counts = Counter(r[3] for r in chosen)
        expected = sum(r[2] == r[3] for r in chosen)
        label = "**all**" if source == "all" else source
        print(f"| {label} | {len(chosen)} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + f" | {expected} |")
    print("\n| kind | expected | outcome | detail |\n|---|---|---|---|")
    for source, name, expected, outcome, detail in rows:
        mark = "" if outcome == expected else " **(differs)**"
        print(f"| {name} ({source}) | {expected} | {outcome}{mark} | {detail.replace('|', '/')} |")


def _print_erasures(rows: list[tuple], built: float) -> None:
    print(f"\n## 2. Erasure of short ids (a real run on 120 synthetic customers, built in {built:.0f} s)\n")
    print("| id erased | own rows removed | run-file rows removed | foreign rows lost | keys/report/profiles/"
          "audience changed | files deleted | API key verifies | quarantine counts add up | seconds |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|---|---:|")
    for label, own, files, foreign, changed, deleted, key_ok, consistent, seconds in rows:
        adds_up = "n/a" if consistent is None else "yes" if consistent else "**no**"
        print(f"| {label} | {own} | {files} | {foreign} | {changed} | {deleted} | {'yes' if key_ok else '**no**'} "
              f"| {adds_up} | {seconds:.2f} |")  # fmt: skip


def _print_fuzz(fuzzed: dict[str, Any]) -> None:
    print(f"\n## 3. Fuzz ({fuzzed['requests']:,} seeded random requests: {fuzzed['operations']} OpenAPI operations "
          f"and {fuzzed['ui']} UI form requests, {fuzzed['seconds']:.0f} s)\n")  # fmt: skip
    print(f"- methods {fuzzed['by_method']}; statuses {fuzzed['statuses']}")
    print(f"- customers erased by a fuzzed DELETE: {fuzzed['erased']}")
    print(f"- UI form posts with a foreign Origin (evil.example or null) accepted (200/201/303): "
          f"**{fuzzed['cross_site_accepted']}**")  # fmt: skip
    print(f"- server errors (5xx other than 503 busy): **{len(fuzzed['server_errors'])}**")
    for line in fuzzed["server_errors"][:10]:
        print(f"  - `{line}`")
    print(f"- valid admin key refused with 401 during the run: **{fuzzed['refused_valid']}**; "
          f"each key afterwards (GET /v1/audiences): {fuzzed['keys_after']}")  # fmt: skip


def _print_pytest() -> None:
    print("\n## 3b, 4. Test files through pytest\n")
    print("| what | command | result | wall s |\n|---|---|---|---:|")
    for what, test_args, timeout in (
        ("schemathesis fuzz", ["tests/test_service_fuzz.py"], 400),
        ("attacker's view on one workspace", ["tests/test_security_probe.py"], 300),
        ("SIGKILL during ingest (5) and run (4)", ["tests/test_reliability_crash.py", "-k", "sigkill"], 400),
    ):
        output, seconds = _pytest(test_args, timeout)
        print(f"| {what} | `pytest {' '.join(test_args)}` | {_tally(output)} | {seconds:.0f} |")
        for line in output.splitlines():
            if "SIGKILL outcomes" in line or re.search(r"fuzz.*requests|requests.*fuzz", line, re.IGNORECASE):
                print(f"| | | {line.strip().lstrip('.')} | |")
            elif line.startswith(("FAILED", "ERROR")):
                print(f"| | | {line[:160].replace('|', '/')} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-requests", type=int, default=4000, help="random requests to the in-process app")
    parser.add_argument("--skip-pytest", action="store_true", help="leave out the test files run through pytest")
    args = parser.parse_args()
    print(describe())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="security-probe-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        _print_bad_inputs(bad_inputs(tmp), time.perf_counter() - t0)
        _print_erasures(*erasures(tmp))
        _print_fuzz(fuzz(tmp, args.fuzz_requests))
    if not args.skip_pytest:
        _print_pytest()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
