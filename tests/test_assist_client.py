"""The large-model client and the scrubber, against a local OpenAI-compatible server (tests/llm_server.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from llm_server import LLMServer
from targetwise.assist import LLMClient, Scrubber, chat_validated, prompt_sha256, scrubber_for
from targetwise.config import get_settings
from targetwise.errors import (
    ConfigError,
    ModelEndpointError,
    ModelEndpointTimeoutError,
    ModelOutputError,
    PromptRefusedError,
)
from targetwise.io.audit import AuditLog

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
MESSAGES = [{"role": "system", "content": "Count."}, {"role": "user", "content": "how many legs has a cat"}]


def client(server: LLMServer, *, audit: AuditLog | None = None, retries: int = 2, timeout_s: float = 5.0,
           api_key: str | None = None, forbidden: set[str] | None = None, sleeps: list[float] | None = None) -> LLMClient:
    waits = sleeps if sleeps is not None else []
    return LLMClient(server.base_url, "recorded-model", scrubber=Scrubber(forbidden or set()), api_key=api_key,
                     timeout_s=timeout_s, max_retries=retries, audit=audit, key_id="key-7", sleep=waits.append)


def llm_entries(audit: AuditLog) -> list[dict]:
    _, entries = audit.query(action="llm_call")
    return [e.details | {"status": e.status, "key_id": e.key_id} for e in reversed(entries)]


def test_chat_json_sends_the_protocol_and_audits_without_the_prompt(workspace) -> None:
    audit = AuditLog(workspace)
    with LLMServer(api_key="sk-local-1") as server:
        server.reply({"n": 4})
        answer, record = client(server, audit=audit, api_key="sk-local-1").chat_json(
            purpose="legs", messages=MESSAGES, schema=SCHEMA, schema_name="count")
    assert answer == {"n": 4}
    assert server.protocol_errors == []
    body = server.requests[0]
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "count", "schema": SCHEMA, "strict": True}}
    assert body["model"] == "recorded-model" and body["messages"] == MESSAGES
    prompt_chars = len("Count.") + len("how many legs has a cat")
    assert (record.attempts, record.prompt_tokens, record.completion_tokens) == (1, prompt_chars // 4, len('{"n": 4}') // 4)
    [entry] = llm_entries(audit)
    assert entry["prompt_sha256"] == prompt_sha256(MESSAGES, SCHEMA) == record.prompt_sha256
    assert entry["outcome"] == "ok" and entry["purpose"] == "legs" and entry["model"] == "recorded-model"
    assert entry["key_id"] == "key-7" and entry["status"] == 200
    assert entry["llm_key"] == hashlib.sha256(b"sk-local-1").hexdigest()[:12]
    log = audit.path.read_text()
    assert "legs has a cat" not in log and "sk-local-1" not in log


def test_retries_5xx_with_backoff_then_succeeds(workspace) -> None:
    sleeps: list[float] = []
    with LLMServer() as server:
        server.fail(500).fail(503).reply({"n": 2})
        answer, record = client(server, sleeps=sleeps).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA,
                                                                 schema_name="count")
    assert answer == {"n": 2} and record.attempts == 3 and sleeps == [0.5, 1.0]


def test_gives_up_after_the_retries_with_a_502(workspace) -> None:
    audit = AuditLog(workspace)
    with LLMServer() as server:
        server.fail(500).fail(500).fail(500).reply({"n": 1})
        with pytest.raises(ModelEndpointError, match=r"failed p: HTTP 500 \(3 attempts\)") as caught:
            client(server, audit=audit).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
        assert len(server.requests) == 3
    assert caught.value.http_status == 502 and caught.value.to_dict()["error"]["fix"]
    assert llm_entries(audit)[0]["outcome"] == "http_500"


def test_429_waits_for_retry_after_and_4xx_is_not_retried() -> None:
    sleeps: list[float] = []
    with LLMServer() as server:
        server.fail(429, Retry_After="3").reply({"n": 1})
        answer, _ = client(server, sleeps=sleeps).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
        assert answer == {"n": 1} and sleeps == [3.0]
        server.fail(401).reply({"n": 1})
        with pytest.raises(ModelEndpointError, match=r"HTTP 401 \(1 attempt\)") as caught:
            client(server).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
    assert "TARGETWISE_LLM_API_KEY" in caught.value.fix


def test_a_timeout_is_retried_then_a_504() -> None:
    with LLMServer() as server:
        server.stall(1.5).stall(1.5)
        with pytest.raises(ModelEndpointTimeoutError, match=r"did not answer p within 0.3 s \(2 attempts\)") as caught:
            client(server, retries=1, timeout_s=0.3).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA,
                                                               schema_name="c")
    assert caught.value.http_status == 504 and caught.value.code == "model_endpoint_timeout"


def test_malformed_answers_are_clean_errors() -> None:
    with LLMServer() as server:
        server.reply("{'n': 4")
        with pytest.raises(ModelOutputError, match="answer to p is not JSON"):
            client(server).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
        server.reply("[1, 2]")
        with pytest.raises(ModelOutputError, match="not an object"):
            client(server).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
        server.broken(b'{"choices": []}')
        with pytest.raises(ModelEndpointError, match=r"without a chat-completions message"):
            client(server).chat_json(purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c")
        server.broken(b"<html>gateway</html>")
        with pytest.raises(ModelEndpointError, match=r"without a chat-completions message"):
            client(server).chat_text(purpose="p", messages=MESSAGES)


def test_chat_text_returns_the_text() -> None:
    with LLMServer() as server:
        server.reply("Four legs.")
        text, record = client(server).chat_text(purpose="p", messages=MESSAGES)
    assert text == "Four legs." and "response_format" not in server.requests[0] and record.outcome == "ok"


def test_the_scrubber_stops_a_prompt_before_anything_is_sent(workspace) -> None:
    audit = AuditLog(workspace)
    cases = [
        ("write to ann.lee@example.com", "an e-mail address"),
        ("call +44 7911 123456", "a phone number"),
        ("customer C000042 spent a lot", "a customer id"),
    ]
    with LLMServer() as server:
        for text, kind in cases:
            messages = [{"role": "user", "content": text}]
            with pytest.raises(PromptRefusedError, match=f"message 1 of the p prompt was not sent .* contains {kind}"):
                client(server, audit=audit, forbidden={"C000042"}).chat_json(
                    purpose="p", messages=messages, schema=SCHEMA, schema_name="c")
        with pytest.raises(PromptRefusedError, match="JSON schema of the p prompt"):
            client(server, forbidden={"C000042"}).chat_json(
                purpose="p", messages=MESSAGES, schema={"enum": ["C000042"]}, schema_name="c")
        assert server.raw_bodies == []
    assert [e["outcome"] for e in llm_entries(audit)] == ["refused"] * 3
    assert "ann.lee" not in audit.path.read_text()


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("champions worth over 500", False),
        ("range 0.00 to 12680.00, median 390.12", False),
        ("probability 0.1234567891 and dates 2024-01-15", False),
        ("C00421 and XC0042 are other ids", False),
        ("ids C0042.", True),
        ("12680 spent", True),
        ("ring 07911 123 456", True),
        ("+1 (555) 010-9999", True),
        ("447911123456", True),
        ("mail ANN@x.com", True),
    ],
)
def test_scrubber_findings(text: str, refused: bool) -> None:
    scrubber = Scrubber({"C0042", "12680", "ann@x.com"})
    assert bool(scrubber.findings(text)) is refused
    if refused:
        with pytest.raises(PromptRefusedError, match="was not sent"):
            scrubber.check(text)
    else:
        assert scrubber.check(text) == text


def test_scrubber_for_holds_the_workspaces_ids_and_contacts(synthetic_demo) -> None:
    ids, emails, phones = synthetic_demo.identifying_values()
    scrubber = scrubber_for(synthetic_demo)
    some_id, some_email, some_phone = sorted(ids)[0], sorted(emails)[0], sorted(phones)[0]
    assert len(ids) == 300 and len(emails) == 300
    for value in (some_id, some_email, some_phone):
        assert scrubber.findings(f"look at {value} now")
    assert scrubber.findings(f"look at {some_id}9 now") == []


def test_from_settings_is_off_without_a_base_url_and_needs_a_model(tmp_path) -> None:
    scrubber = Scrubber(set())
    assert LLMClient.from_settings(get_settings(workspace=tmp_path), scrubber=scrubber) is None
    with pytest.raises(ConfigError, match="TARGETWISE_LLM_MODEL is not"):
        LLMClient.from_settings(get_settings(workspace=tmp_path, llm_base_url="http://x/v1"), scrubber=scrubber)
    with pytest.raises(ConfigError, match="must be an http"):
        LLMClient.from_settings(get_settings(workspace=tmp_path, llm_base_url="ftp://x", llm_model="m"), scrubber=scrubber)
    made = LLMClient.from_settings(get_settings(workspace=tmp_path, llm_base_url="http://h:1/v1/", llm_model="m",
                                                llm_api_key="k"), scrubber=scrubber)
    assert made is not None and made.endpoint == "http://h:1/v1/chat/completions"
    assert made.api_key_id == hashlib.sha256(b"k").hexdigest()[:12]


def _even(answer: dict) -> int:
    if answer["n"] % 2:
        raise ValueError(f"n must be even, got {answer['n']}")
    return answer["n"]


def test_chat_validated_retries_once_with_the_validation_error() -> None:
    with LLMServer() as server:
        server.reply({"n": 3}).reply({"n": 4})
        value, records = chat_validated(client(server), purpose="p", messages=MESSAGES, schema=SCHEMA,
                                        schema_name="c", validate=_even)
        assert value == 4 and len(records) == 2
        retry = server.requests[1]["messages"]
        assert retry[-2] == {"role": "assistant", "content": json.dumps({"n": 3})}
        assert "n must be even, got 3" in retry[-1]["content"]
        server.reply("not json").reply({"n": 5})
        with pytest.raises(ModelOutputError, match="invalid twice: n must be even, got 5"):
            chat_validated(client(server), purpose="p", messages=MESSAGES, schema=SCHEMA, schema_name="c",
                           validate=_even)
        assert "is not JSON" in server.requests[3]["messages"][-1]["content"]
