"""Use cases: syncs, pushing a live audience's adds and removes to a destination.

A sync's delta is computed against what the destination has *acknowledged* (``sync_members``), not
against the previous version: the first sync sends the full list, later ones only the changes, and
the destination's consent purpose is applied at send time (an opt-out since the last version is a
remove). Every batch is planned and stored before anything is sent, with an idempotency key
``<sync_id>-v<version>-p<plan>-<action>-<index>`` that a retry re-sends unchanged; a batch counts
once the destination acknowledged it (then its members are applied to ``sync_members`` in the same
transaction). A crash or a dead-lettered batch leaves the plan open: the next ``sync run`` resumes
it from the first unacknowledged batch, then computes the next delta. Each run is written to the
sync's history and to the audit log (counts, destination kind, outcome; no personal data).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from targetwise.config import Settings
from targetwise.destinations import DESTINATIONS, Batch, Destination, Member, destination_kinds
from targetwise.errors import ConfigError, NotFoundError, TargetwiseError
from targetwise.io.audit import AuditLog
from targetwise.io.consent import opted_out
from targetwise.io.syncs import (
    AudienceVersion,
    BatchRecord,
    DeadLetter,
    SyncRecord,
    SyncRunRecord,
    SyncStore,
    check_sync_id,
)
from targetwise.io.workspace import Workspace
from targetwise.usecases.live_audiences import evaluate_live_audience, make_live
from targetwise.usecases.runs import active_run

__all__ = [
    "SYNC_ACTION",
    "SyncHistory",
    "SyncSummary",
    "add_sync",
    "build_destination",
    "list_syncs",
    "run_all_syncs",
    "run_sync",
    "sync_history",
]

SYNC_ACTION = "sync.run"  # the audit log's action for a sync run


@dataclass(frozen=True)
class SyncSummary:
    """A sync as listed: its record, the audience's latest version, what the destination holds, the last run."""

    sync: SyncRecord
    latest_version: int | None
    acknowledged: int
    last_run: SyncRunRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.sync.to_dict(), "latest_version": self.latest_version, "acknowledged": self.acknowledged,
                "last_run": None if self.last_run is None else self.last_run.to_dict()}


@dataclass(frozen=True)
class SyncHistory:
    sync: SyncRecord
    versions: list[AudienceVersion]
    runs: list[SyncRunRecord]
    dead_letters: list[DeadLetter]

    def to_dict(self) -> dict[str, Any]:
        return {"sync": self.sync.to_dict(), "versions": [v.to_dict() for v in self.versions],
                "runs": [r.to_dict() for r in self.runs], "dead_letters": [d.to_dict() for d in self.dead_letters]}


def _destination_class(kind: str) -> type[Destination]:
    try:
        return DESTINATIONS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown destination {kind!r}; expected one of {destination_kinds()}",
            fix=f"pass --destination {destination_kinds()[0]} (or another listed kind)",
        ) from None


def build_destination(sync: SyncRecord, settings: Settings) -> Destination:
    """The destination of a stored sync, rebuilt from its stored (non-secret) options."""
    return _destination_class(sync.kind).from_options(dict(sync.options), settings)


