"""Spark Connect: `targetwise features --engine spark --spark-connect sc://...` against a real server.

The server is a real local Spark Connect server (a Spark driver with the Connect plugin, the jar
PySpark ships) in its own process on a free port. The client is the real command line in another
process: PySpark refuses a Connect session in a process that already runs a classic SparkSession
(the parity tests' shared one), and a user's `targetwise features` is its own process anyway.
The result must equal the DuckDB features of the same workspace (exact counts, 1e-9 floats).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from spark_fixture import TEST_JAVA_OPTIONS
from targetwise.features import compute_features
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace
from test_features_spark import assert_parity

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = "2011-09-01"

SERVER = r"""
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").appName("targetwise-connect-test")
         .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
         .config("spark.connect.grpc.binding.address", "127.0.0.1")
         .config("spark.connect.grpc.binding.port", sys.argv[1])
         .config("spark.driver.memory", "1g").config("spark.sql.shuffle.partitions", "2")
         .config("spark.driver.extraJavaOptions", sys.argv[2])
         .config("spark.ui.enabled", "false").getOrCreate())
print("READY", flush=True)
sys.stdin.read()  # until the test closes our stdin
spark.stop()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("pyspark")
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), TEST_JAVA_OPTIONS],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            ready = False
            while time.monotonic() < deadline and server.poll() is None:
                readable, _, _ = select.select([server.stdout], [], [], 1.0)
                if readable and server.stdout is not None and server.stdout.readline().strip() == "READY":
                    ready = True
                    break
            assert ready, "Spark Connect server did not start:\n" + log.read_text()[-2000:]
            yield f"sc://127.0.0.1:{port}"
        finally:
            if server.stdin is not None:
                server.stdin.close()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def test_features_over_spark_connect_equal_duckdb(connect_url: str, workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    out = tmp_path / "features_connect.parquet"
    done = subprocess.run(
        [sys.executable, "-c", "from targetwise.cli import main; main()", "features", "--as-of", AS_OF,
         "--engine", "spark", "--spark-connect", connect_url, "--out", str(out),
         "--workspace", str(workspace.path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "customers x" in done.stdout
    over_connect = pd.read_parquet(out)
    duck = compute_features(workspace.db_path, AS_OF)
    assert len(duck) == 68 and duck["top_category"].isna().all()  # sample: no catalogue categories
    assert duck["frequency"].sum() > 200
    assert_parity(duck, over_connect.sort_values("customer_id").reset_index(drop=True))


def test_an_unreachable_connect_server_is_one_clear_error(workspace: Workspace) -> None:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    port = _free_port()  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-c", "from targetwise.cli import main; main()", "features", "--as-of", AS_OF,
         "--engine", "spark", "--spark-connect", f"sc://127.0.0.1:{port}", "--workspace", str(workspace.path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"nothing answers at 127.0.0.1:{port}" in lines[0], done.stderr
