"""Keyed pseudonyms and the suppression list: an erased person stays unmarketable if they come back.

After an erasure nothing personal is left, so without a record a re-import of the same person (a
new file from the shop's CRM, say) would be a brand-new customer with every purpose "granted". The
``suppressions`` table keeps, without personal data, a keyed pseudonym of the erased id and of the
normalised e-mail and phone: HMAC-SHA256 under the workspace's secret audit salt
(``artifacts/audit/salt``, mode 0600, shared with the service's audit log), 16 hex characters.
Without the salt, which never leaves the workspace, a pseudonym cannot be reversed or confirmed by
trying plausible ids.

Every later ingest that brings a customer id (or, in ``customer_pii``, an e-mail or phone) whose
pseudonym is on the list writes a denial for every consent purpose into the consent ledger, dated
at the erasure (:func:`apply_suppressions`, inside the ingest's transaction). The ledger's rule,
newest decision wins, then does the rest: models, audiences and exports leave the person out
until a grant recorded *after* the erasure arrives, and a re-imported old grant does not count.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from targetwise.io.workspace import Workspace
from targetwise.schema import CONSENT_PURPOSES

__all__ = [
    "SUPPRESSION_SOURCE",
    "apply_suppressions",
    "audit_salt",
    "erased_among",
    "normalise_contact",
    "pseudonym",
    "record_suppression",
    "salt_in",
    "suppressed_subject",
]

SUPPRESSION_SOURCE = "erasure suppression"
_AUDIT_DIR = "audit"
_KIND_PREFIX = {"customer_id": "customer", "email": "email", "phone": "phone"}


def audit_salt(workspace: Workspace) -> bytes:
    """The workspace's secret audit salt (``artifacts/audit/salt``, 0600), created once by the first caller."""
    return salt_in(workspace.artifacts / _AUDIT_DIR)


def salt_in(folder: Path) -> bytes:
    """The salt of the audit folder ``folder``, created there (0600) if absent."""
    folder.mkdir(parents=True, exist_ok=True)
    salt_file = folder / "salt"
    if not salt_file.exists():
        tmp = folder / f".salt.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, salt_file)  # atomic create-if-absent: the first writer wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    if salt_file.stat().st_mode & 0o077:
        os.chmod(salt_file, 0o600)  # a salt written by an earlier version was world-readable
    return salt_file.read_text().strip().encode()


def _digest(salt: bytes, text: str) -> str:
    return hmac.new(salt, text.encode(), hashlib.sha256).hexdigest()[:16]


def pseudonym(workspace: Workspace, customer_id: str) -> str:
    """``customer:<16 hex>``: the keyed pseudonym of a customer id (the service's audit log uses the same)."""
    return f"customer:{_digest(audit_salt(workspace), customer_id)}"


def normalise_contact(kind: str, value: Any) -> str | None:
    """The form an e-mail or phone is compared in: e-mail trimmed and lower-cased; phone as its digits
    (a leading ``+`` or ``00`` dropped). ``None`` for a blank or unusable value."""
    if value is None or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if kind == "email":
        text = text.lower()
        return text if "@" in text else None
    digits = re.sub(r"\D", "", text)
    if digits.startswith("00"):
        digits = digits[2:]
    return digits if len(digits) >= 6 else None


def suppressed_subject(salt: bytes, kind: str, value: str) -> str:
    """The pseudonym of one normalised value of ``kind`` (customer_id, email or phone)."""
    if kind == "customer_id":
        return f"customer:{_digest(salt, value)}"
    return f"{_KIND_PREFIX[kind]}:{_digest(salt, f'{kind}:{value}')}"


def record_suppression(
    con: Any, salt: bytes, *, customer_id: str, emails: Iterable[str], phones: Iterable[str], erased_at: datetime
) -> int:
    """Add the erased person's pseudonyms to ``suppressions`` (in the caller's transaction); rows added."""
    subjects = {(suppressed_subject(salt, "customer_id", customer_id), "customer_id")}
    for kind, values in (("email", emails), ("phone", phones)):
        for value in values:
            norm = normalise_contact(kind, value)
            if norm:
                subjects.add((suppressed_subject(salt, kind, norm), kind))
    known = {r[0] for r in con.execute("SELECT subject FROM suppressions").fetchall()}
    new = sorted(s for s in subjects if s[0] not in known)
    if new:
        con.executemany("INSERT INTO suppressions VALUES (?, ?, ?)", [[s, k, erased_at] for s, k in new])
    return len(new)


