"""One local SparkSession shared by every Spark test of the run (local[2], 1 GB driver, UTC)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark_session():
    pytest.importorskip("pyspark")
    from targetwise.io.engines import new_spark_session

    session = new_spark_session(master="local[2]", driver_memory="1g", app_name="targetwise-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
