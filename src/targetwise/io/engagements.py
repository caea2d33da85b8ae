"""Named reads of the engagement log: sends with whether a person answered them, and the log's quality.

A response is a human ``open`` or ``click`` (``is_machine`` true is a privacy proxy or scanner, never a
response). It is matched to its send by ``message_id`` (same customer and channel); a response without
a message id goes to the same customer's latest earlier send on the same channel, if that send was at
most :data:`MATCH_DAYS` days before it. Events of either kind without a matching send are counted by
:func:`engagement_quality` ("events without a matching send").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

__all__ = ["MATCH_DAYS", "engagement_quality", "send_responses"]

MATCH_DAYS = 7

_MATCHED = """
WITH s AS (
    SELECT customer_id, channel, message_id, occurred_at AS sent_at,
           row_number() OVER (ORDER BY customer_id, channel, occurred_at, message_id) AS send_no
    FROM {table} WHERE event = 'sent' {where}),
r AS (
    SELECT customer_id, channel, message_id, occurred_at, event FROM {table}
    WHERE event IN ('open', 'click') AND NOT coalesce(is_machine, false) {where}),
by_id AS (
    SELECT DISTINCT s.send_no FROM r JOIN s
      ON r.message_id = s.message_id AND r.customer_id = s.customer_id AND r.channel = s.channel
    WHERE r.occurred_at >= s.sent_at),
by_time AS (
    SELECT r.occurred_at, s.send_no, s.sent_at FROM (SELECT * FROM r WHERE message_id IS NULL) r
    ASOF JOIN s ON r.customer_id = s.customer_id AND r.channel = s.channel AND r.occurred_at >= s.sent_at),
answered AS (
    SELECT send_no FROM by_id
    UNION SELECT send_no FROM by_time WHERE occurred_at - sent_at <= INTERVAL {days} DAY)
"""


def _ts(value: date | datetime | str | pd.Timestamp) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def send_responses(con: Any, *, before: date | datetime | str | None = None, table: str = "engagements") -> pd.DataFrame:
    """One row per send before ``before`` (sends and responses both before it): ``customer_id, channel,
    sent_at`` (naive UTC) and ``responded`` (a human open or click matched to it), ordered."""
    where, params = ("", []) if before is None else ("AND occurred_at < ?", [_ts(before)])
    sql = _MATCHED.format(table=table, where=where, days=MATCH_DAYS) + (
        "SELECT s.customer_id, s.channel, s.sent_at, s.send_no IN (SELECT send_no FROM answered) AS responded "
        "FROM s ORDER BY s.send_no"
    )
    return con.execute(sql, params * 2).df()


def engagement_quality(con: Any, *, table: str = "engagements") -> dict[str, Any]:
    """The log's quality as the profile shows it: events by kind, per channel the sends and the human
    open rate (messages with a human open / delivered sends, bounces left out), the machine-open share
    (machine opens / all opens) and the opens and clicks without a matching send."""
    (events, customers, opens, machine, clicks, first, last) = con.execute(
        f"SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (event = 'open'), "
        f"count(*) FILTER (event = 'open' AND coalesce(is_machine, false)), count(*) FILTER (event = 'click'), "
        f"min(occurred_at), max(occurred_at) FROM {table}"
    ).fetchone()
    channels = con.execute(
        f"""
        WITH m AS (
            SELECT channel, message_id, customer_id,
                   bool_or(event = 'sent') AS sent, bool_or(event = 'bounce') AS bounced,
                   bool_or(event = 'open' AND NOT coalesce(is_machine, false)) AS opened,
                   bool_or(event = 'click') AS clicked
            FROM {table} WHERE message_id IS NOT NULL GROUP BY 1, 2, 3)
        SELECT channel, count(*) FILTER (sent) AS sends,
               count(*) FILTER (sent AND NOT bounced) AS delivered,
               count(*) FILTER (sent AND NOT bounced AND opened) AS opened,
               count(*) FILTER (sent AND NOT bounced AND clicked) AS clicked
        FROM m GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    unmatched_sql = _MATCHED.format(table=table, where="", days=MATCH_DAYS) + f"""
        SELECT count(*) FROM r
        WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.message_id = r.message_id AND s.customer_id = r.customer_id
                                            AND s.channel = r.channel AND s.sent_at <= r.occurred_at)
          AND NOT EXISTS (SELECT 1 FROM s WHERE r.message_id IS NULL AND s.customer_id = r.customer_id
                          AND s.channel = r.channel AND s.sent_at <= r.occurred_at
                          AND r.occurred_at - s.sent_at <= INTERVAL {MATCH_DAYS} DAY)
    """
    (unmatched,) = con.execute(unmatched_sql).fetchone()
    return {
        "events": int(events),
        "customers": int(customers),
        "first_at": first,
        "last_at": last,
        "opens": int(opens),
        "machine_opens": int(machine),
        "machine_open_share": machine / opens if opens else 0.0,
        "clicks": int(clicks),
        "unmatched_responses": int(unmatched),
        "by_channel": [
            {
                "channel": ch,
                "sends": int(s),
                "delivered": int(d),
                "open_rate": o / d if d else 0.0,
                "click_rate": c / d if d else 0.0,
            }
            for ch, s, d, o, c in channels
        ],
    }
