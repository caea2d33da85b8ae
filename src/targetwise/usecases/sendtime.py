"""Use case: the best send time and channel per customer, from the engagement log.

One computation (:func:`send_times_at`) serves the ``sendtime`` stage, ``targetwise sendtime`` and the
campaign planner's send schedule; the API and the UI read the stage's output per customer
(:func:`send_time_of`). Only events before the as-of count; machine opens are never responses; the
send's weekday and hour are taken in the shop's time zone (the setting ``business_timezone``). The
segment the estimate is shrunk toward is the customer's RFM segment at the as-of (from the features),
so the stage and the command give the same answer. Model: :mod:`targetwise.engage.sendtime`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from targetwise.engage.sendtime import HOUR_BANDS, SendTimeEstimator
from targetwise.errors import NotFoundError
from targetwise.io import outputs as out
from targetwise.io.engagements import send_responses
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.runconfig import SendtimeConfig
from targetwise.usecases.runs import RunData

__all__ = ["SEND_TIME_COLUMNS", "SendTimes", "local_sends", "send_schedule", "send_time_of", "send_time_summary",
           "send_times_at", "send_times_workspace"]

AsOf = date | datetime | str | pd.Timestamp
SEND_TIME_COLUMNS = ("customer_id", "best_weekday", "best_hour", "best_channel", "confidence", "source")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SendTimes:
    """The per-customer table (:data:`SEND_TIME_COLUMNS`) and what it was estimated from."""

    table: pd.DataFrame
    sends: int = 0
    responses: int = 0
    timezone: str = "UTC"
    metrics: dict[str, Any] = field(default_factory=dict)


def local_sends(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sends (``sent_at`` naive UTC) with the ``weekday`` (0 = Monday) and ``hour`` of the send in ``timezone``."""
    local = pd.DatetimeIndex(frame["sent_at"]).tz_localize("UTC").tz_convert(timezone)
    return frame.assign(weekday=local.dayofweek.to_numpy(), hour=local.hour.to_numpy())


def send_times_at(
    data: ModelData,
    as_of: AsOf,
    *,
    timezone: str,
    config: SendtimeConfig | None = None,
    segments: pd.DataFrame | None = None,
    random_state: int | None = 0,
) -> SendTimes:
    """Fit on the sends before ``as_of`` and recommend for every customer with a send or a segment.

    ``segments``: ``customer_id, segment`` (the RFM segment); without it the estimate shrinks toward the
    shop's pattern only (source ``personal`` or ``global``).
    """
    config = config or SendtimeConfig()
    raw = send_responses(data.con, before=as_of)
    if raw.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="int64" if c in ("best_weekday", "best_hour") else
                                           "float64" if c == "confidence" else object) for c in SEND_TIME_COLUMNS})
        return SendTimes(table=empty, timezone=timezone, metrics={"sends": 0, "responses": 0, "customers": 0})
    sends = local_sends(raw, timezone)
    seg = None if segments is None else segments.set_index("customer_id")["segment"]
    estimator = SendTimeEstimator(prior_strength=config.prior_strength, n_draws=config.n_draws,
                                  random_state=random_state).fit(sends, seg)
    table = estimator.predict()
    metrics = {
        "sends": len(sends),
        "responses": int(sends["responded"].sum()),
        "customers": len(table),
        "timezone": timezone,
        "prior_strength": {k: round(v, 3) for k, v in estimator.strength_.items()},
        "by_source": {s: int(n) for s, n in table["source"].value_counts().sort_index().items()},
    }
    return SendTimes(table=table, sends=len(sends), responses=metrics["responses"], timezone=timezone,
                     metrics=metrics)


def send_times_workspace(
    ws: Workspace, as_of: AsOf, *, config: SendtimeConfig | None = None,
    out_path: str | os.PathLike[str] | None = None, random_state: int | None = None,
) -> SendTimes:
    """``targetwise sendtime``: the table at ``as_of`` (segments from the features at it), written to
    ``out_path`` (.csv or .parquet) if given."""
    from targetwise.io.exports import write_table
    from targetwise.usecases.features import features_at
    from targetwise.usecases.forecast import rfm_segments

    seed = ws.settings.random_state if random_state is None else random_state
    with open_model_data(ws) as data:
        if not data.has("engagements"):
            raise NotFoundError("this workspace has no engagements", fix="ingest them: targetwise ingest engagements FILE")
        has_orders = data.has("transactions") and data.first_ordered_at() is not None
        segments = rfm_segments(features_at(data, as_of)) if has_orders else None
        result = send_times_at(data, as_of, timezone=ws.settings.business_timezone, config=config,
                               segments=segments, random_state=seed)
    if out_path is not None:
        write_table(result.table, out_path)
    return result


def describe(row: dict[str, Any]) -> str:
    """One sentence for a customer's send time, as every surface shows it."""
    band = next(f"{lo:02d}:00-{hi - 1:02d}:59" for lo, hi in HOUR_BANDS if lo <= row["best_hour"] < hi)
    return (
        f"{row['best_channel']} on {WEEKDAYS[row['best_weekday']]} at {row['best_hour']:02d}:00 (band {band}, "
        f"confidence {row['confidence']:.0%}, from the {row['source']} pattern)"
    )


