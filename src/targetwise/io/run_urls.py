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
cache keyed by run id and manifest: runs are immutable except for erasure, so a run fetched once is fetched
again only when its manifest at the URL changed. Each file is checked against the SHA-256 the manifest
records, into a locked staging folder renamed into place only when complete, so the local store (and the
service reading it) sees the whole run or nothing.

Erasure (:func:`targetwise.io.erasure.erase_customer`) rewrites run files and manifests; publishing the
run again sends the files whose SHA-256 changed, removes those the manifest dropped, writes the manifest
last and then records the run's new manifest hash in ``URL/REWRITTEN`` (a JSON object, run id -> SHA-256),
which a service reads at each poll: when it changed, every cached run whose manifest differs from the URL's
is fetched again. A publish never replaces a copy at the URL that records an erasure this copy lacks (that
would bring the person back). Runs the erasure rewrote whose copy at the URL could not be replaced yet are
listed in the runs folder's ``.unpublished-erasures.json`` until a publish of them succeeds
(:func:`erase_published`).

URLs are anything fsspec opens: ``file:///mnt/runs``, ``memory://runs`` (one process), ``s3://bucket/runs``
(with ``s3fs``), ``gs://`` (``gcsfs``), ``az://`` / ``abfs://`` (``adlfs``); credentials come from where
that package reads them (environment, config files, instance roles).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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

__all__ = ["PublishResult", "PublishedErasure", "PublishedRun", "RunUrlStore", "erase_published", "unpublished_runs"]