def add_sync(
    ws: Workspace, audience: str, *, destination: str, options: dict[str, str], created_by: str | None = None
) -> SyncRecord:
    """Add a sync of the saved audience ``audience`` (id or name slug) to a destination.

    The audience becomes live; if a run is active and the audience has no version yet, version 1 is
    evaluated now, so the first ``sync run`` has something to send.
    """
    cls = _destination_class(destination)
    target = cls.from_options({k: v for k, v in options.items() if v is not None}, ws.settings)
    live = make_live(ws, audience)
    store = SyncStore(ws)
    record = SyncRecord(
        sync_id=f"{cls.kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        audience_key=live.audience_key,
        kind=cls.kind,
        options=target.describe(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=created_by,
    )
    store.add_sync(record)
    if store.latest_version(live.audience_key) is None:
        try:
            run = active_run(ws)
        except NotFoundError:
            return record
        evaluate_live_audience(ws, live, run)
    return record


def list_syncs(ws: Workspace) -> list[SyncSummary]:
    store = SyncStore(ws)
    out = []
    with store.session():
        for sync in store.syncs():
            latest = store.latest_version(sync.audience_key)
            runs = store.runs(sync.sync_id)
            out.append(SyncSummary(sync=sync, latest_version=None if latest is None else latest.version,
                                   acknowledged=len(store.acknowledged(sync.sync_id)),
                                   last_run=runs[-1] if runs else None))
    return out


def sync_history(ws: Workspace, sync_id: str) -> SyncHistory:
    store = SyncStore(ws)
    with store.session():
        sync = store.sync(check_sync_id(sync_id))
        return SyncHistory(sync=sync, versions=store.versions(sync.audience_key), runs=store.runs(sync_id),
                           dead_letters=store.dead_letters(sync_id))


def _target(ws: Workspace, store: SyncStore, sync: SyncRecord, destination: Destination) -> tuple[AudienceVersion, set[str]]:
    """The audience's latest version and who of it the destination may hold now (consent re-applied)."""
    version = store.latest_version(sync.audience_key)
    if version is None:
        version = evaluate_live_audience(ws, store.live(sync.audience_key), active_run(ws))
        assert version is not None  # a first evaluation always makes version 1
    members = store.version_members(sync.audience_key, version.version)
    members -= opted_out(ws, "profiling")  # objections since the version was made
    members -= opted_out(ws, destination.consent_purpose)
    return version, members


def _plan(store: SyncStore, sync: SyncRecord, destination: Destination, version: int,
          adds: list[str], removes: list[str]) -> list[BatchRecord]:
    plan_no = store.next_plan_no(sync.sync_id)
    size = destination.max_batch_size
    planned: list[tuple[BatchRecord, list[str]]] = []
    for action, ids in (("remove", removes), ("add", adds)):
        for index, start in enumerate(range(0, len(ids), size)):
            chunk = ids[start : start + size]
            key = f"{sync.sync_id}-v{version}-p{plan_no}-{action}-{index:05d}"
            planned.append((BatchRecord(key, sync.sync_id, plan_no, version, action, index, len(chunk), "pending", 0, ""),
                            chunk))
    store.plan(planned)
    return [batch for batch, _ in planned]


def _members(ws: Workspace, ids: list[str], needs: frozenset[str]) -> tuple[Member, ...]:
    if not needs & {"email", "phone"}:
        return tuple(Member(customer_id=c) for c in ids)
    pii = ws.pii_for(ids).set_index("customer_id")
    def field(customer_id: str, name: str) -> str | None:
        if name not in needs or customer_id not in pii.index:
            return None
        value = pii.at[customer_id, name]
        return value if isinstance(value, str) and value.strip() else None
    return tuple(Member(customer_id=c, email=field(c, "email"), phone=field(c, "phone")) for c in ids)


def run_sync(
    ws: Workspace,
    sync_id: str,
    *,
    client: httpx.Client | None = None,
    destination: Destination | None = None,
    key_id: str | None = None,
    route: str = "cli:sync run",
    method: str = "CLI",
) -> SyncRunRecord:
    """Run one sync: resume its open plan, then send the next delta (nothing when nothing changed).

    ``destination`` replaces the one rebuilt from the stored options (same kind; e.g. with an injected
    ``sleep``); ``client`` is the HTTP client (default: a new one with a 30 s timeout).
    """
    store = SyncStore(ws)
    with store.session():
        sync = store.sync(check_sync_id(sync_id))
    target = destination if destination is not None else build_destination(sync, ws.settings)
    with store.session():
        run_no = store.start_run(sync.sync_id)
        batches = store.open_batches(sync.sync_id)
        audience_name = store.live(sync.audience_key).name
    counts = {"add": 0, "remove": 0, "ok": 0, "dead": 0}
    version: int | None = None
    details: list[str] = []
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=30.0)
    outcome = "interrupted"
    try:
        if batches:
            details.append(f"resumed plan {batches[0].plan_no} of version {batches[0].version}")
        else:
            current, members = _target(ws, store, sync, target)
            version = current.version
            with store.session():
                held = store.acknowledged(sync.sync_id)
                adds, removes = sorted(members - held), sorted(held - members)
                batches = _plan(store, sync, target, current.version, adds, removes) if adds or removes else []
        for batch in batches:
            if batch.status == "ok":
                continue
            version = batch.version
            ids = store.batch_members(batch.idempotency_key)
            result = target.send(
                Batch(sync_id=sync.sync_id, audience_id=sync.audience_key, audience_name=audience_name,
                      version=batch.version, action=batch.action,  # type: ignore[arg-type]
                      members=_members(ws, ids, target.needs), idempotency_key=batch.idempotency_key),
                http,
            )
            if result.status == "ok":
                store.acknowledge(batch, attempts=result.attempts, detail=result.detail)
                counts[batch.action] += len(ids)
                counts["ok"] += 1
            else:
                store.dead_letter(batch, run_no=run_no, attempts=result.attempts, detail=result.detail)
                counts["dead"] += 1
                details.append(f"{batch.idempotency_key}: {result.detail}")
        if counts["dead"]:
            outcome = "dead_letter"
        elif not batches:
            outcome = "no_change"
        else:
            outcome = "ok"
    except TargetwiseError as error:  # e.g. the webhook's secret variable is not set: stop, say why
        outcome = "error"
        details.append(str(error))
        raise
    finally:
        if own_client:
            http.close()
        record = store.finish_run(SyncRunRecord(
            sync_id=sync.sync_id, run_no=run_no, started_at="", finished_at=None, version=version, outcome=outcome,
            added=counts["add"], removed=counts["remove"], batches_ok=counts["ok"], dead_letters=counts["dead"],
            detail="; ".join(details)[:500],
        ))
        AuditLog(ws).record(
            key_id=key_id, action=SYNC_ACTION, method=method, route=route,
            status={"ok": 200, "no_change": 200, "dead_letter": 502}.get(outcome, 500),
            details={"sync_id": sync.sync_id, "destination": sync.kind, "audience": sync.audience_key,
                     "version": version, "added": counts["add"], "removed": counts["remove"],
                     "batches_ok": counts["ok"], "dead_letters": counts["dead"], "outcome": outcome},
        )
    return record


def run_all_syncs(ws: Workspace, *, client: httpx.Client | None = None, key_id: str | None = None,
                  route: str = "cli:sync run", method: str = "CLI") -> list[SyncRunRecord]:
    """Run every sync in the order they were added; one failing sync does not stop the others.

    A sync that stops on an error (recorded in its history with outcome ``error``) is listed with
    that record; the others still run.
    """
    store = SyncStore(ws)
    records = []
    for sync in store.syncs():
        try:
            records.append(run_sync(ws, sync.sync_id, client=client, key_id=key_id, route=route, method=method))
        except TargetwiseError:
            records.append(store.runs(sync.sync_id)[-1])
    return records
