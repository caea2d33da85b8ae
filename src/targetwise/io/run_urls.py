"""Run folders at an fsspec URL: publish committed runs, switch the URL's active run, fetch runs back.

A driver that does not last (a cluster job) builds its run in its own workspace as always
(:class:`~targetwise.io.runs.RunStore`), then publishes it; a service elsewhere serves the URL's
active run from a local copy. The layout at the URL is the workspace's::

    URL/R20111209-120000-ab12cd/manifest.json    written last: a run folder without it is incomplete
    URL/R20111209-120000-ab12cd/<stage>/<file>   every file the manifest lists, byte for byte
    URL/ACTIVE                                   the active run's id

Every whole-file replacement at the URL (a manifest, the pointer) is written under a hidden temporary
name and moved over the old one: a rename on a local or mounted disk, a server-side copy on an object
store, whose objects are replaced whole. A reader therefore sees the old pointer or the new one, never a
partial file, and the pointer names only runs whose manifest is already there. Nothing lists, serves or
fetches a run folder without its manifest.

Fetching (:meth:`RunUrlStore.fetch`) copies a run into the local workspace's runs folder, which is the
cache keyed by run id: runs are immutable, so a run fetched once is never fetched again. Each file is
checked against the SHA-256 the manifest records, into a locked staging folder renamed into place only
when complete, so the local store (and the service reading it) sees the whole run or nothing.

URLs are anything fsspec opens: ``file:///mnt/runs``, ``memory://runs`` (one process), ``s3://bucket/runs``
(with ``s3fs``), ``gs://`` (``gcsfs``), ``az://`` / ``abfs://`` (``adlfs``); credentials come from where
that package reads them (environment, config files, instance roles).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from targetwise.errors import ConfigError, NotFoundError, PartialRunError, TargetwiseError, WorkspaceError
from targetwise.io.runs import (
    ACTIVE_FILE,
    STAGING_PREFIX,
    RunInfo,
    RunManifest,
    RunStore,
    _acquire,
    _fsync_dir,
    _fsync_tree,
    _sha256,
)

__all__ = ["PublishResult", "PublishedRun", "RunUrlStore"]

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PublishedRun(RunManifest):
    """A run whose manifest is at the URL (so all of its files are)."""

    run_id: str
    url: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class PublishResult:
    """What :meth:`RunUrlStore.publish` did: ``copied`` files sent, ``unchanged`` when the URL already held
    the run as it is here (nothing sent)."""

    run_id: str
    url: str
    copied: int
    unchanged: bool


def _protocol(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def _open(url: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``url`` and the root path on it; a missing protocol package is one ConfigError."""
    try:
        import fsspec
    except ImportError:
        raise ConfigError(f"the runs URL {url!r} needs fsspec, which is not installed", fix="pip install fsspec") from None
    protocol = _protocol(url)
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        from fsspec.registry import known_implementations

        package = known_implementations.get(protocol, {}).get("class", protocol).split(".")[0]
        raise ConfigError(
            f"the runs URL {url!r} needs the fsspec filesystem for {protocol}://, whose package is not installed",
            fix=f"pip install {package} (and give it credentials the way {package} reads them)",
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"the runs URL {url!r} cannot be opened: {exc}",
            fix="use a local path or an fsspec URL such as file:///mnt/runs, s3://bucket/runs or gs://bucket/runs",
        ) from None


