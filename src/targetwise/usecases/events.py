"""Use case: load posted transaction events exactly like a file ingest (validated, all or nothing)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from targetwise.io.event_writer import EventWriter
from targetwise.io.ingest import IngestSummary, ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace

__all__ = ["load_events"]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def load_events(
    ws: Workspace, rows: list[dict[str, Any]], *, columns: list[str], source: str, writer: EventWriter | None = None
) -> IngestSummary:
    """Load ``rows`` (dicts over ``columns``) into ``transactions``.

    Values are passed on as text so the ingest's own parsing decides (and
    quarantines) exactly as for a CSV file; columns no row fills are left out
    (``customer_id`` is always present, so a missing id is reported by name).
    With ``writer`` (the service's) the post is committed together with the
    posts queued beside it, each still validated and summarised on its own;
    without, it is one ingest of its own.
    """
    present = [c for c in columns if any(r.get(c) is not None for r in rows) or c == "customer_id"]
    frame = pd.DataFrame({c: pd.Series([_text(r.get(c)) for r in rows], dtype=object) for c in present})
    posted = source_from_frame(frame, name=source)
    if writer is None:
        return ingest_arrow(ws, "transactions", posted)
    return writer.submit(posted)
