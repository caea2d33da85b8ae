"""Use case: the key figures of one run (customers, net revenue, CLV and its interval, segments), computed once.

The report's first screen and the web UI's overview both show these numbers; they read
them from :func:`run_overview`, so the two can never disagree. Every figure comes from
the run's declared outputs (never from the workspace as it is now), and each says what it
counts:

* **customers**: rows of the run's features, i.e. customers with at least one purchase
  order before the as-of date; customers who objected to profiling are left out.
* **net revenue**: the sum of those customers' ``monetary_total``: what they bought minus
  what they returned, before the as-of date, postage and fees excluded
  (:data:`NET_REVENUE_DEFINITION`). Returns of people with no purchase in the data count
  in no customer's spend, so they are not in it either (the data profile lists them).
* **CLV**: total and median of ``clv``; the interval is *available* when every customer has
  a finite ``clv_lower`` and ``clv_upper`` in the CLV table (the table is the truth, not a
  note of the stage: the stage's notes also carry the warnings of its holdout check, which
  fits a second model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from targetwise.io import outputs as out
from targetwise.usecases.runs import RunData

__all__ = ["CUSTOMERS_DEFINITION", "NET_REVENUE_DEFINITION", "RunOverview", "run_overview"]

NET_REVENUE_DEFINITION = (
    "What the run's customers bought minus what they returned, before the as-of date; postage and fees "
    "excluded, customers who objected to profiling left out."
)
CUSTOMERS_DEFINITION = (
    "Customers with at least one order before the as-of date (customers who objected to profiling left out)."
)
CLV_DEFINITION = "Expected spend over the horizon, discounted to today's money, summed over the run's customers."


@dataclass(frozen=True)
class RunOverview:
    """The key figures of a run; ``None`` where the stage behind a figure did not run."""

    run_id: str
    as_of: str | None
    customers: int | None = None
    customers_definition: str = CUSTOMERS_DEFINITION
    net_revenue: float | None = None
    net_revenue_definition: str = NET_REVENUE_DEFINITION
    returns_value: float | None = None
    excluded_objectors: int | None = None
    total_clv: float | None = None
    median_clv: float | None = None
    clv_definition: str = CLV_DEFINITION
    clv_horizon_days: int | None = None
    top_decile_clv_share: float | None = None
    clv_interval: float | None = None  # the interval's coverage, e.g. 0.8
    clv_interval_available: bool = False
    clv_interval_typical_width: float | None = None  # median of (upper - lower) / (2 clv): 0.03 = ±3%
    clv_interval_note: str = ""
    segments: int | None = None
    rfm_segments: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _float(value: Any) -> float:
    return float(value) if value is not None and np.isfinite(value) else 0.0


def _clv_interval(run: RunData, clv: pd.DataFrame) -> dict[str, Any]:
    stage = run.info.stage("clv")
    params = stage.params if stage else {}
    coverage = params.get("interval")
    found: dict[str, Any] = {"clv_interval": float(coverage) if coverage is not None else None}
    has_columns = {"clv_lower", "clv_upper"} <= set(clv.columns)
    finite = has_columns and bool(np.isfinite(clv[["clv_lower", "clv_upper"]].to_numpy(dtype=float)).all())
    if finite and len(clv):
        value = clv["clv"].to_numpy(dtype=float)
        half = (clv["clv_upper"].to_numpy(dtype=float) - clv["clv_lower"].to_numpy(dtype=float)) / 2
        positive = value > 0
        width = float(np.median(half[positive] / value[positive])) if positive.any() else 0.0
        share = f"{coverage:.0%} " if coverage is not None else ""
        found |= {
            "clv_interval_available": True,
            "clv_interval_typical_width": width,
            "clv_interval_note": f"{share}range from the model's parameter uncertainty: a typical customer's CLV "
            f"is known to ±{width:.0%} (not the chance of the customer buying more or less).",
        }
        return found
    why = next((n.removeprefix("no CLV intervals: ") for n in (stage.notes if stage else [])
                if n.startswith("no CLV intervals:")), None)
    if coverage is None:
        why = "the run was made with clv.interval off (point values only)"
    found |= {"clv_interval_available": False,
              "clv_interval_note": f"No CLV range in this run: {why or 'the CLV table holds no interval'}."}
    return found


def run_overview(run: RunData) -> RunOverview:
    """The key figures of ``run`` (see the module docstring for what each counts)."""
    figures: dict[str, Any] = {"run_id": run.run_id, "as_of": run.as_of}
    if run.has(out.FEATURES):
        features = run.table(out.FEATURES)
        figures["customers"] = len(features)
        if "monetary_total" in features:
            figures["net_revenue"] = _float(features["monetary_total"].sum())
        if "returns_value" in features:
            figures["returns_value"] = _float(features["returns_value"].sum())
        stage = run.info.stage("features")
        excluded = (stage.metrics if stage else {}).get("excluded_profiling_objection")
        figures["excluded_objectors"] = int(excluded) if excluded is not None else None
    if run.has(out.CLV):
        clv = run.table(out.CLV)
        values = clv["clv"].astype(float)
        total = _float(values.sum())
        top = values.nlargest(max(1, len(values) // 10)).sum()
        stage = run.info.stage("clv")
        horizon = (stage.params if stage else {}).get("horizon")
        figures |= {
            "total_clv": total,
            "median_clv": _float(values.median()) if len(values) else 0.0,
            "top_decile_clv_share": float(top / total) if total > 0 else None,
            "clv_horizon_days": int(horizon) if horizon is not None else None,
        } | _clv_interval(run, clv)
    if run.has(out.PROFILES):
        figures["segments"] = len(run.profiles())
    if run.has(out.RFM_COUNTS):
        figures["rfm_segments"] = sum(1 for n in run.json(out.RFM_COUNTS).values() if n)
    return RunOverview(**figures)
