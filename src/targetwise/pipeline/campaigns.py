"""Campaign workflows over the workspace: plan from the active run's uplift, measure afterwards."""

from __future__ import annotations

from typing import Any

import pandas as pd

from targetwise.errors import ConfigError, NotFoundError
from targetwise.io.consent import opted_out
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace

__all__ = ["CHANNEL_PURPOSE", "measure_workspace_campaign", "plan_from_run"]

# which consent purpose a contact channel needs (profiling is always required)
CHANNEL_PURPOSE = {"email": "email", "sms": "sms", "ads": "ads"}


def _active(ws: Workspace) -> RunInfo:
    run = RunStore(ws).active()
    if run is None:
        raise NotFoundError("no run is active", fix="run `targetwise run` first")
    return run


def plan_from_run(
    ws: Workspace,
    *,
    contact_cost: float,
    value_per_conversion: float | None = None,
    value_from_clv: bool = False,
    margin: float = 1.0,
    budget: float | None = None,
    max_contacts: int | None = None,
    holdout_fraction: float = 0.10,
    channel: str = "email",
    random_state: int = 0,
) -> tuple[Any, int]:
    """Budgeted plan from the active run's uplift (per arm), honouring consent for ``channel``.

    The value of a conversion is either fixed (``value_per_conversion``) or each
    customer's CLV times ``margin`` (``value_from_clv``). Returns the plan and how many
    customers consent excluded.
    """
    from targetwise.campaigns.planner import plan_campaign

    if channel not in CHANNEL_PURPOSE:
        raise ConfigError(f"unknown channel {channel!r}", fix=f"use one of: {', '.join(CHANNEL_PURPOSE)}")
    if (value_per_conversion is None) == (not value_from_clv):
        raise ConfigError("give either a value per conversion or value_from_clv", fix="e.g. --value-per-conversion 25")
    run = _active(ws)
    if not run.has("uplift/uplift.parquet"):
        raise NotFoundError(
            "the active run has no uplift model",
            fix="ingest a randomised campaign (campaign_exposures with a control arm, responses) and run again",
        )
    uplift = run.read_table("uplift/uplift.parquet").set_index("customer_id")
    blocked = opted_out(ws, "profiling") | opted_out(ws, CHANNEL_PURPOSE[channel])
    uplift = uplift[~uplift.index.isin(blocked)]
    uplift.columns = [c.removeprefix("uplift_") for c in uplift.columns]
    if value_from_clv:
        clv = run.read_table("clv/customer_clv.parquet").set_index("customer_id")["clv"]
        value: float | pd.Series = (clv.reindex(uplift.index).fillna(0.0) * margin).clip(lower=0.0)
    else:
        value = float(value_per_conversion)  # type: ignore[arg-type]
    frame = uplift if uplift.shape[1] > 1 else uplift.iloc[:, 0]
    plan = plan_campaign(
        frame, contact_cost=contact_cost, value_per_conversion=value, budget=budget, max_contacts=max_contacts,
        holdout_fraction=holdout_fraction, random_state=random_state,
    )
    return plan, len(blocked)


def measure_workspace_campaign(ws: Workspace, campaign_id: str, *, response_type: str = "conversion") -> Any:
    """Incremental conversion and revenue of each arm vs control, overall and by the run's segments."""
    from targetwise.campaigns.measurement import measure_campaign

    with ws.connect(read_only=True) as con:
        frame = con.execute(
            """
            SELECT e.customer_id, e.arm,
                   coalesce(r.n, 0) > 0 AS converted, coalesce(r.revenue, 0.0) AS revenue
            FROM campaign_exposures e
            LEFT JOIN (SELECT customer_id, count(*) AS n, sum(coalesce(revenue, 0)) AS revenue
                       FROM responses WHERE campaign_id = ? AND response_type = ? GROUP BY 1) r USING (customer_id)
            WHERE e.campaign_id = ?
            """,
            [campaign_id, response_type, campaign_id],
        ).df()
    if frame.empty:
        raise NotFoundError(f"campaign {campaign_id!r} has no exposures", fix="check the id with `targetwise status`")
    run = RunStore(ws).active()
    if run is not None and run.has("segments/customer_segments.parquet"):
        segments = run.read_table("segments/customer_segments.parquet")[["customer_id", "cluster_name"]]
        frame = frame.merge(segments, on="customer_id", how="left")
        frame["segment"] = frame.pop("cluster_name").fillna("unsegmented")
    frame["converted"] = frame["converted"].astype(int)
    frame["revenue"] = frame["revenue"].astype(float)
    return measure_campaign(frame, control_label="control")
