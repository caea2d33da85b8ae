"""Audit log: who (which key) read or exported what, append-only, queryable by admins.

One JSON object per line in ``artifacts/audit/audit.jsonl``, appended with
``O_APPEND`` under a process lock (one ``write`` per entry, so entries never
interleave). Entries hold the key id, never the key; the route template, never
the raw path; and a customer id only as a keyed pseudonym
(HMAC-SHA256 with the workspace's own random ``audit/salt``, 16 hex
characters; the salt comes from :func:`targetwise.io.suppression.audit_salt`,
the one place it is created, so erasure and suppression compute the same
pseudonyms), so erasing a customer leaves no trace of the id in the log while
an admin can still find every access to one customer by computing the same
pseudonym (:meth:`AuditLog.pseudonym`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from targetwise.io.suppression import audit_salt
from targetwise.io.workspace import Workspace

__all__ = ["AuditEntry", "AuditLog"]


@dataclass(frozen=True)
class AuditEntry:
    """One access: when, which key, which action on which route, the outcome."""

    at: str
    key_id: str | None
    action: str
    method: str
    route: str
    status: int
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """Append and query the workspace's audit log."""

    def __init__(self, workspace: Workspace) -> None:
        self.folder = workspace.artifacts / "audit"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "audit.jsonl"
        self._lock = threading.Lock()
        self._salt = audit_salt(workspace)  # created 0600 once, shared with erasure and suppression

    def pseudonym(self, customer_id: str) -> str:
        """The keyed pseudonym under which ``customer_id`` appears in this log."""
        return hmac.new(self._salt, customer_id.encode(), hashlib.sha256).hexdigest()[:16]

    def record(
        self,
        *,
        key_id: str | None,
        action: str,
        method: str,
        route: str,
        status: int,
        customer_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            key_id=key_id,
            action=action,
            method=method,
            route=route,
            status=status,
            subject=None if customer_id is None else f"customer:{self.pseudonym(customer_id)}",
            details=details or {},
        )
        line = (json.dumps(asdict(entry), separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return entry

    def query(
        self,
        *,
        key_id: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, list[AuditEntry]]:
        """Matching entries, newest first: (total matching, the page)."""
        if not self.path.exists():
            return 0, []
        matched: list[AuditEntry] = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    continue  # a line being written right now
                raw = json.loads(line)
                if key_id is not None and raw["key_id"] != key_id:
                    continue
                if action is not None and raw["action"] != action:
                    continue
                if subject is not None and raw.get("subject") != subject:
                    continue
                if since is not None and raw["at"] < since:
                    continue
                matched.append(AuditEntry(**raw))
        matched.reverse()
        return len(matched), matched[offset : offset + limit]
