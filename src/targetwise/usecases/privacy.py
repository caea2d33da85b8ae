"""Use cases: erase a customer, record and read consent (the ledger and erasure live in io)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from targetwise.io import consent
from targetwise.io.erasure import ErasureReceipt, erase_customer, pseudonym
from targetwise.io.ingest import IngestSummary
from targetwise.io.run_urls import erase_published
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

__all__ = ["ConsentOf", "consent_of", "erase", "set_consent"]


def erase(ws: Workspace, customer_id: str, *, actor: str) -> ErasureReceipt:
    """Remove exactly this customer everywhere (tables, quarantine, run outputs, audiences, reports).

    With a runs URL (``ws.settings.runs_url``) the runs published there are erased too: those held only
    there are fetched first, and every rewritten run is published again; ``receipt.runs_at_url`` says
    whether that is complete and, if not, which runs there still hold the person (retrying is safe).
    """
    if not ws.settings.runs_url:
        return erase_customer(ws, customer_id, actor=actor)
    receipts: list[ErasureReceipt] = []

    def erase_here() -> list[str]:
        receipts.append(erase_customer(ws, customer_id, actor=actor))
        return receipts[0].runs_rewritten

    subject = pseudonym(ws, str(customer_id).strip())
    at_url = erase_published(RunStore(ws), ws.settings.runs_url, erase_here, subject=subject)
    receipt = receipts[0] if receipts else ErasureReceipt(  # done here by an earlier attempt: the URL's part only
        subject=subject, erased_at=datetime.now(UTC).isoformat(timespec="seconds"), actor=actor
    )
    return replace(receipt, runs_at_url=at_url)


def set_consent(ws: Workspace, customer_id: str, *, purpose: str, status: str, source: str) -> IngestSummary:
    """Append a decision to the consent ledger (validated and atomic, like an ingest)."""
    return consent.record_consent(ws, customer_id, purpose=purpose, status=status, source=source)


@dataclass(frozen=True)
class ConsentOf:
    customer_id: str
    status: dict[str, str]
    history: list[dict[str, Any]]


def consent_of(ws: Workspace, customer_id: str) -> ConsentOf:
    """The customer's current decision per purpose and the whole history (ErasedError if erased)."""
    return ConsentOf(customer_id, consent.consent_status(ws, customer_id), consent.consent_history(ws, customer_id))
