"""Rolling-origin training snapshots: features + labels stacked over several cutoffs.

A model trained on one cutoff learns one moment; stacking cutoffs (each row
carries its ``cutoff``) lets it learn from many points in time while every row
still sees only data before its own cutoff. Validate by splitting on
``cutoff`` (train on earlier, test on later cutoffs), never at random.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from targetwise.errors import DataValidationError
from targetwise.features._inputs import AsOf, normalize_as_of

__all__ = ["cutoff_grid"]


def cutoff_grid(cutoffs: Sequence[AsOf] | tuple[AsOf, AsOf, int]) -> list[dt.datetime]:
    """Explicit cutoffs, or ``(start, end, step_days)`` expanded to start, start + step, ... <= end."""
    if (
        isinstance(cutoffs, tuple)
        and len(cutoffs) == 3
        and isinstance(cutoffs[2], int)
        and not isinstance(cutoffs[2], bool)
    ):
        start, end, step = (
            normalize_as_of(cutoffs[0], name="start"),
            normalize_as_of(cutoffs[1], name="end"),
            cutoffs[2],
        )
        if step < 1:
            raise DataValidationError(f"step_days must be >= 1, got {step}", fix="use e.g. (start, end, 30)")
        if end < start:
            raise DataValidationError(f"end {end.date()} is before start {start.date()}", fix="swap them")
        grid = []
        current = start
        while current <= end:
            grid.append(current)
            current += dt.timedelta(days=step)
        return grid
    grid = sorted({normalize_as_of(c, name="cutoff") for c in cutoffs})
    if not grid:
        raise DataValidationError("no cutoffs given", fix="pass a list of dates or (start, end, step_days)")
    return grid


def stack(frames: list[ir.Table], cutoffs: list[dt.datetime]) -> ir.Table:
    """Union of per-cutoff tables with a leading ``cutoff`` column."""
    tagged = [
        frame.select(ibis.literal(cutoff, type="timestamp").name("cutoff"), *frame.columns)
        for frame, cutoff in zip(frames, cutoffs, strict=True)
    ]
    return ibis.union(*tagged, distinct=False) if len(tagged) > 1 else tagged[0]
