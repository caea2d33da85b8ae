"""How the UI writes names and numbers: template globals over :mod:`targetwise.presentation`."""

from __future__ import annotations

import math
from typing import Any

from targetwise import presentation

__all__ = ["GLOBALS", "label", "number"]


def label(name: str) -> str:
    """A code name's plain label (``recency_days`` -> "Days since last order")."""
    return presentation.label(str(name))


def number(value: Any, digits: int = 2) -> str:
    """A number with thousands separators, '' for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:,.{digits}f}"


#: the template globals: ``label``, ``definition`` (for tooltips), ``number``, ``money``, ``human``, ``percent``, ``count``, ``value`` (by what a column measures)
GLOBALS: dict[str, Any] = {
    "label": label,
    "definition": presentation.definition,
    "number": number,
    "money": presentation.money,
    "human": presentation.human_number,
    "percent": presentation.percent,
    "count": presentation.count,
    "value": presentation.format_value,
}