class RunUrlStore:
    """The runs at one fsspec URL: publish, list, get, promote, read the active id, fetch into a local store."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, root = _open(self.url)
        self.root = root.rstrip("/") or "/"

    def _path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _url(self, *parts: str) -> str:
        return "/".join([self.url, *parts])

    def _read(self, path: str) -> bytes | None:
        """The file's bytes, or None if it is not there."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def _replace(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` whole: a hidden temporary file first, then moved over ``path``."""
        parent, name = path.rsplit("/", 1)
        temporary = f"{parent}/.{name}.{uuid.uuid4().hex}.part"
        self.fs.pipe_file(temporary, data)
        try:
            self.fs.mv(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm(temporary)
            raise

    def _put(self, local: Path, path: str) -> None:
        """Copy one run file up (the seam the interrupted-publish test breaks)."""
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), path)

    def _manifest(self, run_id: str) -> dict[str, Any] | None:
        if not _plain_id(run_id):
            return None
        raw = self._read(self._path(run_id, MANIFEST))
        return None if raw is None else json.loads(raw)

    def publish(self, info: RunInfo) -> PublishResult:
        """Copy the committed run ``info`` to ``URL/<run_id>/``: every file its manifest lists, then the manifest.

        Publishing again is safe: a run the URL holds with the same manifest sends nothing, and one it holds
        with another manifest (the run was rewritten here, e.g. by an erasure) sends the files whose SHA-256
        changed, then the manifest. Until the manifest is there the run is not listed and cannot be promoted,
        so an interrupted publish leaves the URL's runs and its active run as they were.
        """
        self._refuse_own_folder(info)
        try:
            local_manifest = (info.path / MANIFEST).read_bytes()
            files: dict[str, str] = json.loads(local_manifest)["files"]
            remote = self._read(self._path(info.run_id, MANIFEST))
            if remote == local_manifest:
                return PublishResult(info.run_id, self._url(info.run_id), copied=0, unchanged=True)
            before: dict[str, str] = json.loads(remote)["files"] if remote else {}
            self.fs.makedirs(self._path(info.run_id), exist_ok=True)  # a run whose stages all skipped has no file
            copied = 0
            for relative, digest in sorted(files.items()):
                if relative == MANIFEST or before.get(relative) == digest:
                    continue
                self._put(info.path / relative, self._path(info.run_id, *PurePosixPath(relative).parts))
                copied += 1
            self._replace(self._path(info.run_id, MANIFEST), local_manifest)
        except OSError as exc:
            raise WorkspaceError(
                f"publishing run {info.run_id} to {self.url} failed: {exc}; the run is committed in {info.path} "
                "and the URL's runs and active run are unchanged",
                fix=f"run `targetwise runs publish {info.run_id} --runs-url {self.url}` (publishing again is safe)",
            ) from None
        return PublishResult(info.run_id, self._url(info.run_id), copied=copied, unchanged=False)

    def _refuse_own_folder(self, info: RunInfo) -> None:
        if _protocol(self.url) == "file" and Path(self.root).resolve() == info.path.parent.resolve():
            raise ConfigError(
                f"the runs URL {self.url!r} is the workspace's own runs folder",
                fix="point TARGETWISE_RUNS_URL / --runs-url at another folder or an object store",
            )

    def list(self) -> list[PublishedRun]:
        """The published runs (those whose manifest is there), oldest first."""
        try:
            self.fs.invalidate_cache(self.root)  # object stores cache listings; a new run must show
            names = sorted(PurePosixPath(entry).name for entry in self.fs.ls(self.root, detail=False))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._unreadable(exc) from None
        runs = []
        for name in names:
            if name == ACTIVE_FILE:
                continue
            try:
                manifest = self._manifest(name)
            except (OSError, IsADirectoryError, NotADirectoryError):
                continue
            if manifest is not None:
                runs.append(PublishedRun(name, self._url(name), manifest))
        return runs

    def get(self, run_id: str) -> PublishedRun:
        try:
            manifest = self._manifest(run_id)
        except OSError as exc:
            raise self._unreadable(exc) from None
        if manifest is None:
            known = ", ".join(r.run_id for r in self.list()[-5:]) or "none yet"
            raise NotFoundError(
                f"run {run_id!r} is not published at {self.url}",
                fix=f"publish it with `targetwise runs publish {run_id} --runs-url {self.url}`; published runs: {known}",
            )
        return PublishedRun(run_id, self._url(run_id), manifest)

    def active_id(self) -> str | None:
        """The URL's active run id (None if none was promoted there)."""
        try:
            raw = self._read(self._path(ACTIVE_FILE))
        except OSError as exc:
            raise self._unreadable(exc) from None
        return (raw or b"").decode("utf-8").strip() or None

    def promote(self, run_id: str, *, partial: bool = False) -> PublishedRun:
        """Make the published run ``run_id`` the URL's active run (refused for a run with a failed stage
        unless ``partial``, as locally); the pointer is replaced whole, after the run's manifest is there."""
        run = self.get(run_id)
        failed = run.failed_stages()
        if failed and not partial:
            raise PartialRunError(
                f"run {run_id} has failed stage(s) {', '.join(failed)}, so it is not promoted at {self.url} by default",
                fix=f"serve it anyway with `targetwise runs publish {run_id} --runs-url {self.url} --promote --partial`",
                details={"run_id": run_id, "failed_stages": failed},
            )
        try:
            self._replace(self._path(ACTIVE_FILE), run_id.encode("utf-8"))
        except OSError as exc:
            raise WorkspaceError(
                f"cannot switch the active run at {self.url} to {run_id}: {exc}; it is unchanged",
                fix=f"check the URL's credentials and permissions, then run `targetwise runs publish {run_id} "
                f"--runs-url {self.url} --promote`",
            ) from None
        return run

    def fetch(self, run_id: str, store: RunStore) -> RunInfo:
        """The published run ``run_id`` in ``store`` (the local cache, keyed by run id), fetched if not there yet.

        Files go into a locked staging folder, each checked against its manifest SHA-256; the manifest is
        written last and the folder renamed into place, so the local store holds the whole run or nothing.
        A run already in ``store`` is never fetched again (runs are immutable).
        """
        if not _plain_id(run_id):
            raise NotFoundError(f"run {run_id!r} not found", fix="a run id is one folder name, e.g. R20111209-120000-ab12cd")
        if (store.root / run_id / MANIFEST).exists():
            return store.get(run_id)
        lock_path = store.lock_path(run_id)
        fd = _acquire(lock_path, wait=True)
        staging = store.root / f"{STAGING_PREFIX}{run_id}"
        try:
            if (store.root / run_id / MANIFEST).exists():  # another process fetched it while we waited
                return store.get(run_id)
            raw = self._read(self._path(run_id, MANIFEST))
            if raw is None:
                self.get(run_id)  # not published: NotFoundError naming the runs that are
            run = PublishedRun(run_id, self._url(run_id), json.loads(raw or b"{}"))
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            self._download(run, staging)
            (staging / MANIFEST).write_bytes(raw or b"")  # the published bytes: the copy equals the original
            _fsync_tree(staging)
            os.rename(staging, store.root / run_id)
            _fsync_dir(store.root)
        except OSError as exc:
            raise WorkspaceError(
                f"fetching run {run_id} from {self.url} into {store.root} failed: {exc}",
                fix="check the URL's credentials and the local disk, then try again (the served run is unchanged)",
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
            os.close(fd)
        return store.get(run_id)

    def _download(self, run: PublishedRun, staging: Path) -> None:
        for relative, digest in sorted(run.manifest.get("files", {}).items()):
            parts = PurePosixPath(relative).parts
            if not parts or relative == MANIFEST or any(p in ("", ".", "..") for p in parts) or relative.startswith("/"):
                raise WorkspaceError(f"run {run.run_id} at {self.url} lists a file outside its folder: {relative!r}")
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self._path(run.run_id, *parts), str(target))
            actual = _sha256(target)
            if actual != digest:
                raise WorkspaceError(
                    f"run {run.run_id} at {self.url}: {relative} does not match its manifest (sha256 {actual[:12]}... "
                    f"instead of {digest[:12]}...), so the run is not fetched",
                    fix=f"publish it again from the driver: `targetwise runs publish {run.run_id} --runs-url {self.url}`",
                )

    def follow(self, store: RunStore, *, seen: str | None = None) -> str | None:
        """Make ``store`` serve the URL's active run: fetch it (once) and switch the local pointer to it.

        Returns the URL's active id. Nothing is done when it equals ``seen`` (the id this caller followed
        last), so a run promoted locally since stays served until the URL's pointer moves. The URL already
        decided to serve the run, so a partial run is promoted locally too.
        """
        run_id = self.active_id()
        if run_id is None or run_id == seen:
            return run_id
        self.fetch(run_id, store)
        if store.active_id() != run_id:
            store.promote(run_id, partial=True)
        return run_id

    def _unreadable(self, exc: OSError) -> TargetwiseError:
        return WorkspaceError(
            f"cannot read the runs at {self.url}: {exc}",
            fix="check the URL, its credentials and the network (the served run is unchanged)",
        )


def _plain_id(run_id: str) -> bool:
    """A run id names one folder: no separators, not hidden."""
    return bool(run_id) and not run_id.startswith(".") and "/" not in run_id and "\\" not in run_id
