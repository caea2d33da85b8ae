"""Use cases: a campaign's readout (unadjusted and CUPED-adjusted effects) and the holdout power planner.

One readout for ``targetwise campaign report ID [--json]``, ``GET /v1/campaigns/{id}/report`` and
the UI's campaign page: :func:`readout_dict` is the JSON all three show, so a number is the same
everywhere. Each result row is one arm x segment x metric (``conversion_rate``: incremental
conversion rate, a share; ``revenue_per_customer``: incremental revenue per exposed customer, in the
workspace currency) with an ``unadjusted`` and a ``cuped`` object (``effect, ci_low, ci_high``) and the
``variance_reduction`` CUPED achieved. The covariate is each customer's net spend in the
``pre_period_days`` days before their send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from targetwise.campaigns.measurement import CampaignMeasurement
from targetwise.campaigns.power import PowerPlan, sample_size_two_proportions
from targetwise.errors import ConfigError
from targetwise.io.workspace import Workspace
from targetwise.usecases.campaigns import measure_workspace_campaign

__all__ = ["PRE_PERIOD_DAYS", "CampaignReadout", "campaign_readout", "plan_power", "readout_dict"]

#: the CUPED covariate's window: net spend in this many days before each customer's send
PRE_PERIOD_DAYS = 90
#: metric -> (label, unadjusted effect/low/high columns, CUPED column prefix)
_METRICS: dict[str, tuple[str, tuple[str, str, str], str]] = {
    "conversion_rate": (
        "incremental conversion rate (treated minus holdout)",
        ("incremental_conversion_rate", "icr_low", "icr_high"),
        "icr",
    ),
    "revenue_per_customer": (
        "incremental revenue per customer (treated minus holdout)",
        ("incremental_revenue_per_customer", "irpc_low", "irpc_high"),
        "irpc",
    ),
}


@dataclass(frozen=True)
class CampaignReadout:
    """A campaign measured against its holdout, with the CUPED covariate's window."""

    campaign_id: str
    pre_period_days: int
    measurement: CampaignMeasurement

    @property
    def covariate(self) -> str:
        return f"net spend in the {self.pre_period_days} days before the send"


def campaign_readout(
    ws: Workspace, campaign_id: str, *, pre_period_days: int = PRE_PERIOD_DAYS, confidence: float = 0.95
) -> CampaignReadout:
    """Measure a campaign treated vs holdout, overall and by segment, unadjusted and CUPED-adjusted."""
    if isinstance(pre_period_days, bool) or not isinstance(pre_period_days, int) or not 1 <= pre_period_days <= 3650:
        raise ConfigError(
            f"pre-period must be a whole number of days between 1 and 3650, got {pre_period_days!r}",
            fix="e.g. --pre-period-days 90",
        )
    measurement = measure_workspace_campaign(ws, campaign_id, pre_period_days=pre_period_days, confidence=confidence)
    return CampaignReadout(campaign_id=campaign_id, pre_period_days=pre_period_days, measurement=measurement)


def _interval(row: pd.Series, effect: str, low: str, high: str) -> dict[str, float]:
    return {"effect": float(row[effect]), "ci_low": float(row[low]), "ci_high": float(row[high])}


def readout_dict(readout: CampaignReadout) -> dict[str, Any]:
    """The readout as CLI ``--json``, the API and the UI show it (see the module docstring)."""
    frame = readout.measurement.results
    rows: list[dict[str, Any]] = []
    for _, row in frame.iterrows():
        for metric, (label, (effect, low, high), prefix) in _METRICS.items():
            rows.append({
                "arm": str(row["arm"]), "segment": str(row["segment"]), "metric": metric, "label": label,
                "n_treated": int(row["n_treated"]), "n_control": int(row["n_control"]),
                "unadjusted": _interval(row, effect, low, high),
                "cuped": _interval(row, f"{prefix}_cuped", f"{prefix}_cuped_low", f"{prefix}_cuped_high"),
                "variance_reduction": float(row[f"{prefix}_variance_reduction"]),
            })  # fmt: skip
    return {
        "campaign_id": readout.campaign_id,
        "confidence": readout.measurement.confidence,
        "covariate": readout.covariate,
        "pre_period_days": readout.pre_period_days,
        "method": "CUPED (Deng et al. 2013): outcome minus theta x (pre-period spend - its mean), theta pooled; "
        "Welch intervals. Unadjusted: Newcombe's interval for the conversion rate, Welch for revenue.",
        "results": rows,
        "skipped_segments": list(frame.attrs.get("skipped_segments", [])),
    }


def plan_power(
    ws: Workspace | None,
    *,
    baseline_rate: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    cuped_r2: float | None = None,
    cuped_from_campaign: str | None = None,
    pre_period_days: int = PRE_PERIOD_DAYS,
) -> PowerPlan:
    """Customers per arm for a holdout test; CUPED's expected variance reduction from ``cuped_r2`` or from
    an earlier campaign's readout (its overall conversion-rate variance reduction, first arm)."""
    if cuped_r2 is not None and cuped_from_campaign is not None:
        raise ConfigError("give a CUPED r2 or a campaign to take it from, not both", fix="drop one of the two")
    r2 = 0.0 if cuped_r2 is None else cuped_r2
    if cuped_from_campaign is not None:
        if ws is None:
            raise ConfigError("a campaign to take CUPED's r2 from needs a workspace", fix="open a workspace")
        frame = campaign_readout(ws, cuped_from_campaign, pre_period_days=pre_period_days).measurement.results
        overall = frame[frame["segment"] == "all"]
        r2 = max(0.0, float(overall["icr_variance_reduction"].iloc[0]))
    return sample_size_two_proportions(baseline_rate, mde, alpha=alpha, power=power, cuped_r2=r2)
