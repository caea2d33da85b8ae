"""Point-in-time training rows shared by every propensity task of a run.

Each task trains on features at several cutoffs joined with the labels of its
horizon. Tasks share cutoffs (the 30-day task's cutoffs every 30 days include
the 90-day tasks' every 90), and features at a cutoff do not depend on the
horizon, so :class:`SnapshotStore` computes the features at each cutoff once
(one engine query per cutoff) and the labels once per (cutoff, horizon), then
stacks them for each task. The channel columns are the channels seen before
the latest cutoff any task uses, so every snapshot has the same columns.

Row cap: LightGBM does not need every customer of every cutoff to learn the
pattern. With ``max_rows_per_cutoff`` a cutoff with more customers keeps a
uniform sample of that many, drawn without replacement from the rows sorted by
customer id with a generator seeded by ``(random_state, days since 1970 of the
cutoff)``: the same data and seed always keep the same customers, on any
engine. The sample is recorded (:meth:`SnapshotStore.sampling`) and goes into
each task's model card and the run manifest. Scoring is never sampled: every
customer is scored on the features at ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from targetwise.io.engines import fetch_frame

__all__ = ["SnapshotStore"]


def _day(cutoff: dt.date | dt.datetime | pd.Timestamp) -> dt.date:
    return pd.Timestamp(cutoff).date()


class SnapshotStore:
    """Features per cutoff and labels per (cutoff, horizon), each computed once; see the module docstring."""

    def __init__(
        self,
        backend: Any,
        *,
        max_rows_per_cutoff: int | None = None,
        random_state: int = 0,
        channels: tuple[str, ...] | None = None,
    ) -> None:
        self.backend = backend
        self.max_rows_per_cutoff = max_rows_per_cutoff
        self.random_state = random_state
        self.channels = channels
        self._features: dict[dt.date, pd.DataFrame] = {}
        self._labels: dict[tuple[dt.date, int], pd.DataFrame] = {}
        self._sampled: dict[dt.date, tuple[int, int]] = {}
        self._span: Any = None

    def span(self) -> Any:
        """The transactions' first and last line, queried once for every cutoff of the run."""
        if self._span is None:
            from targetwise.features._inputs import data_range, resolve_inputs

            self._span = data_range(resolve_inputs(self.backend).transactions)
        return self._span

    def plan(self, cutoffs: list[dt.date]) -> None:
        """Fix the channel columns from every cutoff the run will use (before any snapshot is computed)."""
        if self.channels is None and cutoffs:
            from targetwise.features._inputs import discover_channels, normalize_as_of, resolve_inputs

            latest = normalize_as_of(max(cutoffs))
            self.channels = discover_channels(resolve_inputs(self.backend).transactions, latest)

    def features(self, cutoff: dt.date) -> pd.DataFrame:
        """Features at ``cutoff`` (sampled to the row cap), sorted by customer id."""
        day = _day(cutoff)
        if day not in self._features:
            from targetwise.features import customer_features

            if self.channels is None:
                self.plan([day])
            frame = fetch_frame(customer_features(self.backend, day, channels=self.channels, span=self.span()))
            frame = frame.sort_values("customer_id", kind="stable", ignore_index=True)
            total = len(frame)
            cap = self.max_rows_per_cutoff
            if cap is not None and total > cap:
                seed = [int(self.random_state), (day - dt.date(1970, 1, 1)).days]
                keep = np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))
                frame = frame.iloc[keep].reset_index(drop=True)
            self._sampled[day] = (len(frame), total)
            self._features[day] = frame
        return self._features[day]

    def labels(self, cutoff: dt.date, horizon_days: int) -> pd.DataFrame:
        day = _day(cutoff)
        key = (day, int(horizon_days))
        if key not in self._labels:
            from targetwise.features import labels

            frame = fetch_frame(labels(self.backend, day, horizon_days=int(horizon_days), span=self.span()))
            self._labels[key] = frame
        return self._labels[key]

    def snapshots(self, cutoffs: list[dt.date], horizon_days: int) -> pd.DataFrame:
        """Features joined with the ``horizon_days`` labels at each cutoff, stacked with a ``cutoff`` column,
        sorted by (cutoff, customer_id), as :func:`targetwise.features.training_snapshots` builds them."""
        frames = []
        for cutoff in sorted(_day(c) for c in cutoffs):
            features = self.features(cutoff)
            outcome = self.labels(cutoff, horizon_days)
            joined = features.merge(outcome, on="customer_id", how="inner", sort=False)
            joined.insert(0, "cutoff", pd.Timestamp(cutoff))
            frames.append(joined)
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def sampling(self, cutoffs: list[dt.date] | None = None) -> dict[str, Any]:
        """What the row cap kept: the cap, the seed and ``{cutoff: [kept, total]}`` for ``cutoffs`` (default: all)."""
        days = sorted(self._sampled) if cutoffs is None else sorted(_day(c) for c in cutoffs)
        return {
            "max_rows_per_cutoff": self.max_rows_per_cutoff,
            "method": "uniform without replacement over the rows sorted by customer_id, "
            "numpy default_rng((random_state, days since 1970 of the cutoff))",
            "random_state": int(self.random_state),
            "rows": {str(d): list(self._sampled[d]) for d in days if d in self._sampled},
        }
