"""Use cases: live audiences, a saved audience definition re-evaluated against every promoted run.

Each evaluation that changes something appends a version (members, adds and removes since the
previous version, the run it came from), with consent re-applied: profiling objectors are left out
(``select_members``), and erased customers are not in any run output. Channel opt-outs are applied
per sync, at send time, for the destination's consent purpose (``usecases.syncs``).
Re-evaluation happens when a run is promoted (:func:`promote_and_refresh`) and on demand
(:func:`refresh_live_audiences`). A failed run is never promoted, so its audiences never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from targetwise.errors import NotFoundError, TargetwiseError
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.run_urls import RunUrlStore
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.syncs import AudienceVersion, LiveAudience, SyncStore, has_live_audiences
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import select_members
from targetwise.usecases.runs import RunData, active_run

__all__ = [
    "RefreshResult",
    "evaluate_live_audience",
    "make_live",
    "promote_and_refresh",
    "refresh_live_audiences",
    "resolve_saved_audience",
]


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did: new versions per live audience, unchanged ones, and errors (one line each)."""

    run_id: str
    versions: list[AudienceVersion] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def resolve_saved_audience(ws: Workspace, audience: str) -> AudienceRecord:
    """A saved audience by id (``vip-v2``) or by name slug (``vip``: its latest version)."""
    store = AudienceStore(ws)
    records = store.list()
    by_id = {r.id: r for r in records}
    if audience in by_id:
        return by_id[audience]
    same = [r for r in records if r.id.rsplit("-v", 1)[0] == audience]
    if same:
        return max(same, key=lambda r: r.version)
    recent = ", ".join(r.id for r in records[-5:]) or "none yet"
    raise NotFoundError(
        f"saved audience {audience!r} not found",
        fix=f"save it first (`targetwise audience create` or POST /v1/audiences); saved: {recent}",
    )


def make_live(ws: Workspace, audience: str) -> LiveAudience:
    """Register the saved audience's definition as live (key: its name slug); idempotent."""
    record = resolve_saved_audience(ws, audience)
    key = record.id.rsplit("-v", 1)[0]
    return SyncStore(ws).add_live(audience_key=key, name=record.name, source_id=record.id, definition=record.definition)


def evaluate_live_audience(ws: Workspace, live: LiveAudience, run: RunData) -> AudienceVersion | None:
    """Evaluate ``live`` on ``run``; a new version unless members and run are those of the latest one."""
    store = SyncStore(ws)
    members, excluded = select_members(ws, run, live.definition)
    now = set(members)
    with store.session():
        latest = store.latest_version(live.audience_key)
        before = set() if latest is None else store.version_members(live.audience_key, latest.version)
        if latest is not None and latest.run_id == run.run_id and now == before:
            return None
        return store.add_version(
            live.audience_key, run_id=run.run_id, members=now, adds=len(now - before), removes=len(before - now),
            excluded=excluded,
        )


def refresh_live_audiences(ws: Workspace, run: RunData | None = None) -> RefreshResult:
    """Re-evaluate every live audience on ``run`` (default: the active run)."""
    run = run if run is not None else active_run(ws)
    result = RefreshResult(run_id=run.run_id)
    if not has_live_audiences(ws):
        return result
    for live in SyncStore(ws).lives():
        try:
            version = evaluate_live_audience(ws, live, run)
        except TargetwiseError as error:  # one audience whose definition no longer fits the run
            result.errors[live.audience_key] = str(error)
            continue
        if version is None:
            result.unchanged.append(live.audience_key)
        else:
            result.versions.append(version)
    return result


def promote_and_refresh(ws: Workspace, run_id: str, *, partial: bool = False) -> tuple[RunInfo, RefreshResult]:
    """Promote ``run_id`` (refused for a failed run unless ``partial``), then refresh the live audiences on it.

    With a runs URL (``ws.settings.runs_url``) the URL stays the source of truth: the run is published there
    first (or, held only there, fetched here), and once promoted here it becomes the URL's active run too.
    """
    store = RunStore(ws)
    remote = RunUrlStore(ws.settings.runs_url) if ws.settings.runs_url else None
    if remote is not None:
        remote.publish_or_fetch(run_id, store)
    info = store.promote(run_id, partial=partial)
    run = RunData(info, product_names=ws.product_names, currency=ws.settings.currency_symbol)
    refreshed = refresh_live_audiences(ws, run)
    if remote is not None:
        remote.promote(run_id, partial=partial)
    return info, refreshed
