"""Golden sets for natural-language audiences: text -> expected conditions, scored two ways.

A golden file is JSON lines, one case each::

    {"id": "s017", "workspace": "synthetic", "shape": "time", "text": "haven't ordered in 3 months",
     "conditions": [{"field": "recency_days", "op": ">=", "value": 90}], "unresolved": false}

``workspace`` tags which demo workspace the case is written for (``synthetic``,
``online-retail``; a user's own set may leave it out); ``shape`` is the shape the text
exercises (``SHAPES`` of :mod:`targetwise.assist.audience_text`, or ``unresolved``);
``unresolved: true`` means a correct answer must report part of the text as
unresolved. A value ``{"top_percent": 10}`` (or ``bottom_percent``) stands for that
quantile of the field in the workspace's run, as "top 10% by X" is defined there.

Scores: **exact** when the condition sets are equal as sets (an ``in`` list's order,
and number formatting, do not matter) and unresolved is reported exactly when
expected; **Jaccard** of the audiences the two condition sets select.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import DataValidationError, Location

__all__ = ["GoldenCase", "canonical", "jaccard", "read_golden", "resolve_values"]


@dataclass(frozen=True)
class GoldenCase:
    id: str
    text: str
    conditions: list[dict[str, Any]]
    unresolved: bool
    shape: str
    workspace: str | None


def read_golden(path: Path) -> list[GoldenCase]:
    """The cases of a golden JSONL file (a bad line: DataValidationError naming its line)."""
    cases: list[GoldenCase] = []
    if not path.exists():
        raise DataValidationError(f"golden file {path} does not exist", fix="give the path of a .jsonl golden set")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(GoldenCase(
                id=str(raw.get("id", number)), text=str(raw["text"]), conditions=list(raw["conditions"]),
                unresolved=bool(raw.get("unresolved", False)), shape=str(raw.get("shape", "other")),
                workspace=raw.get("workspace"),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataValidationError(
                f"golden line {number} is not a case: {exc}", location=Location(file=str(path), row=number),
                fix='write {"text": ..., "conditions": [{"field", "op", "value"}], "unresolved": false} per line',
            ) from None
    return cases


def resolve_values(conditions: Iterable[dict[str, Any]], frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``{"top_percent": N}`` / ``{"bottom_percent": N}`` values replaced by the field's quantile in ``frame``."""
    out: list[dict[str, Any]] = []
    for condition in conditions:
        value = condition["value"]
        if isinstance(value, dict):
            top = "top_percent" in value
            share = float(value.get("top_percent", value.get("bottom_percent", 0))) / 100
            column = pd.to_numeric(frame[condition["field"]], errors="coerce").dropna().to_numpy(dtype=float)
            value = round(float(np.quantile(column, 1 - share if top else share)), 2)
        out.append({**condition, "value": value})
    return out


def _value_key(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(sorted(_value_key(v) for v in value))
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 6)
    return str(value)


def canonical(conditions: Iterable[dict[str, Any]]) -> frozenset[tuple[str, str, Any]]:
    """A condition set in a form where equal meaning compares equal (== on one value and in on [it] differ)."""
    return frozenset((str(c["field"]), str(c["op"]), _value_key(c["value"])) for c in conditions)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """|A ∩ B| / |A ∪ B|; 1.0 when both are empty."""
    left, right = set(a), set(b)
    union = left | right
    return 1.0 if not union else len(left & right) / len(union)
