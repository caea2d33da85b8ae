"""The data of one run as use cases read it: declared outputs, loaded on first use, read-only.

:class:`RunData` wraps a committed run (:class:`targetwise.io.runs.RunInfo`). The
service keeps one per served run in memory (its ``RunCache``); the CLI opens one
for a command. Either way a use case reads the same tables the same way, so the
CLI, the API and the UI give the same answer for the same run.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from targetwise.campaigns.audiences import AUDIENCE_TABLES, audience_frame
from targetwise.errors import NotFoundError
from targetwise.io import outputs as out
from targetwise.io.outputs import Output, path_of
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace

__all__ = ["RunData", "active_run", "parse_drivers", "plain", "records"]


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/NaT/NA as None, timestamps as ISO text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(frame.columns)
    return [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in frame.itertuples(index=False, name=None)]


def parse_drivers(text: Any) -> list[dict[str, Any]]:
    """The drivers column (a JSON list) as plain records; [] when missing."""
    if text is None:
        return []
    drivers = json.loads(text) if isinstance(text, str) else list(text)
    return [{k: plain(v) for k, v in d.items()} for d in drivers]


class RunData:
    """One run's outputs, loaded on first use and then kept in memory (read-only)."""

    def __init__(
        self, info: RunInfo, *, product_names: Callable[[], dict[str, str]], currency: str = ""
    ) -> None:
        self.info = info
        self.run_id = info.run_id
        self.as_of = info.as_of
        self.currency = currency  # the symbol amounts computed from this run are written with (e.g. "£")
        self._product_names = product_names
        self._lock = threading.RLock()  # builders call each other (index -> table)
        self._cache: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------
    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        try:
            return self._cache[name]
        except KeyError:
            pass
        with self._lock:
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    def has(self, output: str | Output) -> bool:
        return self.info.has(output)

    def require(self, output: str | Output) -> None:
        """404 naming the stage whose output is missing from this run."""
        if self.info.has(output):
            return
        relative = path_of(output)
        stage = out.output_for(relative).stage
        record = self.info.stage(stage)
        why = "did not run" if record is None else f"has status {record.status!r}"
        notes = "; ".join(record.notes) if record else ""
        raise NotFoundError(
            f"run {self.run_id} has no {relative}: its {stage!r} stage {why}" + (f" ({notes})" if notes else ""),
            fix=f"run `targetwise run --stage {stage}` (with the stages it needs) and promote that run",
            details={"run_id": self.run_id, "stage": stage, "output": relative},
        )

    def table(self, output: str | Output) -> pd.DataFrame:
        self.require(output)
        relative = path_of(output)
        return self._once(f"table:{relative}", lambda: self.info.read_table(relative))

    def json(self, output: str | Output) -> Any:
        self.require(output)
        relative = path_of(output)
        return self._once(f"json:{relative}", lambda: self.info.read_json(relative))

    def by_customer(self, output: str | Output) -> dict[str, dict[str, Any]]:
        """customer_id -> row (plain values) of a one-row-per-customer table; {} if absent."""
        if not self.has(output):
            return {}

        def build() -> dict[str, dict[str, Any]]:
            return {str(r["customer_id"]): r for r in records(self.table(output))}

        return self._once(f"index:{path_of(output)}", build)

    def grouped(self, output: str | Output, key: str) -> dict[str, list[dict[str, Any]]]:
        """key -> rows ordered by rank, for the recommendation tables."""
        self.require(output)

        def build() -> dict[str, list[dict[str, Any]]]:
            frame = self.table(output).sort_values([key, "rank"], kind="stable")
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in records(frame):
                groups.setdefault(str(row[key]), []).append(row)
            return groups

        return self._once(f"group:{path_of(output)}:{key}", build)

    def popular(self) -> list[dict[str, Any]]:
        self.require(out.POPULAR)
        return self._once("popular", lambda: records(self.table(out.POPULAR).sort_values("rank", kind="stable")))

    def profiles(self) -> list[dict[str, Any]]:
        return self.json(out.PROFILES)

    def members(self, segment_name: str) -> pd.DataFrame:
        """Customers of a segment (by cluster name, or by RFM segment when no cluster has that name)."""
        segments = self.table(out.SEGMENTS)
        by_cluster = segments[segments["cluster_name"] == segment_name]
        chosen = by_cluster if len(by_cluster) else segments[segments["rfm_segment"] == segment_name]
        return chosen.sort_values("customer_id", kind="stable")

    def audience_frame(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            tables = {name: self.table(rel) for name, rel in AUDIENCE_TABLES.items() if self.has(rel)}
            return audience_frame(tables)

        return self._once("audience_frame", build)

    def product_names(self) -> dict[str, str]:
        return self._product_names()


def active_run(ws: Workspace) -> RunData:
    """The workspace's active (promoted) run, for one command; NotFoundError if none."""
    info = RunStore(ws).active()
    if info is None:
        raise NotFoundError("no run is active", fix="run `targetwise run` first")
    return RunData(info, product_names=ws.product_names, currency=ws.settings.currency_symbol)
