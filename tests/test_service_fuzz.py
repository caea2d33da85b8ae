"""OpenAPI fuzzing with schemathesis on a throw-away workspace, DELETE (erasure) included.

Every operation gets schema-valid (positive) and schema-violating (negative)
requests, a few examples each (CI budget), sent with the admin key. Every
response must be no 5xx and match its documented status codes, content type
and schema. Besides:

* positive data: a schema-valid request may be refused with 422 only by a rule
  no schema can state (a filter field this run lacks, a date that does not
  parse), never because a value was empty or blank, and never by request
  validation itself: those the schema must declare (schemathesis ST202; the
  null and empty values the probe found are pinned one by one in
  tests/test_service_security.py);
* negative data must be refused (schemathesis ST201, with its own exemptions);
* the erasure route runs last, on random ids and on real customers (and on the
  short id ``00`` that once matched ``:00`` in every timestamp), and afterwards
  every key still works: 0 lockouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks

from service_fixtures import Keys, load_workspace_tables, make_run
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
# ids erased through the API during the fuzz: two real customers and the id that locked the API out
ERASED = ("C2", "C3", "00")


def _undeclared_refusal(response: Any) -> str | None:
    """Why a 422 to a schema-valid request shows the schema hiding a rule, or None if it is a business rule."""
    if response.status_code != 422:
        return None
    error = response.json()["error"]
    if error["code"] == "validation_error":
        return f"request validation refused what the schema allows: {error['message']}"
    # (a refused null cannot be told from "no value involved" here: tests/test_service_security.py pins those)
    value = (error.get("location") or {}).get("value")
    if isinstance(value, str) and not value.strip():
        return f"refused an empty value the schema allows: {error['message']}"
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = get_settings(workspace=folder / "ws", duckdb_threads=1, api_rate_limit_per_minute=1_000_000)
    ws = Workspace.init(settings_.workspace, settings_)
    load_workspace_tables(ws, folder)
    RunStore(ws).promote(make_run(ws).run_id)
    keys = Keys(ws)
    app = create_app(settings_, workspace=ws)
    return schemathesis.openapi.from_asgi("/openapi.json", app), keys, app


def test_no_server_errors_documented_responses_and_no_lockout(served) -> None:
    api_schema, keys, app = served
    failures: list[str] = []
    calls = {"n": 0, "refused_key": 0}
    erased: list[str] = []
    # erasure last: it changes what the other operations see
    operations = sorted((r.ok() for r in api_schema.get_all_operations()), key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) >= 15 and operations[-1].label == "DELETE /v1/customers/{customer_id}"

    def call(case: Any, *, positive: bool) -> None:
        response = case.call(headers=Keys.header(keys.admin))
        calls["n"] += 1
        where = f"{case.method} {case.formatted_path}"
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:200]}")
        if response.status_code == 401:
            calls["refused_key"] += 1
        if case.method == "DELETE" and response.status_code == 200:
            erased.append(case.path_parameters["customer_id"])
        if positive and (why := _undeclared_refusal(response)):
            failures.append(f"{where}: {why}")
        case.validate_response(response, checks=CHECKS if positive else [*CHECKS, checks.negative_data_rejection])

    def fuzz(operation: Any, mode: schemathesis.GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
            derandomize=True,  # the same requests on every run: a failure here reproduces
        )  # fmt: skip
        def check(case: Any) -> None:
            call(case, positive=mode.is_positive)

        try:
            check()
        except Unsatisfiable:  # an operation without parameters or body has no negative requests
            assert not mode.is_positive and operation.label == "GET /v1/health", operation.label

    for operation in operations:
        fuzz(operation, schemathesis.GenerationMode.POSITIVE)
        fuzz(operation, schemathesis.GenerationMode.NEGATIVE)
        if operation.label == "DELETE /v1/customers/{customer_id}":
            for customer_id in ERASED:
                call(operation.Case(path_parameters={"customer_id": customer_id}), positive=True)

    assert failures == [], "\n".join(failures)
    assert calls["n"] >= len(operations) * 3
    assert calls["refused_key"] == 0  # the admin key was never refused
    assert {"C2", "C3"} <= set(erased) and "00" not in erased  # 00 is no customer here: 404
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for token in (keys.read, keys.write, keys.admin):  # 0 lockouts: every key still works
            assert client.get("/v1/audiences", headers=Keys.header(token)).status_code == 200
        assert client.get("/v1/customers/C1", headers=Keys.header(keys.read)).json()["customer_id"] == "C1"
        assert client.get("/v1/customers/C2", headers=Keys.header(keys.read)).status_code == 404
