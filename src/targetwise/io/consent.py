"""Consent ledger: record decisions, and query them (the newest decision per customer and purpose wins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from targetwise.errors import ConfigError, DataValidationError, ErasedError
from targetwise.io.modeldata import LATEST_DENIALS_SQL
from targetwise.io.workspace import Workspace
from targetwise.schema import CONSENT_PURPOSES, CONSENT_STATUSES

__all__ = ["consent_history", "consent_status", "opted_out", "record_consent"]


def _check_purpose(purpose: str) -> None:
    if purpose not in CONSENT_PURPOSES:
        raise ConfigError(f"unknown consent purpose {purpose!r}", fix=f"use one of: {', '.join(CONSENT_PURPOSES)}")


def opted_out(workspace: Workspace, purpose: str) -> set[str]:
    """Customers whose latest decision for ``purpose`` is denied or revoked.

    No record means no objection (the shop's lawful basis applies); an explicit
    denial or revocation always wins until a newer grant replaces it.
    """
    _check_purpose(purpose)
    with workspace.connect(read_only=True) as con:
        rows = con.execute(LATEST_DENIALS_SQL.format(consent="consent"), [purpose]).fetchall()
    return {r[0] for r in rows}


def _refuse_erased(workspace: Workspace, customer_id: str) -> None:
    from targetwise.io.suppression import erased_without_trace

    if erased_without_trace(workspace, customer_id):
        raise ErasedError(
            f"customer {customer_id!r} was erased: nothing of them is kept, and they are suppressed if they come back",
            fix="nothing to do; a re-imported record of this person stays unmarketable until they give consent again",
        )


def consent_status(workspace: Workspace, customer_id: str) -> dict[str, str]:
    """Latest status per purpose for one customer ('granted' when nothing is recorded).

    Raises :class:`~targetwise.errors.ErasedError` (404, code ``erased``) for a customer who was erased
    and has not come back: "granted" would be false, and a re-import would be marketed to.
    """
    _refuse_erased(workspace, customer_id)
    with workspace.connect(read_only=True) as con:
        rows = con.execute(
            """
            SELECT purpose, arg_max(status, recorded_at) FROM consent WHERE customer_id = ? GROUP BY purpose
            """,
            [customer_id],
        ).fetchall()
    status = dict.fromkeys(CONSENT_PURPOSES, "granted")
    status.update({p: s for p, s in rows})
    return status


def record_consent(
    workspace: Workspace,
    customer_id: str,
    *,
    purpose: str,
    status: str,
    source: str,
    recorded_at: datetime | None = None,
) -> Any:
    """Append one decision to the ledger through the ingest (validated, atomic, with a load id).

    ``recorded_at`` defaults to now (UTC, microseconds, so two decisions in the
    same second keep their order); a naive value is read as UTC. Returns the :class:`IngestSummary`.
    """
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.readers import source_from_frame

    _check_purpose(purpose)
    if status not in CONSENT_STATUSES:
        raise DataValidationError(
            f"unknown consent status {status!r}", fix=f"use one of: {', '.join(CONSENT_STATUSES)}"
        )
    customer_id = str(customer_id).strip()
    if not customer_id:
        raise DataValidationError("the customer id is empty", fix="pass the customer's id")
    now = datetime.now(UTC)
    when = recorded_at or now
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)  # naive means UTC
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([customer_id], dtype=object),
            "purpose": pd.Series([purpose], dtype=object),
            "status": pd.Series([status], dtype=object),
            "recorded_at": pd.Series([pd.Timestamp(when)]),
            "source": pd.Series([source], dtype=object),
        }
    )
    # the ingest's future-date check works at whole seconds; the decision keeps its microseconds
    return ingest_arrow(
        workspace, "consent", source_from_frame(frame, name=f"consent:{source}"), now=now + timedelta(seconds=1)
    )


def consent_history(workspace: Workspace, customer_id: str) -> list[dict[str, Any]]:
    """Every recorded decision of one customer, oldest first (recorded_at is naive UTC)."""
    _refuse_erased(workspace, customer_id)
    with workspace.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT purpose, status, recorded_at, source, load_id FROM consent WHERE customer_id = ? "
            "ORDER BY recorded_at, load_id, source_row",
            [customer_id],
        ).fetchall()
    return [
        {"purpose": p, "status": s, "recorded_at": r.isoformat() if r else None, "source": src, "load_id": lid}
        for p, s, r, src, lid in rows
    ]
