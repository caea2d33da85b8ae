"""The pandas string dtype the project uses, the same on pandas 2.3 and pandas 3.

pandas 3 makes ``"str"`` (a string dtype whose missing value is NaN) the default for text; on
pandas 2.3 the name ``"str"`` still means ``object``. ``pd.StringDtype(na_value=np.nan)`` is that
dtype on both (``str()`` of it is ``"str"``), so frames built here look alike whichever pandas the
environment resolved (statsforecast 2.1 caps pandas below 3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: NaN-backed string dtype (pandas 3's default ``str``), constructed explicitly for pandas 2.3.
STRING_DTYPE = pd.StringDtype(na_value=np.nan)
