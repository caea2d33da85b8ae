"""Materialised audiences: named, versioned, immutable files under ``artifacts/audiences/``.

Each saved audience is two files: ``<slug>-v<N>.parquet`` (the member ids) and
``<slug>-v<N>.json`` (definition, run, size, author key id, consent exclusions).
The JSON file is written last, by an atomic rename, so an audience exists
exactly when its JSON exists. Saving the same name again creates version N+1;
old versions are never rewritten.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from targetwise.errors import NotFoundError, WorkspaceError
from targetwise.io.workspace import Workspace

__all__ = ["AudienceRecord", "AudienceStore"]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}-v[0-9]{1,6}$")
_SAVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class AudienceRecord:
    """What a saved audience is: its id, the definition and where it came from."""

    id: str
    name: str
    version: int
    size: int
    run_id: str
    definition: list[dict[str, Any]]
    excluded: dict[str, int]
    created_at: str
    created_by: str | None
    #: where the members came from when not from conditions alone: ``{"kind": "ids", "file", ...}`` for an
    #: uploaded id list, ``{"kind": "lookalike", "seed", "size", "method", ...}`` for a lookalike (None: conditions)
    source: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AudienceStore:
    """Save, list and read audiences of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.root = workspace.artifacts / "audiences"
        self.root.mkdir(parents=True, exist_ok=True)

    def save(
        self,
        *,
        slug: str,
        name: str,
        members: list[str],
        run_id: str,
        definition: list[dict[str, Any]],
        excluded: dict[str, int],
        created_by: str | None,
        source: dict[str, Any] | None = None,
    ) -> AudienceRecord:
        """Write a new version of audience ``slug`` (atomic: both files or neither)."""
        with _SAVE_LOCK:
            version = 1 + max((r.version for r in self.list() if r.id.rsplit("-v", 1)[0] == slug), default=0)
            audience_id = f"{slug}-v{version}"
            record = AudienceRecord(
                id=audience_id,
                name=name,
                version=version,
                size=len(members),
                run_id=run_id,
                definition=definition,
                excluded=excluded,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                created_by=created_by,
                source=source,
            )
            token = uuid.uuid4().hex
            tmp_members = self.root / f".{audience_id}.{token}.parquet"
            tmp_meta = self.root / f".{audience_id}.{token}.json"
            try:
                pd.DataFrame({"customer_id": pd.Series(members, dtype=object)}).to_parquet(tmp_members, index=False)
                tmp_meta.write_text(json.dumps(record.to_dict(), indent=2), encoding="utf-8")
                os.replace(tmp_members, self.root / f"{audience_id}.parquet")
                os.replace(tmp_meta, self.root / f"{audience_id}.json")
            except OSError as exc:
                for tmp in (tmp_members, tmp_meta):
                    tmp.unlink(missing_ok=True)
                raise WorkspaceError(
                    f"cannot save audience {audience_id}: {exc.strerror}", fix=f"check that {self.root} is writable"
                ) from None
        return record

    def list(self) -> list[AudienceRecord]:
        records = []
        for path in sorted(self.root.glob("*.json")):
            if path.name.startswith("."):
                continue
            records.append(AudienceRecord(**json.loads(path.read_text(encoding="utf-8"))))
        return sorted(records, key=lambda r: (r.created_at, r.id))

    def get(self, audience_id: str) -> AudienceRecord:
        path = self._path(audience_id, ".json")
        return AudienceRecord(**json.loads(path.read_text(encoding="utf-8")))

    def members(self, audience_id: str) -> list[str]:
        path = self._path(audience_id, ".parquet")
        return [str(v) for v in pd.read_parquet(path)["customer_id"]]

    def _path(self, audience_id: str, suffix: str) -> Path:
        path = self.root / f"{audience_id}{suffix}"
        if not _ID.match(audience_id) or not (self.root / f"{audience_id}.json").exists():
            recent = ", ".join(r.id for r in self.list()[-5:]) or "none yet"
            raise NotFoundError(
                f"audience {audience_id!r} not found", fix=f"create it with POST /v1/audiences; recent: {recent}"
            )
        return path