MANIFEST = "manifest.json"
REWRITTEN_FILE = "REWRITTEN"  # run id -> SHA-256 of its manifest, for runs rewritten after they were published
UNPUBLISHED = ".unpublished-erasures.json"  # in the local runs folder: url -> runs whose copy there is stale


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
        changed, removes those the manifest no longer lists, replaces the manifest and then records its hash
        in ``URL/REWRITTEN`` (services fetch it again). Until the manifest is there the run is not listed and
        cannot be promoted, so an interrupted publish leaves the URL's runs and its active run as they were.
        A copy at the URL that records an erasure this one lacks is never replaced (WorkspaceError).
        """
        self._refuse_own_folder(info)
        try:
            local_manifest = (info.path / MANIFEST).read_bytes()
            manifest = json.loads(local_manifest)
            files: dict[str, str] = manifest["files"]
            remote = self._read(self._path(info.run_id, MANIFEST))
            if remote == local_manifest:
                if manifest.get("erasures"):
                    self._mark_rewritten(info.run_id, local_manifest)  # a publish stopped before it did
                _settled(info.path.parent, self.url, info.run_id)
                return PublishResult(info.run_id, self._url(info.run_id), copied=0, unchanged=True)
            previous: dict[str, Any] = json.loads(remote) if remote else {}
            self._refuse_unerased(info.run_id, previous, manifest)
            before: dict[str, str] = previous.get("files", {})
            self.fs.makedirs(self._path(info.run_id), exist_ok=True)  # a run whose stages all skipped has no file
            for relative in sorted(set(before) - set(files) - {MANIFEST}):  # deleted here (an erasure)
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(self._path(info.run_id, *_parts(info.run_id, relative, self.url)))
            copied = 0
            for relative, digest in sorted(files.items()):
                if relative == MANIFEST or before.get(relative) == digest:
                    continue
                self._put(info.path / relative, self._path(info.run_id, *PurePosixPath(relative).parts))
                copied += 1
            self._replace(self._path(info.run_id, MANIFEST), local_manifest)
            if remote is not None:
                self._mark_rewritten(info.run_id, local_manifest)
        except OSError as exc:
            raise WorkspaceError(
                f"publishing run {info.run_id} to {self.url} failed: {exc}; the run is committed in {info.path} "
                "and the URL's runs and active run are unchanged",
                fix=f"run `targetwise runs publish {info.run_id} --runs-url {self.url}` (publishing again is safe)",
            ) from None
        _settled(info.path.parent, self.url, info.run_id)
        return PublishResult(info.run_id, self._url(info.run_id), copied=copied, unchanged=False)

    def _refuse_unerased(self, run_id: str, remote: dict[str, Any], local: dict[str, Any]) -> None:
        missing = _subjects(remote) - _subjects(local)
        if missing:
            raise WorkspaceError(
                f"run {run_id} at {self.url} records {len(missing)} erasure(s) that this workspace's copy lacks, "
                "so it is not published over it (that would bring the erased person back)",
                fix=f"erase in this workspace with the runs URL set (it takes the URL's copy of {run_id} first), "
                "or remove this workspace's copy of the run",
            )

    def rewritten(self) -> bytes:
        """The bytes of ``URL/REWRITTEN`` (empty when no published run was ever rewritten)."""
        try:
            return self._read(self._path(REWRITTEN_FILE)) or b""
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _mark_rewritten(self, run_id: str, manifest: bytes) -> None:
        raw = self.rewritten()
        known: dict[str, str] = json.loads(raw) if raw else {}
        digest = hashlib.sha256(manifest).hexdigest()
        if known.get(run_id) != digest:
            known[run_id] = digest
            self._replace(self._path(REWRITTEN_FILE), json.dumps(known, sort_keys=True).encode("utf-8"))

    def publish_or_fetch(self, run_id: str, store: RunStore) -> RunInfo:
        """``run_id`` both here and at the URL: published when ``store`` holds it, else fetched from the URL."""
        if _plain_id(run_id) and (store.root / run_id / MANIFEST).exists():
            info = store.get(run_id)
            self.publish(info)
            return info
        return self.fetch(run_id, store)

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

    def fetch(self, run_id: str, store: RunStore, *, refresh: bool = False) -> RunInfo:
        """The published run ``run_id`` in ``store`` (the local cache), fetched if not there yet.

        Files go into a locked staging folder, each checked against its manifest SHA-256; the manifest is
        written last and the folder renamed into place, so the local store holds the whole run or nothing.
        A run already in ``store`` is not fetched again, unless ``refresh``: then its manifest is compared
        with the URL's and, when they differ (an erasure at the driver), the changed files are fetched and
        checked, moved over the local ones, the dropped ones removed and the manifest replaced last. A local
        copy that records an erasure the URL's lacks is kept (it never takes the person back).
        """
        if not _plain_id(run_id):
            raise NotFoundError(f"run {run_id!r} not found", fix="a run id is one folder name, e.g. R20111209-120000-ab12cd")
        local = store.root / run_id / MANIFEST
        if local.exists() and not refresh:
            return store.get(run_id)
        lock_path = store.lock_path(run_id)
        fd = _acquire(lock_path, wait=True)
        staging = store.root / f"{STAGING_PREFIX}{run_id}"
        try:
            if local.exists() and not refresh:  # another process fetched it while we waited
                return store.get(run_id)
            raw = self._read(self._path(run_id, MANIFEST))
            if raw is None and not local.exists():
                self.get(run_id)  # not published: NotFoundError naming the runs that are
            run = PublishedRun(run_id, self._url(run_id), json.loads(raw or b"{}"))
            held: dict[str, Any] | None = json.loads(local.read_bytes()) if local.exists() else None
            if held is not None and (raw is None or raw == local.read_bytes()
                                     or not _subjects(run.manifest) >= _subjects(held)):
                return store.get(run_id)  # a local run, the same run, or one erased here since
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            self._download(run, staging, have=None if held is None else held.get("files", {}))
            (staging / MANIFEST).write_bytes(raw or b"")  # the published bytes: the copy equals the original
            _fsync_tree(staging)
            if held is None:
                os.rename(staging, store.root / run_id)
            else:
                _move_over(staging, store.root / run_id, dropped=set(held.get("files", {})) - set(run.manifest["files"]))
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

    def refresh(self, store: RunStore, *, seen: bytes | None = None) -> bytes:
        """Fetch again every run of ``store`` whose manifest at the URL changed, when ``URL/REWRITTEN`` is not
        ``seen`` (the bytes this caller read last); returns the bytes read now."""
        marker = self.rewritten()
        if marker != seen:
            for info in store.list():
                self.fetch(info.run_id, store, refresh=True)
        return marker

    def _download(self, run: PublishedRun, staging: Path, *, have: dict[str, str] | None = None) -> None:
        """Every file of ``run`` into ``staging``, checked; with ``have`` (the files held already) only those
        whose SHA-256 differs."""
        for relative, digest in sorted(run.manifest.get("files", {}).items()):
            parts = _parts(run.run_id, relative, self.url)
            if have is not None and have.get(relative) == digest:
                continue
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


@dataclass(frozen=True)
class PublishedErasure:
    """What an erasure did to the runs at one URL: ``fetched`` (runs only there, fetched so that the erasure
    reached them), ``republished`` (copies rewritten there), ``unpublished`` (copies that still hold the
    person: publish them, or erase again), ``unlisted`` (the URL could not be read, so runs held only
    there were not checked), ``error`` (why, one line)."""

    url: str
    fetched: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    unlisted: bool = False
    error: str | None = None

    @property
    def complete(self) -> bool:
        return not self.unpublished and not self.unlisted

    def finish(self, customer_id: str = "CUSTOMER_ID") -> str:
        """The command(s) that finish it (publishing again, or erasing again, is safe)."""
        if self.unlisted:
            return f"targetwise privacy erase {customer_id} --yes --runs-url {self.url}"
        return "; ".join(f"targetwise runs publish {r} --runs-url {self.url}" for r in self.unpublished)


def unpublished_runs(store: RunStore, url: str) -> tuple[list[str], bool]:
    """Runs an erasure rewrote here whose copy at ``url`` is not replaced yet, and whether an erasure could
    not read the URL's runs (so runs held only there may still hold that person, until it is run again)."""
    entry = _pending(store.root).get(url.rstrip("/"), {})
    return sorted(entry.get("runs", [])), bool(entry.get("unlisted"))


