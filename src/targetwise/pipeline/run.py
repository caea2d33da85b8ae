"""`targetwise run`: the whole pipeline into one immutable, versioned run folder.

Stages (:mod:`targetwise.pipeline.stages`) run in order; each writes its declared
outputs, metrics and model cards into the run. Every stage reads the workspace
through one :class:`~targetwise.io.modeldata.ModelData`, which leaves out the
customers who objected to profiling (consent purpose ``profiling``): no model is
trained on their data and no score, segment or recommendation is produced for them.
The run config (:class:`~targetwise.runconfig.RunConfig`) holds every
hyperparameter and is recorded in the manifest.

Stages fail independently: an exception in one is recorded in the manifest (status
``failed``, ``error`` on one line, ``fix`` when the error says how), the stages that
need it (:attr:`Stage.needs`) are skipped with the reason, the others complete and
the run is committed. A run with a failed stage is not promoted unless
``promote_partial`` (``targetwise run --promote-partial``; later ``targetwise runs
promote RUN --partial``). Storage errors (``OSError``: a full disk, a read-only
folder) and interrupts stay fatal: nothing is published and the served run is unchanged.

With ``settings.runs_url`` (``TARGETWISE_RUNS_URL``, ``--runs-url``) the committed run is also
published there (:class:`~targetwise.io.run_urls.RunUrlStore`: every file, the manifest last) before
any promotion, and a promoted run is then made the URL's active run too. A driver without an active run
of its own (a fresh cluster job) first fetches the URL's active run, so the stages that compare with the
previous run (drift, segment names) see it.

Progress: ``progress(text)`` is called with ``"[i/n] stage"`` as each stage starts, and
``stage_done(record)`` with the stage's :class:`~targetwise.io.runs.StageRecord` once it has
ended (``ok``, ``failed`` or ``skipped``; the record's ``cost`` holds wall, CPU, peak memory and
rows in and out of a stage that ran), so a caller can print what each stage cost as it goes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from targetwise.config import Settings
from targetwise.errors import ConfigError, DataValidationError, WorkspaceError
from targetwise.io.modeldata import open_model_data
from targetwise.io.run_urls import RunUrlStore
from targetwise.io.runs import RunInfo, RunStore, RunWriter, StageRecord
from targetwise.io.workspace import Workspace
from targetwise.pipeline.context import RunContext, Stage
from targetwise.pipeline.stages import STAGES
from targetwise.runconfig import RunConfig
from targetwise.usecases.live_audiences import promote_and_refresh

__all__ = ["STAGES", "Progress", "RunContext", "Stage", "StageDone", "default_as_of", "run_pipeline"]

#: called with ``"[i/n] stage"`` as a stage starts
Progress = Callable[[str], None]
#: called with a stage's record once the stage has ended (ok, failed or skipped), its cost filled in
StageDone = Callable[[StageRecord], None]

_log = logging.getLogger(__name__)


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
    promote_partial: bool = False,
    progress: Progress | None = None,
    stage_done: StageDone | None = None,
    engine: str = "duckdb",
    spark_session: Any | None = None,
    spark_connect_url: str | None = None,
    line_limit: int | None = None,
) -> RunInfo:
    """Run ``stages`` (default: all, always in pipeline order) at ``as_of`` with ``config`` into a new run.

    The run is committed whatever its stages' outcome (see the module docstring) and
    promoted if ``promote`` and either no stage failed or ``promote_partial``; the
    returned run's :meth:`~targetwise.io.runs.RunInfo.failed_stages` lists the failures.
    ``progress`` hears of each stage as it starts, ``stage_done`` as it ends (see the module docstring).

    ``engine="spark"`` runs the heavy work (features, snapshots, aggregates) on Spark: a local
    session, ``spark_session`` or Spark Connect at ``spark_connect_url``
    (:func:`~targetwise.io.modeldata.open_model_data`); the stages, outputs and run folder are
    the same. ``line_limit`` refuses any read of more transaction lines into memory.
    """
    step = progress or (lambda _text: None)
    done = stage_done or (lambda _record: None)
    cfg = config or RunConfig()
    chosen = _chosen_stages(stages)
    cutoff = _as_date(as_of) if as_of is not None else default_as_of(workspace)
    seed = cfg.seed(settings.random_state)
    parameters = {"stages": chosen, "random_state": seed, "config": cfg.model_dump(mode="json"), "engine": engine}
    remote = RunUrlStore(settings.runs_url) if settings.runs_url else None
    try:
        store = RunStore(workspace)
        if remote is not None and store.active_id() is None:
            remote.follow(store)  # a fresh driver starts from the URL's active run (drift, segment names)
        writer = store.begin(as_of=cutoff, parameters=parameters)
    except OSError as exc:
        raise _storage_error(exc, workspace) from None
    try:
        with open_model_data(
            workspace, engine=engine, spark_session=spark_session, spark_connect_url=spark_connect_url,
            line_limit=line_limit,
        ) as data:
            ctx = RunContext(
                workspace=workspace, settings=settings, config=cfg, as_of=cutoff, writer=writer, data=data
            )
            for i, name in enumerate(chosen, start=1):
                step(f"[{i}/{len(chosen)}] {name}")
                _run_stage(ctx, writer, STAGES[name])
                done(writer.stage_record(name))
        info = writer.commit()
    except OSError as exc:
        writer.abort()
        raise _storage_error(exc, workspace) from None
    except BaseException:
        writer.abort()
        raise
    if remote is not None:
        remote.publish(info)  # every file, then the manifest; a failure promotes nothing, here or there
    if promote and (promote_partial or not info.failed_stages()):
        try:
            promote_and_refresh(workspace, info.run_id, partial=promote_partial)  # live audiences re-evaluated
        except OSError as exc:
            raise _storage_error(exc, workspace) from None
        if remote is not None:
            remote.promote(info.run_id, partial=promote_partial)
    return info


def _chosen_stages(stages: list[str] | None) -> list[str]:
    """The stages to run, in pipeline order; each with the stages it needs (else a ConfigError, before any work)."""
    if stages is None:
        return list(STAGES)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}", fix=f"stages are: {', '.join(STAGES)}")
    chosen = [name for name in STAGES if name in stages]
    for name in chosen:
        missing = [need for need in STAGES[name].needs if need not in chosen]
        if missing:
            raise ConfigError(
                f"stage {name!r} needs stage(s) {', '.join(missing)}, which this run does not include",
                fix=f"add {' '.join(f'--stage {m}' for m in missing)} (or leave out --stage to run every stage)",
            )
    return chosen


def _run_stage(ctx: RunContext, writer: RunWriter, stage: Stage) -> None:
    """Run one stage; a failure is recorded in its record and the run goes on (storage errors excepted)."""
    for need in stage.needs:
        needed = writer.records.get(need)
        if needed is not None and needed.status in ("failed", "skipped"):
            outcome = "failed" if needed.status == "failed" else "was skipped"
            writer.skip(stage.name, f"needs {need}, which {outcome}")
            return
    try:
        with writer.stage(stage.name) as record:
            stage.run(ctx, record)
    except OSError:
        raise  # storage: the run cannot be written, so nothing is published
    except Exception:  # the record holds the error and its fix; a failed stage leaves no results behind
        _log.debug("stage %s failed", stage.name, exc_info=True)
        ctx.results.pop(stage.name, None)
        if stage.name == "features":
            ctx.features = None
    finally:
        ctx.data.release_memory()  # the next stage starts without what DuckDB kept from this one


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
    text = str(value).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # fromisoformat also takes 20240601 and week dates
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"as-of date {value!r} is not a date in the form YYYY-MM-DD",
            fix="write it as YYYY-MM-DD, e.g. 2024-06-01 (06/01/2024 could be 6 January or 1 June)",
        ) from None
