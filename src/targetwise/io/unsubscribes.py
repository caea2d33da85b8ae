"""An unsubscribe in the engagement log suppresses that channel for that customer at once.

Channel opt-outs live in the consent ledger (purposes ``email``, ``sms``, ``ads``; newest decision wins),
and every use case that contacts people reads them through :func:`targetwise.io.consent.opted_out`. So an
ingested ``unsubscribe`` event of one of those channels writes, inside the same ingest transaction, a
``revoked`` decision for that purpose dated at the event (source ``engagement unsubscribe``): the next
campaign plan or audience export leaves the person out of that channel, and a grant recorded after it
brings them back. Channels without a consent purpose (push, web, other) have no opt-out to record; the
ingest says how many such unsubscribes it saw.
"""

from __future__ import annotations

from typing import Any

from targetwise.schema import CONSENT_PURPOSES

__all__ = ["UNSUBSCRIBE_SOURCE", "apply_unsubscribes"]

UNSUBSCRIBE_SOURCE = "engagement unsubscribe"


def apply_unsubscribes(con: Any, load_id: int) -> tuple[int, int]:
    """Record a revocation for every unsubscribe of load ``load_id`` on a consent channel.

    Returns (revocations written, unsubscribes on channels without a consent purpose). An unsubscribe
    already recorded (same customer, purpose and time, from an earlier load) is not written again.
    """
    purposes = [c for c in CONSENT_PURPOSES if c != "profiling"]
    rows = con.execute(
        "SELECT customer_id, channel, min(occurred_at) FROM engagements "
        "WHERE load_id = ? AND event = 'unsubscribe' GROUP BY customer_id, channel ORDER BY 1, 2",
        [load_id],
    ).fetchall()
    if not rows:
        return 0, 0
    already = {
        (c, p, at)
        for c, p, at in con.execute(
            "SELECT customer_id, purpose, recorded_at FROM consent WHERE source = ?", [UNSUBSCRIBE_SOURCE]
        ).fetchall()
    }
    out = [
        [customer, channel, "revoked", at, UNSUBSCRIBE_SOURCE, load_id, 0]
        for customer, channel, at in rows
        if channel in purposes and (customer, channel, at) not in already
    ]
    if out:
        con.executemany(
            "INSERT INTO consent (customer_id, purpose, status, recorded_at, source, load_id, source_row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            out,
        )
    return len(out), sum(1 for _, channel, _ in rows if channel not in purposes)