def erase_published(store: RunStore, url: str, erase: Callable[[], list[str]], *, subject: str) -> PublishedErasure:
    """Run ``erase`` (the workspace's erasure, returning the runs it rewrote) so that it reaches ``url`` too.

    First every run published at the URL and missing here is fetched (and a copy the URL holds with more
    erasures than this one is fetched again), so the erasure rewrites it; then each rewritten run that the
    URL holds, and each left from an earlier attempt, is published again (changed files, the manifest last).
    A publish that fails leaves the run listed (:func:`unpublished_runs`) and ``complete`` false; running the
    erasure again, or ``targetwise runs publish RUN``, finishes it. ``erase`` raising NotFoundError (the
    person is gone here already) still publishes the runs left from an earlier attempt. ``subject`` (the
    person's pseudonym) is kept while the URL could not be listed for their erasure: only erasing them again
    with the URL readable clears it (runs held only there may hold them).
    """
    remote = RunUrlStore(url)
    fetched: list[str] = []
    published: set[str] | None = None
    error: str | None = None
    try:
        runs = remote.list()
        for run in runs:
            held = store.root / run.run_id / MANIFEST
            if not held.exists():
                remote.fetch(run.run_id, store)
                fetched.append(run.run_id)
            elif _subjects(run.manifest) > _subjects(json.loads(held.read_bytes())):
                remote.fetch(run.run_id, store, refresh=True)  # erased at the URL since: take that copy first
        published = {run.run_id for run in runs}
    except (TargetwiseError, OSError) as exc:
        error = str(exc)
    left, _ = unpublished_runs(store, url)
    unlisted_subjects = set(_pending(store.root).get(remote.url, {}).get("unlisted") or [])
    was_unlisted = subject in unlisted_subjects
    try:
        rewritten = erase()
    except NotFoundError:
        if left or was_unlisted:
            rewritten = []
        elif error is not None:
            raise WorkspaceError(
                f"the customer is not in this workspace, and the runs at {remote.url} could not be read ({error}), "
                "so the runs held only there were not checked",
                fix="check the URL's credentials and the network, then run the erasure again",
            ) from None
        else:
            raise
    candidates = sorted(set(rewritten) | set(left))
    republished: list[str] = []
    unpublished: list[str] = []
    for run_id in candidates:
        if published is not None and run_id not in published:
            continue  # never published there: nothing at the URL holds the person
        if published is None:
            unpublished.append(run_id)
            continue
        try:
            remote.publish(store.get(run_id))
            republished.append(run_id)
        except TargetwiseError as exc:
            unpublished.append(run_id)
            error = error or str(exc)
    unlisted = published is None
    unlisted_subjects = unlisted_subjects | {subject} if unlisted else unlisted_subjects - {subject}
    _set_pending(store.root, remote.url, unpublished, unlisted=sorted(unlisted_subjects))
    return PublishedErasure(remote.url, fetched, republished, unpublished, unlisted, error)


def _pending(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / UNPUBLISHED).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _set_pending(root: Path, url: str, runs: list[str], *, unlisted: list[str]) -> None:
    """Record, for ``url``, the runs whose copy there is stale and the pseudonyms of the persons whose
    erasure could not list the URL's runs (neither holds personal data)."""
    pending = _pending(root)
    if runs or unlisted:
        pending[url] = {"runs": sorted(runs), "unlisted": unlisted}
    else:
        pending.pop(url, None)
    path = root / UNPUBLISHED
    if not pending:
        path.unlink(missing_ok=True)
        return
    temporary = root / f"{UNPUBLISHED}.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps(pending, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)
    _fsync_dir(root)


def _settled(root: Path, url: str, run_id: str) -> None:
    """``run_id`` is published at ``url`` as it is here: no longer an unpublished erasure."""
    entry = _pending(root).get(url)
    if entry and run_id in entry.get("runs", []):
        _set_pending(root, url, [r for r in entry["runs"] if r != run_id], unlisted=list(entry.get("unlisted") or []))


def _parts(run_id: str, relative: str, url: str) -> tuple[str, ...]:
    """The path parts of a file a manifest lists, refused when it leaves the run's folder."""
    parts = PurePosixPath(relative).parts
    if not parts or relative == MANIFEST or any(p in ("", ".", "..") for p in parts) or relative.startswith("/"):
        raise WorkspaceError(f"run {run_id} at {url} lists a file outside its folder: {relative!r}")
    return parts


def _subjects(manifest: dict[str, Any]) -> set[str]:
    """The pseudonyms of the persons erased from a run, as its manifest records them."""
    return {str(e.get("subject")) for e in manifest.get("erasures", []) if isinstance(e, dict)}


def _move_over(staging: Path, run_dir: Path, *, dropped: set[str]) -> None:
    """Replace the files of ``run_dir`` with those in ``staging``, one rename each, the manifest last."""
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST):
        target = run_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    for relative in dropped:
        (run_dir / relative).unlink(missing_ok=True)
    os.replace(staging / MANIFEST, run_dir / MANIFEST)


def _plain_id(run_id: str) -> bool:
    """A run id names one folder: no separators, not hidden."""
    return bool(run_id) and not run_id.startswith(".") and "/" not in run_id and "\\" not in run_id
