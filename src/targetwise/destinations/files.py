"""The files destination: one CSV or Parquet file per delta and action, and a manifest per delta.

For version ``n`` of a live audience synced by sync ``S`` the folder receives
``S-v<n>-p<plan>-add-00000.csv`` (and ``-remove-``; one file per batch, named by its idempotency
key), each with the columns ``customer_id`` (and ``email_sha256`` with ``hash_email=yes``), and per
delta ``S-v<n>-p<plan>-manifest.json``:
``{"sync_id", "audience", "audience_id", "version", "files": [{"file", "action", "rows", "sha256"}]}``
(the manifest is rewritten as each file lands, the data file first, so a manifest never names a
missing file). The folder is a local path or an fsspec URL (``s3://bucket/drops``; needs the
filesystem's package, e.g. ``s3fs``). Re-sending a batch rewrites the same file: idempotent.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import httpx
import pandas as pd

from targetwise._dtypes import STRING_DTYPE
from targetwise.destinations import _options
from targetwise.destinations.base import Batch, BatchResult, Destination
from targetwise.errors import ConfigError
from targetwise.identifiers import normalise_email, sha256_hex

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["FORMATS", "FilesDestination"]

FORMATS = ("csv", "parquet")


def _frame(batch: Batch, hash_email: bool) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": pd.Series([m.customer_id for m in batch.members], dtype=STRING_DTYPE)})
    if hash_email:
        hashes = [None if m.email is None else sha256_hex(normalise_email(m.email, "meta")) for m in batch.members]
        frame["email_sha256"] = pd.Series(hashes, dtype=STRING_DTYPE)
    return frame


def _encode(frame: pd.DataFrame, file_format: str) -> bytes:
    buffer = io.BytesIO()
    if file_format == "csv":
        buffer.write(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    else:
        frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


class _Folder:
    """A local folder or an fsspec URL, written atomically file by file (write to .part, then rename)."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/")
        self.remote = "://" in location and not location.startswith("file://")

    def _fs(self):
        try:
            import fsspec
        except ImportError:  # pragma: no cover - fsspec ships with the default install's dependencies
            raise ConfigError(
                f"files destination: {self.location!r} is a URL and fsspec is not installed",
                fix="pip install fsspec plus the filesystem's package (e.g. s3fs), or pass a local folder",
            ) from None
        return fsspec.core.url_to_fs(self.location)

    def write(self, name: str, data: bytes) -> None:
        if self.remote:
            fs, root = self._fs()
            fs.makedirs(root, exist_ok=True)
            with fs.open(f"{root}/{name}", "wb") as handle:
                handle.write(data)
            return
        folder = Path(self.location.removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{name}.part"
        part.write_bytes(data)
        part.replace(folder / name)

    def read(self, name: str) -> bytes | None:
        if self.remote:
            fs, root = self._fs()
            path = f"{root}/{name}"
            return fs.cat_file(path) if fs.exists(path) else None
        path = Path(self.location.removeprefix("file://")) / name
        return path.read_bytes() if path.exists() else None


class FilesDestination(Destination):
    kind: ClassVar[str] = "files"
    max_batch_size: ClassVar[int] = 1_000_000
    needs: ClassVar[frozenset[str]] = frozenset()  # e-mail only with hash_email=yes (an instance attribute then)
    consent_purpose: ClassVar[str] = "email"  # default; the `purpose` option sets it per sync

    def __init__(self, *, path: str, file_format: str = "csv", hash_email: bool = False, purpose: str = "email") -> None:
        self.path = path
        self.file_format = file_format
        self.hash_email = hash_email
        self.consent_purpose = purpose  # type: ignore[misc]
        self.needs = frozenset({"email"}) if hash_email else frozenset()  # type: ignore[misc]
        self.folder = _Folder(path)

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> FilesDestination:
        kind = cls.kind
        _options.check_known(kind, options, {"path", "format", "hash_email", "purpose"})
        path = _options.required(kind, options, "path", "pass --path DIR (a folder, or an fsspec URL like s3://bucket/drops)")
        file_format = (options.get("format") or "csv").strip().lower()
        if file_format not in FORMATS:
            raise ConfigError(
                f"files destination: --format {options.get('format')!r} is not supported; expected one of {list(FORMATS)}",
                fix="pass --format csv or --format parquet",
            )
        if "://" not in path and Path(path).exists() and not Path(path).is_dir():
            raise ConfigError(f"files destination: --path {path!r} is a file, not a folder", fix="pass a folder")
        return cls(
            path=path,
            file_format=file_format,
            hash_email=_options.flag(kind, options, "hash_email", default=False),
            purpose=_options.purpose(kind, options, default=cls.consent_purpose),
        )

    def describe(self) -> dict[str, str]:
        return {
            "path": self.path,
            "format": self.file_format,
            "hash_email": "yes" if self.hash_email else "no",
            "purpose": self.consent_purpose,
        }

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        name = f"{batch.idempotency_key}.{self.file_format}"
        data = _encode(_frame(batch, self.hash_email), self.file_format)
        try:
            self.folder.write(name, data)
            # one manifest per delta: the key without "-<action>-<index>" ("<sync>-v<version>-p<plan>")
            delta = batch.idempotency_key.rsplit("-", 2)[0]
            manifest_name = f"{delta}-manifest.json"
            old = self.folder.read(manifest_name)
            manifest = json.loads(old) if old else {
                "sync_id": batch.sync_id,
                "audience": batch.audience_name,
                "audience_id": batch.audience_id,
                "version": batch.version,
                "format": self.file_format,
                "files": [],
            }
            entry = {"file": name, "action": batch.action, "rows": len(batch.members),
                     "sha256": hashlib.sha256(data).hexdigest()}
            manifest["files"] = [f for f in manifest["files"] if f["file"] != name] + [entry]
            manifest["files"].sort(key=lambda f: f["file"])
            manifest["counts"] = {
                action: sum(f["rows"] for f in manifest["files"] if f["action"] == action) for action in ("add", "remove")
            }
            self.folder.write(manifest_name, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
        except OSError as error:
            return BatchResult(status="dead_letter", applied=0, attempts=1, detail=f"write failed ({type(error).__name__})")
        return BatchResult(status="ok", applied=len(batch.members), attempts=1, detail=f"wrote {name}")
