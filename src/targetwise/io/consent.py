"""Consent ledger queries: the newest decision per customer and purpose wins."""

from __future__ import annotations

from targetwise.errors import ConfigError
from targetwise.io.workspace import Workspace
from targetwise.schema import CONSENT_PURPOSES

__all__ = ["consent_status", "opted_out"]


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
        rows = con.execute(
            """
            SELECT customer_id FROM (
                SELECT customer_id, status,
                       row_number() OVER (PARTITION BY customer_id ORDER BY recorded_at DESC, load_id DESC, source_row DESC) AS rn
                FROM consent WHERE purpose = ?)
            WHERE rn = 1 AND status IN ('denied', 'revoked')
            """,
            [purpose],
        ).fetchall()
    return {r[0] for r in rows}


def consent_status(workspace: Workspace, customer_id: str) -> dict[str, str]:
    """Latest status per purpose for one customer ('granted' when nothing is recorded)."""
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
