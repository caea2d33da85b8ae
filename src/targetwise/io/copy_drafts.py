"""Campaign copy drafts: one JSON file per generated set under ``artifacts/copy/``, and the brand rules file.

A set holds the brief, the facts sheet it was written from (aggregates only), the
brand rules' source and each variant with its lint result and ``status``
(``draft`` until approved, then ``approved`` with who and when). Files are written
by an atomic rename under a process lock, so a reader sees a whole set or none,
and two approvals never lose one another.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from targetwise.errors import ConfigError, NotFoundError, WorkspaceError
from targetwise.io.workspace import Workspace

__all__ = ["BRAND_FILE", "CopyStore", "read_brand_text"]

BRAND_FILE = "brand.toml"
_ID = re.compile(r"^copy-\d{8}-[0-9a-f]{8}$")
_LOCK = threading.Lock()


def read_brand_text(path: Path) -> str:
    """The text of a brand rules file (ConfigError naming the path when it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"brand rules file {path} does not exist",
                          fix="pass --brand FILE (see examples/brand.toml), or put brand.toml in the workspace") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read brand rules file {path}: {exc}", fix="check the path and that it is UTF-8 "
                          "TOML") from None


class CopyStore:
    """Save, list, read and update the copy sets of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.artifacts / "copy"

    def brand_path(self) -> Path:
        """Where the workspace's own brand rules live (used when no file is given)."""
        return self.workspace.path / BRAND_FILE

    def new_id(self) -> str:
        return f"copy-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"

    def save(self, record: dict[str, Any]) -> dict[str, Any]:
        with _LOCK:
            self._write(record)
        return record

    def list(self) -> list[dict[str, Any]]:
        if not self.root.exists():
            return []
        found = [json.loads(p.read_text(encoding="utf-8")) for p in self.root.glob("copy-*.json")]
        return sorted(found, key=lambda r: (r["created_at"], r["id"]))

    def get(self, copy_id: str) -> dict[str, Any]:
        path = self.root / f"{copy_id}.json"
        if not _ID.match(copy_id) or not path.exists():
            recent = ", ".join(r["id"] for r in self.list()[-5:]) or "none yet"
            raise NotFoundError(f"copy set {copy_id!r} not found",
                                fix=f"generate one with `targetwise campaign copy`; recent: {recent}")
        return json.loads(path.read_text(encoding="utf-8"))

    def update(self, copy_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Apply ``change`` to the stored set and write the result (read, change and write under one lock)."""
        with _LOCK:
            record = change(self.get(copy_id))
            self._write(record)
        return record

    def _write(self, record: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{record['id']}.json"
        tmp = self.root / f".{record['id']}.{secrets.token_hex(4)}.json"
        try:
            tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise WorkspaceError(f"cannot save copy set {record['id']}: {exc.strerror}",
                                 fix=f"check that {self.root} is writable") from None
