"""Per-destination identifier normalisation and hashing for ad-platform exports.

The implementation lives in :mod:`targetwise.identifiers` (a pure module with no
I/O, importable from every layer, including erasure in ``io``); this module is
the campaigns-facing name.
"""

from targetwise.identifiers import *  # noqa: F403
from targetwise.identifiers import __all__ as __all__
