"""Engine parity: the same Ibis definition gives the same features and labels on DuckDB and Spark.

One test on purpose: a Spark query costs seconds even on 7.5k lines, so the run shares one
session and checks features (through compute_features, which stages the workspace tables to Spark
via Parquet) and labels in one go. Weekly BTYD units use the
same integer period expression as daily ones and are checked against lifetimes on DuckDB.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features_fixtures import backend, online_retail
from spark_fixture import spark_session  # noqa: F401  (session-scoped fixture)
from targetwise.features import compute_features, labels
from targetwise.io.engines import open_backend

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = "2011-09-01"


def assert_parity(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    """Exact for ids, counts, booleans and text; 1e-9 relative for floats."""
    assert list(duck.columns) == list(spark.columns)
    assert len(duck) == len(spark)
    for name in duck.columns:
        left, right = duck[name], spark[name]
        if pd.api.types.is_float_dtype(left):
            np.testing.assert_allclose(
                right.to_numpy(float), left.to_numpy(float), rtol=1e-9, atol=0, err_msg=name
            )
        else:
            assert left.isna().equals(right.isna()), name
            assert (left[left.notna()] == right[right.notna()]).all(), name


def test_duckdb_and_spark_agree_on_online_retail(spark_session, tmp_path):  # noqa: F811
    transactions, products = online_retail(with_test_dimensions=True)
    duck_backend = backend(transactions, products)
    # The public path behind `targetwise features --engine spark`: tables staged through Parquet.
    spark_features = compute_features(duck_backend.con, AS_OF, engine="spark", spark_session=spark_session)
    duck_features = compute_features(duck_backend.con, AS_OF)
    assert len(duck_features) == 68
    assert {"channel_share_uk", "channel_share_export"} <= set(duck_features.columns)
    assert duck_features["top_category"].notna().sum() > 60  # the category path is exercised
    assert duck_features["ipi_std_days"].notna().sum() > 20
    assert_parity(duck_features, spark_features)

    spark_backend = open_backend("spark", duck_backend.con, spark_session=spark_session, staging_dir=tmp_path)
    assert spark_backend.name == "pyspark"

    def outcome(engine_backend) -> pd.DataFrame:
        frame = labels(engine_backend, AS_OF, horizon_days=90).to_pandas()
        return frame.sort_values("customer_id").reset_index(drop=True)

    duck_labels, spark_labels = outcome(duck_backend), outcome(spark_backend)
    assert duck_labels["purchased_within_90d"].sum() > 20
    assert_parity(duck_labels, spark_labels)
