"""Use cases: browse a run's segments: behavioural clusters and RFM segments side by side, the RFM grid,
and how customers moved between segments since the previous run.

The run stores profiles for its clusters only (``segments/profiles.json``); RFM
segment profiles are computed here from the run's own ``SEGMENTS`` and
``FEATURES`` tables with the same :func:`targetwise.segment.profile_segments`, so
both kinds read alike in the API and the UI. Results are kept per
:class:`RunData` (a served run is read-only).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from targetwise.errors import NotFoundError
from targetwise.io import outputs as out
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.segment import profile_segments
from targetwise.segment.rfm import RFM_SEGMENTS, fm_score
from targetwise.usecases.runs import RunData
from targetwise.usecases.segments import segment_profiles

__all__ = [
    "RfmGrid",
    "SegmentMoves",
    "find_segment",
    "previous_run",
    "rfm_grid",
    "rfm_profiles",
    "segment_moves",
]

Kind = Literal["cluster", "rfm"]
_CACHE: weakref.WeakKeyDictionary[RunData, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _cached(run: RunData, name: str, build: Callable[[], Any]) -> Any:
    with _LOCK:
        entry = _CACHE.setdefault(run, {})
        if name not in entry:
            entry[name] = build()
        return entry[name]


def _rfm_order(name: str) -> tuple[int, str]:
    return (RFM_SEGMENTS.index(name) if name in RFM_SEGMENTS else len(RFM_SEGMENTS), name)


def rfm_profiles(run: RunData) -> list[dict[str, Any]]:
    """One profile per RFM segment of the run (the cluster profiles' shape, ``kind`` 'rfm'), in the
    standard order (Champions first); [] when the run has no segments. Feature summaries need the
    run's features; without them a profile has only its size and share."""
    if not run.has(out.SEGMENTS):
        return []

    def build() -> list[dict[str, Any]]:
        segments = run.table(out.SEGMENTS)
        labels = segments.set_index(segments["customer_id"].astype(str))["rfm_segment"].astype(str)
        if run.has(out.FEATURES):
            features = run.table(out.FEATURES)
            features = features[features["customer_id"].astype(str).isin(labels.index)]
            labels = labels[labels.index.isin(features["customer_id"].astype(str))]
            profiles = segment_profiles(profile_segments(features, labels, currency=run.currency).reset_index())
        else:
            counts = labels.value_counts(sort=False)
            profiles = [
                {"name": str(n), "cluster": None, "size": int(c), "share": float(c) / len(labels),
                 "revenue_share": None, "description": None, "features": {}}
                for n, c in counts.items()
            ]
        for profile in profiles:
            profile["kind"] = "rfm"
            profile["cluster"] = None
        return sorted(profiles, key=lambda p: _rfm_order(str(p["name"])))

    return _cached(run, "rfm_profiles", build)


def cluster_profiles(run: RunData) -> list[dict[str, Any]]:
    """The run's stored cluster profiles, each with ``kind`` 'cluster'."""
    return [{**p, "kind": "cluster"} for p in run.profiles()]


def find_segment(run: RunData, name: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """A segment's profile and members (ordered by customer id): a behavioural cluster by name, else an
    RFM segment by name (a cluster wins when both have the name); 404 listing both kinds."""
    run.require(out.SEGMENTS)
    clusters = {p["name"]: p for p in cluster_profiles(run)} if run.has(out.PROFILES) else {}
    rfm = {p["name"]: p for p in rfm_profiles(run)}
    profile = clusters.get(name) or rfm.get(name)
    if profile is None:
        raise NotFoundError(
            f"segment {name!r} not found in run {run.run_id}",
            fix=f"clusters of this run: {', '.join(clusters) or 'none'}; RFM segments: {', '.join(rfm) or 'none'}",
            details={"run_id": run.run_id},
        )
    segments = run.table(out.SEGMENTS)
    column = "cluster_name" if profile["kind"] == "cluster" else "rfm_segment"
    members = segments[segments[column] == name].sort_values("customer_id", kind="stable")
    return profile, members


@dataclass(frozen=True)
class RfmGrid:
    """Customers per (recency score, frequency-monetary score) cell, FM = mean of F and M rounded half up.

    ``recency`` runs from the best score (most recent) down; ``cells[i][j]`` is the cell of
    ``recency[i]`` and ``fm[j]``: ``{"r", "fm", "count", "segment"}`` (the cell's most common segment).
    """

    recency: list[int]
    fm: list[int]
    cells: list[list[dict[str, Any]]]
    total: int
    unscored: int = 0


def rfm_grid(run: RunData) -> RfmGrid:
    """The RFM grid of the run's customers (from their three-digit ``rfm_score``)."""
    if not run.has(out.SEGMENTS):
        return RfmGrid(recency=[], fm=[], cells=[], total=0)

    def build() -> RfmGrid:
        segments = run.table(out.SEGMENTS)
        codes = segments["rfm_score"].astype("string").str.strip()
        parsed = codes.str.fullmatch(r"[1-9]{3}").fillna(False).astype(bool)
        scored = segments[parsed.to_numpy()]
        digits = codes[parsed]
        r = digits.str[0].astype(int).to_numpy()
        fm = fm_score(digits.str[1].astype(int).to_numpy(), digits.str[2].astype(int).to_numpy())
        frame = pd.DataFrame({"r": r, "fm": fm, "segment": scored["rfm_segment"].astype(str).to_numpy()})
        top = int(max(5, frame["r"].max() if len(frame) else 5, frame["fm"].max() if len(frame) else 5))
        counts = frame.groupby(["r", "fm"]).size()
        names = frame.groupby(["r", "fm"])["segment"].agg(lambda s: s.value_counts().sort_index().idxmax())
        recency = list(range(top, 0, -1))
        fms = list(range(1, top + 1))
        cells = [
            [{"r": ri, "fm": fj, "count": int(counts.get((ri, fj), 0)), "segment": names.get((ri, fj))} for fj in fms]
            for ri in recency
        ]
        return RfmGrid(recency=recency, fm=fms, cells=cells, total=len(frame), unscored=int((~parsed).sum()))

    return _cached(run, "rfm_grid", build)


def previous_run(ws: Workspace, run: RunData) -> RunInfo | None:
    """The newest committed run created before ``run`` that has segments (None if there is none)."""
    earlier = [
        info for info in RunStore(ws).list()
        if info.run_id != run.run_id and info.created_at < run.info.created_at and info.has(out.SEGMENTS)
    ]
    return max(earlier, key=lambda info: (info.created_at, info.run_id), default=None)


@dataclass(frozen=True)
class SegmentMoves:
    """How customers moved between segments (``by``: 'rfm' or 'cluster') from the previous run to this one.

    ``moves``: one row per (from, to) pair with its count, customers in both runs only, largest first;
    ``stayed`` of them kept their segment. ``joined``: customers new in this run; ``left``: in the previous
    run only. ``explanation`` says what the table compares, or why it is empty.
    """

    by: Kind
    run_id: str
    previous_run_id: str | None
    previous_as_of: str | None
    moves: list[dict[str, Any]] = field(default_factory=list)
    compared: int = 0
    stayed: int = 0
    joined: int = 0
    left: int = 0
    explanation: str = ""


def segment_moves(ws: Workspace, run: RunData, *, by: Kind = "rfm") -> SegmentMoves:
    """From -> to counts of each customer's segment between the previous run and ``run``."""
    column = "rfm_segment" if by == "rfm" else "cluster_name"
    kind = "RFM segment" if by == "rfm" else "behavioural cluster"
    if not run.has(out.SEGMENTS):
        return SegmentMoves(by=by, run_id=run.run_id, previous_run_id=None, previous_as_of=None,
                            explanation=f"run {run.run_id} has no segments, so there is nothing to compare")
    previous = previous_run(ws, run)
    if previous is None:
        return SegmentMoves(
            by=by, run_id=run.run_id, previous_run_id=None, previous_as_of=None,
            explanation=f"no earlier run with segments than {run.run_id}: moves between segments show from the "
            "second run on (run `targetwise run` again when new orders have arrived, e.g. monthly)",
        )

    def build() -> SegmentMoves:
        now = run.table(out.SEGMENTS)
        before = previous.read_table(out.SEGMENTS, columns=["customer_id", column])
        now_s = now.set_index(now["customer_id"].astype(str))[column].astype("string").fillna("(none)")
        before_s = before.set_index(before["customer_id"].astype(str))[column].astype("string").fillna("(none)")
        both = now_s.index.intersection(before_s.index)
        pairs = pd.DataFrame({"from": before_s.reindex(both).to_numpy(), "to": now_s.reindex(both).to_numpy()})
        counted = pairs.groupby(["from", "to"]).size().reset_index(name="count")
        counted = counted.sort_values(["count", "from", "to"], ascending=[False, True, True], kind="stable")
        moves = [{"from": str(r["from"]), "to": str(r["to"]), "count": int(r["count"])} for _, r in counted.iterrows()]
        stayed = int((pairs["from"] == pairs["to"]).sum())
        return SegmentMoves(
            by=by, run_id=run.run_id, previous_run_id=previous.run_id, previous_as_of=previous.as_of,
            moves=moves, compared=len(both), stayed=stayed,
            joined=int((~now_s.index.isin(before_s.index)).sum()), left=int((~before_s.index.isin(now_s.index)).sum()),
            explanation=f"each customer's {kind} in run {previous.run_id} (as of {previous.as_of}) against run "
            f"{run.run_id} (as of {run.as_of}); customers in both runs",
        )

    return _cached(run, f"moves:{by}:{previous.run_id}", build)