def send_time_of(run: RunData, customer_id: str) -> dict[str, Any] | None:
    """The customer's row of the run's send-time table with its sentence; None when the run has no
    send times or no row for them."""
    if not run.has(out.SEND_TIMES):
        return None
    row = run.by_customer(out.SEND_TIMES).get(str(customer_id))
    if row is None:
        return None
    return {**{c: row[c] for c in SEND_TIME_COLUMNS}, "best_weekday_name": WEEKDAYS[int(row["best_weekday"])],
            "summary": describe(row)}


def send_time_summary(run: RunData) -> dict[str, Any] | None:
    """The shop-wide view of the run's send-time table: customers by best channel, by the level the estimate
    came from, and by best weekday x hour band (rows Monday..Sunday, columns :data:`HOUR_BANDS`); with the
    stage's sends and responses. None when the run has no send times."""
    if not run.has(out.SEND_TIMES):
        return None
    table = run.table(out.SEND_TIMES)
    if table.empty:
        return None
    stage = run.info.stage("sendtime")
    metrics = dict(stage.metrics) if stage is not None else {}
    band = pd.cut(table["best_hour"].astype(int), bins=[lo for lo, _ in HOUR_BANDS] + [HOUR_BANDS[-1][1]],
                  right=False, labels=False)
    grid = pd.crosstab(table["best_weekday"].astype(int), band).reindex(index=range(7), columns=range(len(HOUR_BANDS)),
                                                                         fill_value=0)
    return {
        "customers": len(table),
        "by_channel": {str(k): int(v) for k, v in table["best_channel"].value_counts().sort_index().items()},
        "by_source": {str(k): int(v) for k, v in table["source"].value_counts().sort_index().items()},
        "weekday_band": grid.to_numpy(dtype=int).tolist(),
        "weekdays": list(WEEKDAYS),
        "bands": [f"{lo:02d}:00-{hi - 1:02d}:59" for lo, hi in HOUR_BANDS],
        "mean_confidence": float(table["confidence"].mean()),
        "sends": metrics.get("sends"),
        "responses": metrics.get("responses"),
        "timezone": metrics.get("timezone"),
    }


def send_schedule(times: pd.DataFrame, customer_ids: list[str], *, week_of: AsOf, timezone: str) -> pd.DataFrame:
    """A send schedule for the assigned customers: each at their best weekday and hour in the week starting
    on the Monday on or after ``week_of`` (shop time), with the UTC instant and their best channel. A
    customer without a row gets the shop's most common recommendation (source ``global``)."""
    week = pd.Timestamp(week_of).normalize()
    week = week + pd.Timedelta(days=(7 - week.dayofweek) % 7)
    indexed = times.set_index("customer_id")
    if indexed.empty:
        fallback = {"best_weekday": 1, "best_hour": 9, "best_channel": "email", "confidence": 0.0}
    else:
        fallback = {c: indexed[c].mode().iloc[0] for c in ("best_weekday", "best_hour", "best_channel")}
        fallback["confidence"] = 0.0
    rows = []
    for cid in customer_ids:
        row = indexed.loc[cid].to_dict() if cid in indexed.index else {**fallback, "source": "global"}
        local = week + pd.Timedelta(days=int(row["best_weekday"]), hours=int(row["best_hour"]))
        utc = local.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC").tz_localize(None)
        rows.append({"customer_id": cid, "channel": row["best_channel"], "send_at_local": local, "send_at_utc": utc,
                     "confidence": float(row["confidence"]), "source": row["source"]})
    return pd.DataFrame(rows, columns=["customer_id", "channel", "send_at_local", "send_at_utc", "confidence",
                                       "source"])


def plan_schedule(run: RunData, assignments: pd.DataFrame, *, week_of: AsOf, timezone: str) -> pd.DataFrame:
    """The campaign planner's send schedule: every contacted customer of a plan (``assignments`` of
    :class:`~targetwise.usecases.campaigns.PlanOutcome`, holdout and not-contacted left out) at their best
    weekday and hour of the week from ``week_of`` (the run's send times; the shop's most common slot for
    customers without one), with the arm (``action``) and their best channel as advice."""
    from targetwise.campaigns.planner import HOLDOUT, NOT_CONTACTED

    contacted = assignments[~assignments["action"].isin([HOLDOUT, NOT_CONTACTED])]
    times = run.table(out.SEND_TIMES) if run.has(out.SEND_TIMES) else pd.DataFrame(columns=list(SEND_TIME_COLUMNS))
    schedule = send_schedule(times, [str(c) for c in contacted.index], week_of=week_of, timezone=timezone)
    schedule.insert(1, "action", contacted["action"].astype(str).to_numpy())
    return schedule.rename(columns={"channel": "best_channel"})
