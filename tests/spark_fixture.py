"""One local SparkSession shared by every Spark test of the run (local[2], 1 GB driver, UTC).

The driver JVM runs with the C1 JIT only and the serial collector (``TEST_JAVA_OPTIONS``): a test session is
short, and C2's compile threads and the parallel GC's threads cost it more CPU than they save.
"""

from __future__ import annotations

import pytest

TEST_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark_session():
    pytest.importorskip("pyspark")
    from targetwise.io.engines import new_spark_session

    session = new_spark_session(master="local[2]", driver_memory="1g", app_name="targetwise-tests",
                                java_options=TEST_JAVA_OPTIONS)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
