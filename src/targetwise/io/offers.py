"""Named reads and the one write of the offer tables: the catalogue, the decision log and new decisions.

A decision is identified by ``(customer_id, offer_id, decided_at)``. Its reward may come with it or in a
later row with the same three values (a file of outcomes, or an event); :func:`offer_log` gives one row
per decision with the propensity of its first row and the reward of its latest observed one. Profiling
objectors are left out of the log (it trains the policy) and :func:`record_decisions` writes through the
ingest, so every decision is validated, counted in ``loads`` and covered by erasure like any row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from targetwise.io.consent import opted_out

if TYPE_CHECKING:  # pragma: no cover
    from targetwise.io._ingest_types import IngestSummary
    from targetwise.io.workspace import Workspace

__all__ = ["offer_catalogue", "offer_inputs_token", "offer_log", "record_decisions"]

_LOG = """
WITH d AS (SELECT * FROM offer_decisions {where}),
first AS (
    SELECT customer_id, offer_id, decided_at, propensity, holdout FROM (
        SELECT *, row_number() OVER (PARTITION BY customer_id, offer_id, decided_at
                                     ORDER BY load_id, source_row) AS rn FROM d) WHERE rn = 1),
latest AS (
    SELECT customer_id, offer_id, decided_at, reward, reward_kind, observed_at FROM (
        SELECT *, row_number() OVER (PARTITION BY customer_id, offer_id, decided_at
                                     ORDER BY observed_at DESC, load_id DESC, source_row DESC) AS rn
        FROM d WHERE reward IS NOT NULL) WHERE rn = 1)
SELECT f.customer_id, f.offer_id, f.decided_at, f.propensity, coalesce(f.holdout, false) AS holdout,
       l.reward, l.reward_kind, l.observed_at
FROM first f LEFT JOIN latest l USING (customer_id, offer_id, decided_at)
ORDER BY f.decided_at, f.customer_id, f.offer_id
"""


def _ts(value: date | datetime | str | pd.Timestamp) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def offer_catalogue(workspace: Workspace, *, live_at: date | datetime | str | None = None) -> pd.DataFrame:
    """The offers (every column of ``offers``), ordered by id; with ``live_at`` only those whose active
    window holds it (an empty start or end is no limit)."""
    where, params = "", []
    if live_at is not None:
        where = " WHERE coalesce(starts_at <= ?, true) AND coalesce(ends_at > ?, true)"
        params = [_ts(live_at)] * 2
    with workspace.connect(read_only=True) as con:
        return con.execute(
            "SELECT offer_id, name, channel, cost, value, eligibility, starts_at, ends_at FROM offers"
            f"{where} ORDER BY offer_id",
            params,
        ).df()


def offer_log(workspace: Workspace, *, before: date | datetime | str | None = None) -> pd.DataFrame:
    """One row per decision made before ``before`` (profiling objectors left out): ``customer_id, offer_id,
    decided_at, propensity, holdout, reward, reward_kind, observed_at`` (reward empty until observed)."""
    where, params = ("", []) if before is None else ("WHERE decided_at < ?", [_ts(before)])
    with workspace.connect(read_only=True) as con:
        log = con.execute(_LOG.format(where=where), params).df()
    objectors = opted_out(workspace, "profiling")
    if objectors:
        log = log[~log["customer_id"].isin(objectors)].reset_index(drop=True)
    return log


def record_decisions(
    workspace: Workspace, decisions: pd.DataFrame, *, source: str, now: datetime | None = None
) -> IngestSummary:
    """Append decisions (or observed rewards) to ``offer_decisions`` through the ingest (all or nothing,
    validated, a load of its own named ``source``; ``now``: the ingest's clock, later timestamps are
    quarantined as in the future)."""
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.readers import source_from_frame

    # Decision times are UTC: sent time-zone aware, so the ingest never reads them as the shop's local time
    # (a naive 18:00 UTC read as New York time would lie five hours in the future and be quarantined).
    decisions = decisions.copy()
    for column in ("decided_at", "observed_at"):
        if column in decisions and pd.api.types.is_datetime64_any_dtype(decisions[column]):
            values = decisions[column]
            decisions[column] = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return ingest_arrow(workspace, "offer_decisions", source_from_frame(decisions, name=source), now=now)


def offer_inputs_token(workspace: Workspace) -> tuple[tuple[int, int | None], ...]:
    """A cheap fingerprint of what an offer evaluation reads besides the run: the rows of ``offers``,
    ``offer_decisions`` and ``consent`` (count and a sum of row hashes each). Any ingest, posted reward,
    consent change or erasure changes it; an unchanged token means the same evaluation."""
    with workspace.connect(read_only=True) as con:
        return tuple(
            tuple(con.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone() or (0, None))
            for table in ("offers", "offer_decisions", "consent")
        )

