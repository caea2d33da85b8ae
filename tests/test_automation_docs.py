"""docs/automation.md: its `nightly.py` runs against the package (a real run; a failed run raises, so nothing
downstream syncs), and the Airflow and Dagster snippets compile and import only what `nightly.py` defines."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.io.ingest import ingest
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

DOC = Path(__file__).resolve().parents[1] / "docs" / "automation.md"


def _block(name: str) -> str:
    found = re.findall(rf"```python {re.escape(name)}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(found) == 1, f"docs/automation.md has {len(found)} blocks named {name}"
    return found[0]


@pytest.fixture(scope="module")
def nightly() -> types.ModuleType:
    module = types.ModuleType("nightly")
    exec(compile(_block("nightly.py"), "docs/automation.md:nightly.py", "exec"), module.__dict__)
    return module


def test_nightly_run_promotes_a_run_and_raises_on_a_failed_one(nightly: types.ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    ws = Workspace.init(path, get_settings(workspace=path))
    with pytest.raises(DataValidationError, match="the workspace has no transactions"):
        nightly.nightly_run(str(path))  # a task that raises: the orchestrator never starts the sync task
    ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    run_id = nightly.nightly_run(str(path), stages=["features"])
    assert RunStore(ws).active_id() == run_id
    assert RunStore(ws).get(run_id).stage("features").metrics["customers"] == 99


@pytest.mark.parametrize("snippet", ["airflow_dag.py", "dagster_defs.py"])
def test_orchestrator_snippets_wrap_the_plain_functions(nightly: types.ModuleType, snippet: str) -> None:
    source = _block(snippet)
    tree = ast.parse(source)  # a syntax error in the docs fails here
    compile(source, snippet, "exec")
    from_nightly = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "nightly"]
    assert from_nightly, f"{snippet} does not import from nightly.py"
    for node in from_nightly:
        for alias in node.names:
            assert callable(getattr(nightly, alias.name, None)), f"{snippet} imports {alias.name}, not in nightly.py"
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"nightly_run", "nightly_sync"} <= called
    assert "subprocess" not in source and "BashOperator" not in source  # the use cases, no shell
    assert "airflow" not in sys.modules and "dagster" not in sys.modules  # not needed to test them
