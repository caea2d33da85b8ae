"""Use cases: size, save and export an audience (conditions over a run's outputs, consent applied).

The CLI (``targetwise audience``), the API (``/v1/audiences``) and the UI's builder
call these, so an audience has the same members on every surface.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from targetwise.campaigns.audiences import (
    ExportResult,
    export_frame,
    export_values,
    parse_conditions,
    parse_export_columns,
    select_audience,
    slugify,
)
from targetwise.errors import DataValidationError, Location, NotFoundError
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.exports import csv_bytes
from targetwise.io.id_lists import read_id_list
from targetwise.io.runs import RunStore
from targetwise.io.suppression import erased_among
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import RunData, active_run

__all__ = [
    "MEDIA_TYPES",
    "AudienceExport",
    "AudienceSize",
    "IdsAudience",
    "audience_size",
    "create_audience",
    "create_audience_from_ids",
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


@dataclass(frozen=True)
class IdsAudience:
    """An audience saved from an id file, and what of the file did not become a member (counts, a few examples)."""

    record: AudienceRecord
    listed: int
    unknown: int
    unknown_examples: tuple[str, ...]
    erased: int
    objected: int
    blank: int
    repeated: int

    def notes(self) -> list[str]:
        """One line per kind of id left out, with its count (never a silent drop)."""
        lines = []
        if self.unknown:
            shown = ", ".join(repr(i) for i in self.unknown_examples)
            lines.append(
                f"{self.unknown:,} of {self.listed:,} ids are not customers of run {self.record.run_id} "
                f"(e.g. {shown}): left out"
            )
        if self.erased:
            lines.append(f"{self.erased:,} ids belong to erased customers: left out")
        if self.objected:
            lines.append(f"{self.objected:,} customers objected to profiling: left out")
        if self.repeated:
            lines.append(f"{self.repeated:,} ids were listed more than once: counted once")
        if self.blank:
            lines.append(f"{self.blank:,} blank lines: skipped")
        return lines


def create_audience_from_ids(
    ws: Workspace, run: RunData, *, name: str, content: bytes, source: str, created_by: str | None
) -> IdsAudience:
    """Save the customers listed in an id file (CSV with ``customer_id``, or one id per line) as an audience.

    The members are the listed ids that are customers of ``run``, minus profiling objectors; erased
    people and unknown ids are left out and counted. The definition is ``customer_id in [members]``, so
    the audience replays like any other (live audiences, previews); ``source`` records the file and counts.
    """
    listed = read_id_list(content, source=source)
    known = set(run.audience_frame()["customer_id"].astype(str))
    erased = erased_among(ws, [i for i in listed.ids if i not in known])
    unknown = [i for i in listed.ids if i not in known and i not in erased]
    objected = opted_out(ws, "profiling")
    members = sorted(i for i in listed.ids if i in known and i not in objected)
    n_objected = sum(1 for i in listed.ids if i in known and i in objected)
    if not members:
        raise DataValidationError(
            f"none of the {len(listed.ids):,} ids of {source} is a customer of run {run.run_id} who may be profiled "
            f"({len(unknown):,} unknown, {len(erased):,} erased, {n_objected:,} objected)",
            location=Location(file=source), fix="check that the file lists this shop's customer ids",
        )
    excluded = {"profiling_objection": n_objected, "erased": len(erased), "unknown_id": len(unknown)}
    record = AudienceStore(ws).save(
        slug=slugify(name), name=name, members=members, run_id=run.run_id,
        definition=[{"field": "customer_id", "op": "in", "value": members}], excluded=excluded,
        created_by=created_by,
        source={"kind": "ids", "file": source, "listed": len(listed.ids), "blank": listed.blank,
                "repeated": listed.repeated},
    )
    return IdsAudience(record, len(listed.ids), len(unknown), tuple(unknown[:3]), len(erased), n_objected,
                       listed.blank, listed.repeated)


def _values_run(ws: Workspace, run_id: str, loaded: RunData | None) -> tuple[RunData, str | None]:
    """The audience's own run (``loaded`` if it is that run); the active run, with a warning, once it is gone."""
    if loaded is not None and loaded.run_id == run_id:
        return loaded, None
    try:
        return RunData(RunStore(ws).get(run_id), product_names=ws.product_names, currency=ws.settings.currency_symbol), None
    except NotFoundError:
        fallback = loaded if loaded is not None else active_run(ws)
        return fallback, (
            f"the audience was selected from run {run_id}, which is no longer stored: "
            f"the extra columns come from run {fallback.run_id}"
        )


def _column_values(run: RunData, columns: tuple[str, ...], top_n: int) -> pd.DataFrame:
    """The chosen column groups from ``run`` (404 naming the stage when the run lacks its output)."""
    need = {"segment": out.SEGMENTS, "clv": out.CLV, "scores": out.PROPENSITY, "recommendations": out.RECOMMENDATIONS}
    tables = {group: run.table(need[group]) for group in columns}
    return export_values(
        columns, segments=tables.get("segment"), clv=tables.get("clv"), propensity=tables.get("scores"),
        recommendations=tables.get("recommendations"), top_n=top_n,
    )


def export_audience(
    ws: Workspace,
    audience_id: str,
    *,
    destination: str,
    channel: str | None = None,
    country_code: str | None = None,
    columns: str | Sequence[str] | None = None,
    top_n: int = 5,
    run: RunData | None = None,
) -> AudienceExport:
    """The export file of a saved audience, re-intersected with today's consent.

    Always leaves out profiling objections made since the audience was saved;
    ``google``/``meta`` also leave out ads opt-outs (and carry the upload
    template's hashed identifiers); ``channel`` (email/sms/ads) leaves out that
    channel's opt-outs for the other destinations. Text cells that could start a
    spreadsheet formula get a leading ``'``.

    ``columns`` (csv/parquet only): any of ``segment``, ``clv``, ``scores``,
    ``recommendations`` (:data:`~targetwise.campaigns.audiences.EXPORT_COLUMNS`),
    read from the run the audience was selected from; ``run`` is a run already
    loaded (the served one), used when it is that run, and as the source, with a
    warning, when that run is no longer stored. ``top_n`` recommendations per
    customer. ``result.warnings`` says what the file lacks; a google/meta export
    in which no member has a usable identifier is refused (422) rather than
    written with a header only.
    """
    store = AudienceStore(ws)
    record = store.get(audience_id)
    members = store.members(audience_id)
    wanted = parse_export_columns(columns)
    notes: list[str] = []
    values = None
    if wanted:
        if destination in ("google", "meta"):
            raise DataValidationError(
                f"columns= is for csv and parquet exports; a {destination} file holds only its template's identifiers",
                location=Location(column="columns"),
                fix="drop columns=, or export destination=csv",
            )
        source, note = _values_run(ws, record.run_id, run)
        values = _column_values(source, wanted, top_n)
        notes += [note] if note else []
    blocked = opted_out(ws, "profiling")
    purpose = "ads" if destination in ("google", "meta") else channel
    if purpose is not None:
        blocked |= opted_out(ws, purpose)
    pii = ws.pii_for(members) if destination in ("google", "meta") else None
    result = export_frame(
        members, destination=destination, opted_out=blocked, pii=pii, default_country_code=country_code, values=values
    )
    if notes:
        result = replace(result, warnings=(*notes, *result.warnings))
    if destination != "parquet":
        return AudienceExport(csv_bytes(result.frame), MEDIA_TYPES.get(destination, "text/csv"), result)
    buffer = io.BytesIO()
    result.frame.to_parquet(buffer, index=False)
    return AudienceExport(buffer.getvalue(), MEDIA_TYPES["parquet"], result)
