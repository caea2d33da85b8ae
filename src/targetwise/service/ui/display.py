"""How the UI writes names and numbers (template globals ``label`` and ``number``)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["label", "number"]


def label(name: str) -> str:
    """A column's plain name: ``recency_days`` -> "recency days"."""
    return str(name).replace("_", " ")


def number(value: Any, digits: int = 2) -> str:
    """A number with thousands separators, '' for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:,.{digits}f}"
