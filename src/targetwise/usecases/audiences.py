"""Use cases: size, save and export an audience (conditions over a run's outputs, consent applied).

The CLI (``targetwise audience``), the API (``/v1/audiences``) and the UI's builder
call these, so an audience has the same members on every surface.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from targetwise.campaigns.audiences import (
    ExportResult,
    export_frame,
    parse_conditions,
    select_audience,
    slugify,
)
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.exports import csv_bytes
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import RunData

__all__ = [
    "MEDIA_TYPES",
    "AudienceExport",
    "AudienceSize",
    "audience_size",
    "create_audience",
    "export_audience",
    "select_members",
]

MEDIA_TYPES = {"csv": "text/csv", "google": "text/csv", "meta": "text/csv", "parquet": "application/vnd.apache.parquet"}


@dataclass(frozen=True)
class AudienceSize:
    run_id: str
    as_of: str | None
    size: int
    excluded: dict[str, int]


@dataclass(frozen=True)
class AudienceExport:
    data: bytes
    media_type: str
    result: ExportResult


def select_members(ws: Workspace, run: RunData, conditions: list[dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
    """Customers of ``run`` meeting every condition, without profiling objections; and how many consent excluded."""
    parsed = parse_conditions(conditions)
    everyone = select_audience(run.audience_frame(), parsed)
    objected = opted_out(ws, "profiling")
    members = [m for m in everyone if m not in objected]
    return members, {"profiling_objection": len(everyone) - len(members)}


def audience_size(ws: Workspace, run: RunData, conditions: list[dict[str, Any]]) -> AudienceSize:
    members, excluded = select_members(ws, run, conditions)
    return AudienceSize(run_id=run.run_id, as_of=run.as_of, size=len(members), excluded=excluded)


def create_audience(
    ws: Workspace, run: RunData, *, name: str, conditions: list[dict[str, Any]], created_by: str | None
) -> AudienceRecord:
    """Select, intersect with consent, and save a new version of the named audience."""
    members, excluded = select_members(ws, run, conditions)
    return AudienceStore(ws).save(
        slug=slugify(name), name=name, members=members, run_id=run.run_id, definition=list(conditions),
        excluded=excluded, created_by=created_by,
    )


def export_audience(
    ws: Workspace, audience_id: str, *, destination: str, channel: str | None = None, country_code: str | None = None
) -> AudienceExport:
    """The export file of a saved audience, re-intersected with today's consent.

    Always leaves out profiling objections made since the audience was saved;
    ``google``/``meta`` also leave out ads opt-outs (and match on hashed e-mail and
    phone); ``channel`` (email/sms/ads) leaves out that channel's opt-outs for the
    other destinations. Text cells that could start a spreadsheet formula get a
    leading ``'``.
    """
    members = AudienceStore(ws).members(audience_id)
    blocked = opted_out(ws, "profiling")
    purpose = "ads" if destination in ("google", "meta") else channel
    if purpose is not None:
        blocked |= opted_out(ws, purpose)
    pii = ws.pii_for(members) if destination in ("google", "meta") else None
    result = export_frame(members, destination=destination, opted_out=blocked, pii=pii, default_country_code=country_code)
    if destination != "parquet":
        return AudienceExport(csv_bytes(result.frame), MEDIA_TYPES.get(destination, "text/csv"), result)
    buffer = io.BytesIO()
    result.frame.to_parquet(buffer, index=False)
    return AudienceExport(buffer.getvalue(), MEDIA_TYPES["parquet"], result)
