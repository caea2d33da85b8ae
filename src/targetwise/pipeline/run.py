"""`targetwise run`: the whole pipeline into one immutable, versioned run folder.

Stages (:mod:`targetwise.pipeline.stages`) run in order; each writes its declared
outputs, metrics and model cards into the run. Every stage reads the workspace
through one :class:`~targetwise.io.modeldata.ModelData`, which leaves out the
customers who objected to profiling (consent purpose ``profiling``): no model is
trained on their data and no score, segment or recommendation is produced for them.
The run config (:class:`~targetwise.runconfig.RunConfig`) holds every
hyperparameter and is recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from targetwise.config import Settings
from targetwise.errors import ConfigError, DataValidationError, WorkspaceError
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.context import RunContext, Stage
from targetwise.pipeline.stages import STAGES
from targetwise.runconfig import RunConfig

__all__ = ["STAGES", "RunContext", "Stage", "default_as_of", "run_pipeline"]

Progress = Callable[[str], None]


def default_as_of(workspace: Workspace) -> date:
    """The day after the last transaction: features then use every line there is."""
    last = workspace.last_ordered_at()
    if last is None:
        raise DataValidationError(
            "the workspace has no transactions", fix="ingest some with `targetwise ingest transactions FILE`"
        )
    return (last + timedelta(days=1)).date()


def run_pipeline(
    workspace: Workspace,
    settings: Settings,
    *,
    as_of: date | datetime | str | None = None,
    stages: list[str] | None = None,
    config: RunConfig | None = None,
    promote: bool = True,
    progress: Progress | None = None,
) -> RunInfo:
    """Run ``stages`` (default: all) at ``as_of`` with ``config`` into a new run; promote it if asked."""
    step = progress or (lambda _text: None)
    cfg = config or RunConfig()
    chosen = list(STAGES) if stages is None else stages
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}", fix=f"stages are: {', '.join(STAGES)}")
    cutoff = _as_date(as_of) if as_of is not None else default_as_of(workspace)
    seed = cfg.seed(settings.random_state)
    parameters = {"stages": chosen, "random_state": seed, "config": cfg.model_dump(mode="json")}
    try:
        store = RunStore(workspace)
        writer = store.begin(as_of=cutoff, parameters=parameters)
    except OSError as exc:
        raise _storage_error(exc, workspace) from None
    try:
        with open_model_data(workspace) as data:
            ctx = RunContext(
                workspace=workspace, settings=settings, config=cfg, as_of=cutoff, writer=writer, data=data
            )
            for i, name in enumerate(chosen, start=1):
                step(f"[{i}/{len(chosen)}] {name}")
                with writer.stage(name) as record:
                    STAGES[name].run(ctx, record)
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
