"""Use case: a lookalike audience, everyone outside a seed audience ranked by similarity to it.

The CLI (``targetwise audience lookalike``), the API (``POST /v1/audiences/{id}/lookalike``) and the UI's
audience page call :func:`lookalike_audience`, so a lookalike has the same members and the same size
curve on every surface. The customers compared are the rows of the run's feature table (built from
``open_model_data``: profiling objectors at run time left out) minus anyone who objected since; the
model is :class:`targetwise.segment.lookalike.LookalikeRanker` with the run config's ``lookalike``
section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from targetwise.campaigns.audiences import slugify
from targetwise.errors import DataValidationError, Location
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceRecord, AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.workspace import Workspace
from targetwise.runconfig import LookalikeConfig, RunConfig
from targetwise.segment.lookalike import LookalikeRanker, SizePoint, numeric_feature_matrix
from targetwise.usecases.runs import RunData

__all__ = ["CURVE_SHARES", "Lookalike", "lookalike_audience", "run_lookalike_config"]

#: list sizes of the size curve, as shares of the customers outside the seed (the asked size is added)
CURVE_SHARES: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


@dataclass(frozen=True)
class Lookalike:
    """A lookalike list: who, how it was found, and what a list of each size is expected to hold."""

    seed_id: str
    run_id: str
    method: str
    seed_size: int
    seed_without_features: int
    candidates: int
    size: int
    expected: SizePoint
    curve: tuple[SizePoint, ...]
    members: tuple[str, ...]
    excluded: dict[str, int]
    saved: AudienceRecord | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, *, members: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seed_id": self.seed_id, "run_id": self.run_id, "method": self.method, "seed_size": self.seed_size,
            "seed_without_features": self.seed_without_features, "candidates": self.candidates, "size": self.size,
            "expected": self.expected.to_dict(), "curve": [p.to_dict() for p in self.curve],
            "excluded": dict(self.excluded), "notes": list(self.notes),
            "saved": self.saved.to_dict() if self.saved is not None else None,
        }
        if members:
            data["members"] = list(self.members)
        return data


def run_lookalike_config(run: RunData) -> LookalikeConfig:
    """The ``lookalike`` section of the run config recorded in ``run``'s manifest (defaults if none)."""
    recorded = (run.info.manifest.get("parameters") or {}).get("config") or {}
    return RunConfig.parse({"lookalike": recorded.get("lookalike") or {}}, source=f"run {run.run_id}").lookalike


def lookalike_audience(
    ws: Workspace,
    run: RunData,
    seed_id: str,
    *,
    size: int,
    method: str | None = None,
    config: LookalikeConfig | None = None,
    save_as: str | None = None,
    created_by: str | None = None,
    random_state: int = 0,
) -> Lookalike:
    """The ``size`` customers outside audience ``seed_id`` most like its members, with the size curve.

    ``method`` (``pu`` or ``knn``) overrides ``config.method``. ``config`` defaults to the ``lookalike``
    section of the run config that ``run`` was made with (recorded in its manifest; the built-in defaults
    for a run recorded without one), so ``targetwise run --set lookalike.method=knn`` shapes every
    lookalike drawn from that run on the CLI, the API and the UI alike.
    ``save_as`` also saves the list as an audience whose ``source`` records the seed, the size, the
    method and the expected similarity; its definition is ``customer_id in [members]``.
    """
    settings = config if config is not None else run_lookalike_config(run)
    chosen = method or settings.method
    store = AudienceStore(ws)
    seed_record = store.get(seed_id)
    features = run.table(out.FEATURES)
    objected = opted_out(ws, "profiling")
    ids = features["customer_id"].astype(str)
    allowed = ~ids.isin(objected).to_numpy()
    features, ids = features[allowed].reset_index(drop=True), ids[allowed].reset_index(drop=True)
    seed_members = set(store.members(seed_id))
    is_seed = ids.isin(seed_members).to_numpy()
    seed_size = int(is_seed.sum())
    candidates = int((~is_seed).sum())
    if isinstance(size, bool) or not 1 <= int(size) <= candidates:
        raise DataValidationError(
            f"lookalike size {size!r} is outside 1 to {candidates:,} (the customers of run {run.run_id} outside the seed)",
            location=Location(column="size", value=size), fix=f"ask for 1 to {candidates:,} customers",
        )
    ranker = LookalikeRanker(
        chosen,  # type: ignore[arg-type]
        n_neighbors=settings.n_neighbors, n_folds=settings.n_folds, C=settings.C, random_state=random_state,
    ).fit(numeric_feature_matrix(features), is_seed)
    order = ranker.ranking()
    sizes = sorted({max(1, round(share * candidates)) for share in CURVE_SHARES} | {int(size)})
    curve = tuple(ranker.size_curve(sizes))
    expected = next(p for p in curve if p.size == int(size))
    members = tuple(sorted(ids.iloc[order[: int(size)]]))
    without = len(seed_members) - seed_size
    notes = []
    if without:
        notes.append(
            f"{without:,} of the seed's {len(seed_members):,} members are not in run {run.run_id}'s features "
            "(objected to profiling, or no purchase before its cutoff): the seed is the other "
            f"{seed_size:,}"
        )
    excluded = {"profiling_objection": int((~allowed).sum())}
    saved = None
    if save_as is not None:
        saved = store.save(
            slug=slugify(save_as), name=save_as, members=list(members), run_id=run.run_id,
            definition=[{"field": "customer_id", "op": "in", "value": list(members)}], excluded=excluded,
            created_by=created_by,
            source={"kind": "lookalike", "seed": seed_record.id, "seed_size": seed_size, "size": int(size),
                    "method": chosen, "expected_similarity": round(expected.expected_similarity, 4),
                    "estimated_precision": round(expected.estimated_precision, 4)},
        )
    return Lookalike(
        seed_id=seed_record.id, run_id=run.run_id, method=chosen, seed_size=seed_size,
        seed_without_features=without, candidates=candidates, size=int(size), expected=expected, curve=curve,
        members=members, excluded=excluded, saved=saved, notes=tuple(notes),
    )

