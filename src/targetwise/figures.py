"""The one way a figure becomes PNG bytes (run outputs, reports, the segment map)."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["png_bytes", "png_data_uri"]


def png_bytes(figure: Any, *, dpi: int = 100, close: bool = True) -> bytes:
    """PNG of a matplotlib Figure or Axes (its figure), cropped tight; the figure is closed unless ``close=False``."""
    import matplotlib.pyplot as plt  # saving to PNG renders with Agg whatever the backend is

    fig = getattr(figure, "figure", None) or figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buffer.getvalue()


def png_data_uri(figure: Any, *, dpi: int = 100, close: bool = True) -> str:
    """The PNG as a ``data:`` URI, for self-contained HTML."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure, dpi=dpi, close=close)).decode("ascii")
