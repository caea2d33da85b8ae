"""The one way a figure becomes PNG bytes (run outputs, reports, the segment map)."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["png_bytes", "png_data_uri"]


def png_bytes(figure: Any, *, dpi: int = 100, close: bool = True, crop: bool = True) -> bytes:
    """PNG of a matplotlib Figure or Axes (its figure), cropped tight; the figure is closed unless ``close=False``.

    ``crop=False`` saves the figure at its own size: for a figure already laid out by ``tight_layout`` (whose
    margins fit its labels), it skips the crop's extra layout pass over every artist (about a third of the
    time of a figure with many labels)."""
    import matplotlib.pyplot as plt  # saving to PNG renders with Agg whatever the backend is

    fig = getattr(figure, "figure", None) or figure
    buffer = io.BytesIO()
    if not crop:
        # tight_layout leaves a placeholder layout engine, for which savefig would lay the figure out once more
        fig.set_layout_engine("none")
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if crop else None)
    if close:
        plt.close(fig)
    return buffer.getvalue()


def png_data_uri(figure: Any, *, dpi: int = 100, close: bool = True, crop: bool = True) -> str:
    """The PNG as a ``data:`` URI, for self-contained HTML."""
    data = png_bytes(figure, dpi=dpi, close=close, crop=crop)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
