"""Public facade for recommendations: ``from targetwise.recommend import ...``.

The estimators are pure (no file or database I/O); the CLI and the workspace
layer load the canonical tables and call these functions.
"""

from __future__ import annotations

from targetwise.models.recommend import *  # noqa: F403
from targetwise.models.recommend import __all__ as __all__
