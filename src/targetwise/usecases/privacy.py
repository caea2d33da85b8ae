"""Use cases: erase a customer, record and read consent (the ledger and erasure live in io)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from targetwise.io import consent
from targetwise.io.erasure import ErasureReceipt, erase_customer
from targetwise.io.ingest import IngestSummary
from targetwise.io.workspace import Workspace

__all__ = ["ConsentOf", "consent_of", "erase", "set_consent"]


def erase(ws: Workspace, customer_id: str, *, actor: str) -> ErasureReceipt:
    """Remove exactly this customer everywhere (tables, quarantine, run outputs, audiences, reports)."""
    return erase_customer(ws, customer_id, actor=actor)


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
