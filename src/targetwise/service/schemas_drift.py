"""Response schema of GET /v1/runs/{run_id}/drift (the run's drift record, as `targetwise drift --json`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Level = Literal["ok", "warn", "alert"]


class PsiRow(BaseModel):
    name: str
    psi: float
    level: Level


class SegmentChange(BaseModel):
    segmentation: str
    share_changed: float
    customers_in_both: int
    level: Level


class MetricRow(BaseModel):
    model: str
    metric: str
    previous: float
    current: float
    worse_by: float
    breach: bool


class Breach(BaseModel):
    kind: Literal["feature", "score", "segments", "metric"]
    name: str
    level: Level
    value: float
    threshold: float
    text: str


class DriftPublic(BaseModel):
    """This run against the previous promoted run (`compared_with` null: there was none)."""

    run_id: str
    compared_with: str | None
    as_of: str | None
    previous_as_of: str | None = None
    thresholds: dict[str, float] = {}
    features: list[PsiRow] = []
    scores: list[PsiRow] = []
    segments: list[SegmentChange] = []
    metrics: list[MetricRow] = []
    breaches: list[Breach] = []
    skipped: list[str] = []