def apply_suppressions(con: Any, salt_folder: Path, table: str, load_id: int) -> int:
    """Deny every purpose, as of the erasure, to the customers of load ``load_id`` who were erased before.

    Runs inside the ingest's transaction; costs one tiny query when nobody was ever erased. A customer
    is matched by the pseudonym of their id, or, in a ``customer_pii`` load, of their e-mail or phone.
    Returns the number of returning people suppressed by this load.
    """
    (count,) = con.execute("SELECT count(*) FROM suppressions").fetchone()
    if not count:
        return 0
    columns = {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    if "customer_id" not in columns:
        return 0
    salt = salt_in(salt_folder)
    erased = {s: at for s, at in con.execute("SELECT subject, max(erased_at) FROM suppressions GROUP BY 1").fetchall()}
    contact = [c for c in ("email", "phone") if table == "customer_pii" and c in columns]
    select = ", ".join(["customer_id", *contact])
    rows = con.execute(
        f'SELECT DISTINCT {select} FROM "{table}" WHERE load_id = ? AND customer_id IS NOT NULL', [load_id]
    ).fetchall()
    since: dict[str, datetime] = {}
    for row in rows:
        customer = row[0]
        hits = [erased.get(suppressed_subject(salt, "customer_id", customer))]
        for kind, value in zip(contact, row[1:], strict=True):
            norm = normalise_contact(kind, value)
            if norm:
                hits.append(erased.get(suppressed_subject(salt, kind, norm)))
        found = [h for h in hits if h is not None]
        if found:
            since[customer] = max([*found, since.get(customer, found[0])])
    if not since:
        return 0
    # a denial already written for this erasure (an earlier file of the same person) is not repeated
    already = {
        (c, p, at)
        for c, p, at in con.execute(
            "SELECT customer_id, purpose, recorded_at FROM consent WHERE source = ? AND customer_id IN "
            "(SELECT unnest(?))",
            [SUPPRESSION_SOURCE, sorted(since)],
        ).fetchall()
    }
    rows_out = [
        [customer, purpose, "denied", at, SUPPRESSION_SOURCE, load_id, 0]
        for customer, at in sorted(since.items())
        for purpose in CONSENT_PURPOSES
        if (customer, purpose, at) not in already
    ]
    if rows_out:
        con.executemany(
            "INSERT INTO consent (customer_id, purpose, status, recorded_at, source, load_id, source_row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows_out,
        )
    return len(since)


def erased_without_trace(workspace: Workspace, customer_id: str) -> bool:
    """Whether ``customer_id`` was erased and no row of theirs has come back since."""
    with workspace.connect(read_only=True) as con:
        (count,) = con.execute("SELECT count(*) FROM suppressions").fetchone()
        if not count:
            return False
        subject = suppressed_subject(audit_salt(workspace), "customer_id", customer_id)
        listed = con.execute("SELECT 1 FROM suppressions WHERE subject = ?", [subject]).fetchone()
        if listed is None:
            return False
        tables = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT table_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND column_name = 'customer_id'"
            ).fetchall()
        ]
        for table in tables:
            if con.execute(f'SELECT 1 FROM "{table}" WHERE customer_id = ? LIMIT 1', [customer_id]).fetchone():
                return False
    return True


def erased_among(workspace: Workspace, customer_ids: Iterable[str]) -> set[str]:
    """The ids of ``customer_ids`` that belong to erased people (their pseudonym is in ``suppressions``).

    One query for the whole list (an uploaded id file): the ids are compared by pseudonym, never stored.
    """
    ids = sorted({str(i) for i in customer_ids})
    if not ids:
        return set()
    with workspace.connect(read_only=True) as con:
        (count,) = con.execute("SELECT count(*) FROM suppressions WHERE kind = 'customer_id'").fetchone()
        if not count:
            return set()
        listed = {r[0] for r in con.execute("SELECT subject FROM suppressions WHERE kind = 'customer_id'").fetchall()}
    salt = audit_salt(workspace)
    return {i for i in ids if suppressed_subject(salt, "customer_id", i) in listed}
