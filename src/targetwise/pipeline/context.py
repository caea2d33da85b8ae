"""What a run's stages share, and the small declaration each stage makes of itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from targetwise.config import Settings
from targetwise.io.modeldata import ModelData
from targetwise.io.outputs import Output
from targetwise.io.runs import RunWriter, StageRecord
from targetwise.io.workspace import Workspace
from targetwise.runconfig import RunConfig

__all__ = ["RunContext", "Stage"]


@dataclass
class RunContext:
    """The workspace, its consent-filtered data, the cutoff, settings and config, and earlier stages' results."""

    workspace: Workspace
    settings: Settings
    config: RunConfig
    as_of: date
    writer: RunWriter
    data: ModelData
    features: pd.DataFrame | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def random_state(self) -> int:
        return self.config.seed(self.settings.random_state)

    def require_features(self) -> pd.DataFrame:
        if self.features is None:
            from targetwise.errors import ConfigError

            raise ConfigError("this stage needs the features stage", fix="run it with --stage features")
        return self.features


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: its name, the stages it needs, the outputs it may write, its config section.

    ``run(ctx, record)`` reads through ``ctx.data`` / earlier results, writes its declared
    outputs through ``ctx.writer`` and fills ``record`` (metrics, notes, params); a stage
    that does not apply to the workspace calls ``record.skip(reason)`` and returns. An
    exception fails this stage only: it is recorded (error and fix), its partial outputs
    are discarded, the stages listed in their ``needs`` are skipped, and the run goes on.

    What the stage cost is measured around ``run`` and recorded in the manifest as the
    record's ``cost`` (:class:`~targetwise.io.runs.StageCost`): wall and CPU seconds, peak
    resident memory, and ``rows_out``, the rows of the tables it wrote with
    ``ctx.writer.write_table``. Only ``rows_in`` is the stage's to say: call
    ``record.rows_in(n)`` with the rows its input covered (e.g. the transaction lines it
    aggregated, counted by the query that read them; calls add up). A stage that does not
    call it records ``rows_in: null``.
    """

    name: str
    run: Callable[[RunContext, StageRecord], None]
    outputs: tuple[Output, ...]
    needs: tuple[str, ...] = ()
    config_section: str | None = None
    description: str = ""
