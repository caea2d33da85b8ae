"""Use case: point-in-time customer features (without the customers who objected to profiling)."""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any

import pandas as pd

from targetwise.io.engines import fetch_frame
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace

__all__ = ["compute_workspace_features", "features_at"]

AsOf = date | datetime | str | pd.Timestamp


def features_at(data: ModelData, as_of: AsOf, *, time_unit: str = "D") -> pd.DataFrame:
    """One row per customer with a purchase before ``as_of``, sorted by customer_id (on the data's engine)."""
    from targetwise.features import customer_features

    frame = fetch_frame(customer_features(data.backend, as_of, time_unit=time_unit))
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def compute_workspace_features(
    ws: Workspace,
    as_of: AsOf,
    *,
    engine: str = "duckdb",
    time_unit: str = "D",
    out: str | os.PathLike[str] | None = None,
    spark_connect_url: str | None = None,
    spark_session: Any | None = None,
) -> pd.DataFrame:
    """``targetwise features``: the features on DuckDB or Spark (the tables are staged from the
    consent-filtered views, so objectors never reach Spark either)."""
    from targetwise.features import compute_features

    with open_model_data(ws) as data:
        return compute_features(
            data.con, as_of, engine=engine, out=out, time_unit=time_unit,
            spark_connect_url=spark_connect_url, spark_session=spark_session,
        )
