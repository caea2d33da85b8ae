"""`targetwise run`: the whole pipeline into one immutable, versioned run folder.

Stages run in order; each writes its outputs, metrics and model card into the
run. Customers who objected to profiling (consent purpose ``profiling``) are
removed before any model sees them, so no score, segment or recommendation is
produced for them from that run on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from targetwise.config import Settings
from targetwise.errors import ConfigError, DataValidationError, WorkspaceError
from targetwise.io.runs import RunInfo, RunStore, RunWriter
from targetwise.io.workspace import Workspace

__all__ = ["STAGES", "RunContext", "default_as_of", "run_pipeline"]

Progress = Callable[[str], None]


@dataclass
class RunContext:
    """What stages share: the workspace, the cutoff, settings, and outputs of earlier stages."""

    workspace: Workspace
    settings: Settings
    as_of: date
    writer: RunWriter
    features: pd.DataFrame | None = None
    results: dict[str, Any] = field(default_factory=dict)


def default_as_of(workspace: Workspace) -> date:
    """The day after the last transaction: features then use every line there is."""
    with workspace.connect(read_only=True) as con:
        last = con.execute("SELECT max(ordered_at) FROM transactions").fetchone()[0]  # type: ignore[index]
    if last is None:
        raise DataValidationError(
            "the workspace has no transactions", fix="ingest some with `targetwise ingest transactions FILE`"
        )
    return (last + timedelta(days=1)).date()


Stage = Callable[[RunContext, dict[str, Any]], None]


def _registry() -> dict[str, Stage]:
    from targetwise.pipeline import stages

    return {name: (lambda n: lambda ctx, rec: stages.run_stage(n, ctx, rec))(name) for name in stages.STAGE_FUNCTIONS}


STAGES: dict[str, Stage] = _registry()


def run_pipeline(
    workspace: Workspace,
    settings: Settings,
    *,
    as_of: date | datetime | str | None = None,
    stages: list[str] | None = None,
    promote: bool = True,
    progress: Progress | None = None,
) -> RunInfo:
    """Run ``stages`` (default: all) at ``as_of`` into a new run; promote it if asked."""
    step = progress or (lambda _text: None)
    chosen = list(STAGES) if stages is None else stages
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}", fix=f"stages are: {', '.join(STAGES)}")
    cutoff = _as_date(as_of) if as_of is not None else default_as_of(workspace)
    try:
        store = RunStore(workspace)
        writer = store.begin(as_of=cutoff, parameters={"stages": chosen, "random_state": settings.random_state})
    except OSError as exc:
        raise _storage_error(exc, workspace) from None
    ctx = RunContext(workspace=workspace, settings=settings, as_of=cutoff, writer=writer)
    try:
        for i, name in enumerate(chosen, start=1):
            step(f"[{i}/{len(chosen)}] {name}")
            with writer.stage(name) as record:
                STAGES[name](ctx, record)
            if record.pop("status_override", None) == "skipped":
                record["status"] = "skipped"
        info = writer.commit()
    except OSError as exc:
        writer.abort()
        raise _storage_error(exc, workspace) from None
    except BaseException:
        writer.abort()
        raise
    if promote:
        try:
            store.promote(info.run_id)
        except OSError as exc:
            raise _storage_error(exc, workspace) from None
    return info


def _storage_error(exc: OSError, workspace: Workspace) -> WorkspaceError:
    """A full disk or read-only folder: one clear line; the run was not published (or not promoted)."""
    return WorkspaceError(
        f"cannot write the run into {workspace.runs_dir}: {exc.strerror or exc}; nothing was published and "
        "the served run is unchanged",
        fix="free disk space or make the workspace folder writable, then run again",
    )


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"as-of date {value!r} is not a date", fix="write it as YYYY-MM-DD") from None
