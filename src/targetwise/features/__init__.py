"""Point-in-time customer features, labels and training snapshots on any Ibis backend.

One definition, executed on DuckDB (the workspace, default) or Spark::

    from targetwise.io.engines import open_duckdb
    from targetwise.features import customer_features

    backend = open_duckdb("workspace/targetwise.duckdb")
    frame = customer_features(backend, "2011-09-01").to_pandas()

Features at ``as_of`` read only lines with ``ordered_at < as_of``; labels read
only ``as_of <= ordered_at < as_of + horizon_days``. Every column is defined,
with its unit, in :mod:`targetwise.features.columns`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from targetwise.features._inputs import (
    AsOf,
    DataRange,
    check_as_of,
    check_time_unit,
    data_range,
    discover_channels,
    normalize_as_of,
    resolve_inputs,
)
from targetwise.features.columns import (
    FEATURE_COLUMNS,
    LABEL_COLUMNS,
    FeatureColumn,
    feature_names,
    feature_reference_markdown,
    label_names,
)
from targetwise.features.customer import customer_feature_table
from targetwise.features.labels import check_horizon, label_table
from targetwise.features.snapshots import cutoff_grid, stack

__all__ = [
    "FEATURE_COLUMNS",
    "LABEL_COLUMNS",
    "FeatureColumn",
    "compute_features",
    "customer_features",
    "cutoff_grid",
    "feature_names",
    "feature_reference_markdown",
    "label_names",
    "labels",
    "training_snapshots",
]


def customer_features(
    backend_or_table: Any,
    as_of: AsOf,
    *,
    time_unit: str = "D",
    products: ir.Table | None = None,
    channels: Sequence[str] | None = None,
    span: DataRange | None = None,
) -> ir.Table:
    """Customer features at ``as_of`` as a lazy Ibis table (one row per customer with a purchase before it).

    Parameters
    ----------
    backend_or_table
        An Ibis backend holding ``transactions`` (and optionally ``products``), or a
        transactions table.
    as_of
        Cutoff (date = midnight UTC). Only lines strictly before it are read. Must lie after
        the first transaction and at most one day after the last one.
    time_unit
        BTYD period: ``"D"`` (day) or ``"W"`` (7-day week starting Monday).
    products
        Catalogue table (``product_id``, ``category``) when ``backend_or_table`` is a table.
    channels
        Raw channel values to make ``channel_share_*`` columns for; default: those seen on
        any line before ``as_of`` (pass a fixed list to get stable columns across cutoffs).
    span
        The transactions' :func:`data_range`, when the caller already has it (saves one engine query
        per call: a caller computing features at many cutoffs of the same data passes it once).

    Raises ``DataValidationError`` for a cutoff outside the data, ``ConfigError`` for a bad unit.
    """
    unit_days = check_time_unit(time_unit)
    inputs = resolve_inputs(backend_or_table, products)
    cutoff = normalize_as_of(as_of)
    check_as_of(cutoff, data_range(inputs.transactions) if span is None else span)
    found = discover_channels(inputs.transactions, cutoff) if channels is None else tuple(sorted(channels))
    # Sorted at the source: parallel scans return rows in any order, and models fitted on
    # the rows (LightGBM bagging, calibration splits) depend on it.
    return customer_feature_table(inputs, cutoff, unit_days=unit_days, channels=found).order_by("customer_id")


def labels(
    backend_or_table: Any, as_of: AsOf, *, horizon_days: int = 90, span: DataRange | None = None
) -> ir.Table:
    """Labels over ``[as_of, as_of + horizon_days)`` for the customers with a purchase before ``as_of``.

    Columns: ``purchased_within_{N}d``, ``spend_within_{N}d``, ``churned_{N}d``,
    ``days_to_next_order`` (null = censored at ``observed_until``), ``observed_until``.
    The whole window must lie inside the data (else ``DataValidationError``). ``span``: the
    transactions' :func:`data_range` when the caller has it (one engine query fewer).
    """
    inputs = resolve_inputs(backend_or_table)
    cutoff = normalize_as_of(as_of)
    span = data_range(inputs.transactions) if span is None else span
    check_as_of(cutoff, span)
    check_horizon(cutoff, horizon_days, span)
    return label_table(inputs, cutoff, horizon_days=horizon_days, span=span).order_by("customer_id")


def training_snapshots(
    backend_or_table: Any,
    cutoffs: Sequence[AsOf] | tuple[AsOf, AsOf, int],
    *,
    horizon_days: int = 90,
    time_unit: str = "D",
) -> ir.Table:
    """Features joined with labels at each cutoff, stacked with a ``cutoff`` column (rolling origin).

    ``cutoffs`` is a list of dates or ``(start, end, step_days)``. Channel columns are those
    seen before the latest cutoff, so every snapshot has the same columns (a channel that
    did not exist yet has share 0).
    """
    unit_days = check_time_unit(time_unit)
    inputs = resolve_inputs(backend_or_table)
    grid = cutoff_grid(cutoffs)
    span = data_range(inputs.transactions)
    for cutoff in grid:
        check_as_of(cutoff, span)
        check_horizon(cutoff, horizon_days, span)
    channels = discover_channels(inputs.transactions, grid[-1])
    frames = []
    for cutoff in grid:
        features = customer_feature_table(inputs, cutoff, unit_days=unit_days, channels=channels)
        outcome = label_table(inputs, cutoff, horizon_days=horizon_days, span=span)
        joined = features.join(outcome, features.customer_id == outcome.customer_id)
        frames.append(joined.select(features, *[outcome[c] for c in outcome.columns if c != "customer_id"]))
    # Sorted by (cutoff, customer_id): a union of parallel scans comes back in any order.
    return stack(frames, grid).order_by(["cutoff", "customer_id"])


def compute_features(
    workspace: Any,
    as_of: AsOf,
    *,
    engine: str = "duckdb",
    out: str | os.PathLike[str] | None = None,
    time_unit: str = "D",
    spark_session: Any | None = None,
    spark_connect_url: str | None = None,
) -> pd.DataFrame:
    """Features for a workspace DuckDB (path or connection) on ``engine``, sorted by customer_id.

    ``workspace=None`` with ``engine="spark"`` reads ``transactions``/``products`` from the
    Spark session's catalog (a cluster via ``spark_session`` or ``spark_connect_url``).

    With ``out`` the frame is also written to that Parquet file. This is the function
    behind ``targetwise features --as-of DATE [--engine duckdb|spark] [--out FILE]``.
    """
    import tempfile

    from targetwise.io.engines import open_backend, write_parquet

    # Spark reads the workspace tables from Parquet files staged here; they are removed
    # once the result is collected.
    with tempfile.TemporaryDirectory(prefix="targetwise-spark-") as staging_dir:
        backend = open_backend(
            engine,
            workspace,
            spark_session=spark_session,
            spark_connect_url=spark_connect_url,
            staging_dir=staging_dir,
        )
        frame = customer_features(backend, as_of, time_unit=time_unit).to_pandas()
    frame = frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
    if out is not None:
        write_parquet(frame, out)
    return frame
