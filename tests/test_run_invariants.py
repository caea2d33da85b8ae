"""Run invariants (issue 18): what a run's outputs may and may not depend on.

1. Reproducibility: the same workspace, ``as_of`` and ``random_state`` give the same outputs, to the
   last bit (every table, JSON file and figure; the manifest up to its run id, time stamps and timings).
2. A profiling objection takes the objector out of every model: two shops that differ only in the
   objectors' purchases (workspace B doubles them) give every other customer the same features,
   segments, CLV, propensity scores, recommendations and uplift, and no output names an objector.

One small synthetic shop (with a randomised e-mail campaign and a control group, so the uplift
stage runs) is built into workspaces A and B; each is run once at an explicit ``as_of`` and the
runs are shared by the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from targetwise.config import get_settings
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.synthetic import SyntheticRetailer, generate_retailer
from targetwise.uplift._base import DEFAULT_LGBM_PARAMS

pytestmark = pytest.mark.slow

N_CUSTOMERS = 300  # ~250 of them in the campaign
OBJECTOR_SHARE = 0.10
AS_OF = "2023-12-31"  # the synthetic data end on 2023-12-30; the campaign went out on 2023-11-01
TABLES = ("products", "customers", "customer_pii", "campaigns", "campaign_exposures", "responses", "consent",
          "transactions")
# per-customer outputs and the columns that identify one of their rows
PER_CUSTOMER = {
    "features/customer_features.parquet": ["customer_id"],
    "segments/customer_segments.parquet": ["customer_id"],
    "clv/customer_clv.parquet": ["customer_id"],
    "propensity/scores.parquet": ["customer_id"],
    "recommendations/recommendations.parquet": ["customer_id", "rank"],
    "uplift/uplift.parquet": ["customer_id"],
}
# manifest entries that legitimately differ between two runs of the same inputs
VOLATILE_MANIFEST_KEYS = {"run_id", "created_at", "started_at", "finished_at", "seconds",
                          "wall_s", "cpu_s", "peak_rss_gb", "peak_rss_method"}  # a stage's cost: rows in/out are stable


@dataclass
class Shop:
    retailer: SyntheticRetailer
    objectors: list[str]  # the set S


@dataclass
class Run:
    workspace: Workspace
    path: Path


@pytest.fixture(scope="module", autouse=True)
def uplift_learner_that_splits():
    """Leaves of 20 customers for the uplift S-learner while this module runs.

    Its defaults (tuned on Hillstrom's 64,000 customers) want 300 a leaf, so on this shop's ~250
    exposures every tree is a stump and the uplift is 0 for everyone, whatever trained it; with
    small leaves the uplift depends on its training rows, so both tests see who trained it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(DEFAULT_LGBM_PARAMS, "min_child_samples", 20)
        yield


@pytest.fixture(scope="module")
def shop() -> Shop:
    retailer = generate_retailer(n_customers=N_CUSTOMERS, random_state=0)
    tx, consent = retailer.transactions, retailer.consent
    buyers = set(tx.loc[tx["customer_id"].notna() & (tx["quantity"] > 0), "customer_id"].astype(str))
    latest = (
        consent[consent["purpose"] == "profiling"].sort_values("recorded_at", kind="stable").groupby("customer_id").last()
    )
    objecting = set(latest.index[latest["status"].isin(["denied", "revoked"])].astype(str))
    eligible = sorted(buyers - objecting)
    rng = np.random.default_rng(18)
    objectors = sorted(rng.choice(eligible, size=round(OBJECTOR_SHARE * N_CUSTOMERS), replace=False).tolist())
    exposed = set(retailer.campaign_exposures["customer_id"].astype(str))
    assert len(set(objectors) & exposed) >= 10, "S must reach the campaign, or the uplift check is empty"
    return Shop(retailer, objectors)


def _doubled_transactions(tx: pd.DataFrame, customers: list[str]) -> pd.DataFrame:
    """``tx`` plus a copy of ``customers``' lines under new order ids, at the same times.

    A return's order id is 'C' + the returned order's id, so the copies keep that link.
    """
    copies = tx[tx["customer_id"].isin(customers)].copy()
    copies["order_id"] = copies["order_id"].astype(str) + "D"
    return pd.concat([tx, copies], ignore_index=True)


def _build(path: Path, shop: Shop, *, doubled: bool) -> Workspace:
    settings = get_settings(workspace=path, duckdb_threads=2)
    ws = Workspace.init(path, settings)
    for table in TABLES:
        frame = getattr(shop.retailer, table, None)
        if frame is None or frame.empty:
            continue
        if table == "transactions" and doubled:
            frame = _doubled_transactions(frame, shop.objectors)
        ingest_arrow(ws, table, source_from_frame(frame, name=f"synthetic:{table}"))
    for customer in shop.objectors:
        record_consent(ws, customer, purpose="profiling", status="denied", source="test objection")
    return ws


def _run(ws: Workspace) -> Run:
    info = run_pipeline(ws, ws.settings, as_of=AS_OF, promote=False)
    return Run(ws, Path(info.path))


@pytest.fixture(scope="module")
def run_a(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(_build(tmp_path_factory.mktemp("invariants") / "a", shop, doubled=False))


@pytest.fixture(scope="module")
def run_b(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Run:
    ws = _build(tmp_path_factory.mktemp("invariants") / "b", shop, doubled=True)
    with ws.connect(read_only=True) as con:
        counts = dict(con.execute(
            "SELECT customer_id, count(*) FROM transactions WHERE customer_id IN (SELECT unnest(?)) GROUP BY 1",
            [shop.objectors],
        ).fetchall())
    tx = shop.retailer.transactions
    single = tx[tx["customer_id"].isin(shop.objectors)].groupby("customer_id").size()
    assert {c: counts.get(c, 0) for c in single.index} == {c: 2 * int(n) for c, n in single.items()}
    return _run(ws)


def _outputs(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def _table(path: Path, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(path / name)
    return frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame


def _stable_manifest(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable_manifest(v) for k, v in value.items() if k not in VOLATILE_MANIFEST_KEYS}
    if isinstance(value, list):
        return [_stable_manifest(v) for v in value]
    return value


def test_same_inputs_give_identical_runs(run_a: Run) -> None:
    second = _run(run_a.workspace)
    first = run_a
    names = _outputs(first.path)
    assert names == _outputs(second.path)
    assert "uplift/uplift.parquet" in names, "the uplift stage must run (a campaign with control)"
    uplift = _table(first.path, "uplift/uplift.parquet").drop(columns="customer_id")
    assert (uplift.nunique() > 1).all(), "a constant uplift would not show what trained it"
    for name in names:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(
                _table(first.path, name), _table(second.path, name), check_exact=True, obj=name
            )
        elif name == "manifest.json":
            a, b = (json.loads((r.path / name).read_text(encoding="utf-8")) for r in (first, second))
            assert _stable_manifest(a) == _stable_manifest(b)
        elif name.endswith(".json"):
            a, b = (json.loads((r.path / name).read_text(encoding="utf-8")) for r in (first, second))
            assert a == b, name
        else:  # figures
            assert (first.path / name).read_bytes() == (second.path / name).read_bytes(), name


def _named_objectors(path: Path, objectors: set[str]) -> list[str]:
    """Outputs of a run that name a member of ``objectors`` (any text column of a table, any JSON text)."""
    found = []
    for name in _outputs(path):
        if name.endswith(".parquet"):
            frame = _table(path, name)
            for col in frame.columns:
                if pd.api.types.is_object_dtype(frame[col]) or pd.api.types.is_string_dtype(frame[col]):
                    hits = set(frame[col].dropna().astype(str)) & objectors
                    if hits:
                        found.append(f"{name}[{col}]: {len(hits)} objector(s), e.g. {sorted(hits)[0]}")
        elif name.endswith(".json"):
            text = (path / name).read_text(encoding="utf-8")
            hits = {c for c in objectors if c in text}
            if hits:
                found.append(f"{name}: {len(hits)} objector(s), e.g. {sorted(hits)[0]}")
    return found


def _differences(a: pd.DataFrame, b: pd.DataFrame, name: str, keys: list[str]) -> list[str]:
    """Where two per-customer tables disagree (rows, columns, cells); empty when identical."""
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    if list(a.columns) != list(b.columns):
        return [f"{name}: columns {list(a.columns)} vs {list(b.columns)}"]
    if not a[keys].equals(b[keys]):
        only_a = len(a.merge(b[keys], on=keys, how="left", indicator=True).query("_merge == 'left_only'"))
        only_b = len(b.merge(a[keys], on=keys, how="left", indicator=True).query("_merge == 'left_only'"))
        return [f"{name}: rows differ ({only_a} only in A, {only_b} only in B)"]
    out = []
    for col in a.columns:
        x, y = a[col], b[col]
        if x.equals(y):
            continue
        differs = ~((x == y) | (x.isna() & y.isna()))
        text = f"{name}[{col}]: {int(differs.sum())} of {len(a)} rows differ"
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            gap = np.abs(x.to_numpy(float) - y.to_numpy(float))
            text += f", max |A - B| = {np.nanmax(gap):.3g}"
        out.append(text)
    return out


def test_profiling_objectors_influence_nothing(shop: Shop, run_a: Run, run_b: Run) -> None:
    # Before 9739307 (io.modeldata) this failed: the propensity snapshots and the uplift learner read
    # the objectors' data (every other customer's scores and uplift moved, the backtests named them).
    objectors = set(shop.objectors)
    problems = [f"A {p}" for p in _named_objectors(run_a.path, objectors)]
    problems += [f"B {p}" for p in _named_objectors(run_b.path, objectors)]
    for name, keys in PER_CUSTOMER.items():
        assert (run_a.path / name).exists() and (run_b.path / name).exists(), f"{name} was not written"
        a, b = _table(run_a.path, name), _table(run_b.path, name)
        others_a, others_b = a[~a["customer_id"].isin(objectors)], b[~b["customer_id"].isin(objectors)]
        problems += _differences(others_a, others_b, name, keys)
    assert not problems, "objectors influence the run:\n" + "\n".join(problems)
