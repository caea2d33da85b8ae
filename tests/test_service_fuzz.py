"""OpenAPI fuzzing with schemathesis: no generated request makes the service answer 5xx.

Bounded: a few examples per operation (CI budget); the responses must also
match the documented schemas (status codes and bodies).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from service_fixtures import Keys, load_workspace_tables, make_run
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12
# Schema-valid bodies may still be refused with 422 by business rules (an unknown filter
# field, a score column the run lacks), so "positive data acceptance" is not checked.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = get_settings(workspace=folder / "ws", duckdb_threads=1, api_rate_limit_per_minute=1_000_000)
    ws = Workspace.init(settings_.workspace, settings_)
    load_workspace_tables(ws, folder)
    RunStore(ws).promote(make_run(ws).run_id)
    keys = Keys(ws)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_, workspace=ws)), keys


def test_no_server_errors_and_documented_responses(served) -> None:
    api_schema, keys = served
    failures: list[str] = []
    calls = {"n": 0}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            response = case.call(headers=Keys.header(keys.admin))
            calls["n"] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            case.validate_response(response, checks=CHECKS)

        check()
    assert failures == []
    assert calls["n"] >= len(operations) * 3
