"""Opening engines and writing results: UTC sessions, one clear error line per bad input."""

from __future__ import annotations

import builtins
import shutil

import duckdb
import pandas as pd
import pytest

from features_fixtures import (
    AS_OF,
    HAND_CATEGORIES,
    HAND_ROWS,
    load_duckdb,
    products_frame,
    transactions_frame,
)
from targetwise.errors import ConfigError, DataValidationError, WorkspaceError
from targetwise.features import compute_features
from targetwise.io import engines


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ws") / "targetwise.duckdb"
    con = duckdb.connect(str(path))
    load_duckdb(transactions_frame(HAND_ROWS), products_frame(HAND_CATEGORIES), con=con)
    con.close()
    return path


def test_duckdb_session_is_utc_even_when_adopting_a_connection():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    backend = engines.open_duckdb(con)
    assert backend.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0] == "UTC"


def test_compute_features_from_a_file_writes_parquet(workspace_file, tmp_path):
    out = tmp_path / "nested" / "features.parquet"
    frame = compute_features(workspace_file, AS_OF, out=out)
    assert frame["customer_id"].tolist() == ["A", "B", "E"]
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, frame, check_dtype=False)
    assert not list(out.parent.glob(".*partial"))


def test_unknown_engine_is_a_config_error(workspace_file):
    with pytest.raises(ConfigError, match=r"unknown engine 'polars'.*Fix: use one of: duckdb, spark"):
        compute_features(workspace_file, AS_OF, engine="polars")


def test_missing_workspace_file_and_missing_table(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        compute_features(tmp_path / "nope.duckdb", AS_OF)
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(DataValidationError, match="no `transactions` table"):
        compute_features(empty, AS_OF)


def test_duckdb_engine_needs_a_workspace():
    with pytest.raises(ConfigError, match="no workspace given"):
        engines.open_backend("duckdb", None)


def test_output_must_be_parquet(tmp_path):
    with pytest.raises(ConfigError, match=r"must end in \.parquet"):
        engines.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "features.csv")


def test_spark_without_pyspark_is_one_config_error(monkeypatch, workspace_file):
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(
        ConfigError, match=r"needs PySpark, which is not installed.*pip install 'targetwise\[spark\]'"
    ):
        compute_features(workspace_file, AS_OF, engine="spark")


def test_spark_without_java_is_one_config_error(monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="needs a Java runtime"):
        engines.new_spark_session()


def test_bad_spark_connect_url():
    pytest.importorskip("pyspark")
    with pytest.raises(ConfigError, match="starts with 'sc://'"):
        engines.open_spark(connect_url="http://localhost:15002")


def test_unreachable_spark_connect_server_fails_fast():
    pytest.importorskip("pyspark")
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"nothing answers at 127\.0\.0\.1:{port}") as info:
        engines.open_spark(connect_url=f"sc://127.0.0.1:{port}/;user_id=me")
    assert time.monotonic() - started < 30  # PySpark alone retries for minutes
    assert "start-connect-server" in info.value.fix
    with pytest.raises(ConfigError, match="names no host"):
        engines.open_spark(connect_url="sc://:15002")
