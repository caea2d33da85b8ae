"""One small client for any OpenAI-compatible chat-completions endpoint, on httpx (no vendor SDK).

vLLM, llama.cpp's server, Ollama and OpenAI all speak ``POST {base}/chat/completions``
and can hold generation to a JSON schema (``response_format={"type": "json_schema",
...}``). The client adds what targetwise needs around that call:

* **nothing personal leaves the machine**: every message (and the schema) passes the
  workspace's :class:`~targetwise.assist.scrub.Scrubber` before anything is sent;
* a timeout per request (``TARGETWISE_LLM_TIMEOUT_S``) and bounded retries with
  exponential backoff after a timeout, a connection failure, a 429 (its
  ``Retry-After`` honoured up to 10 s) or a 5xx; other 4xx are not retried;
* the answer parsed as JSON (``chat_json``) or taken as text (``chat_text``);
  failures are :class:`~targetwise.errors.ModelEndpointError` (502),
  :class:`~targetwise.errors.ModelEndpointTimeoutError` (504) or
  :class:`~targetwise.errors.ModelOutputError` (502, the answer is not the JSON asked for);
* one audit record per call in the workspace's audit log (action ``llm_call``): the
  caller's key id, the purpose, the SHA-256 of the prompt, the model, the outcome,
  the attempts and the token counts of ``usage``; never the prompt's text.

Example (a local vLLM)::

    TARGETWISE_LLM_BASE_URL=http://localhost:8000/v1 TARGETWISE_LLM_MODEL=Qwen2.5-7B-Instruct \\
        targetwise audience draft "champions who spent over 500"
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx

from targetwise.assist.scrub import Scrubber
from targetwise.config import Settings
from targetwise.errors import (
    ConfigError,
    ModelEndpointError,
    ModelEndpointTimeoutError,
    ModelOutputError,
    PromptRefusedError,
    TargetwiseError,
)
from targetwise.io.audit import AuditLog

__all__ = ["CallRecord", "LLMClient", "chat_validated", "prompt_sha256"]

T = TypeVar("T")
AUDIT_ACTION = "llm_call"
BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 10.0
_FIX_ENDPOINT = (
    "check that TARGETWISE_LLM_BASE_URL points at an OpenAI-compatible server (it serves /chat/completions) that is "
    "running, and that TARGETWISE_LLM_MODEL names a model it serves; unset TARGETWISE_LLM_BASE_URL to use the "
    "embedded default"
)


@dataclass(frozen=True)
class CallRecord:
    """What one call cost and how it ended (what the audit log keeps, and no more)."""

    purpose: str
    model: str
    prompt_sha256: str
    outcome: str
    attempts: int
    http_status: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_sha256(messages: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> str:
    """SHA-256 (hex) of the canonical JSON of the messages and schema: the prompt's identity in the audit log."""
    canonical = json.dumps({"messages": messages, "schema": schema}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class LLMClient:
    """A chat-completions client that scrubs, retries, parses and audits (see the module docstring).

    ``transport`` (an ``httpx.BaseTransport``) and ``sleep`` are for tests and
    embedding; by default requests go over the network and retries wait for real.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        scrubber: Scrubber,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        audit: AuditLog | None = None,
        key_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(
                f"TARGETWISE_LLM_BASE_URL must be an http(s) URL, got {base_url!r}",
                fix="set it to the server's OpenAI-compatible base, e.g. http://localhost:8000/v1",
            )
        if not model.strip():
            raise ConfigError("TARGETWISE_LLM_MODEL is empty", fix="set it to a model the endpoint serves")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.scrubber = scrubber
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.audit = audit
        self.key_id = key_id
        self._api_key = api_key
        self._transport = transport
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        scrubber: Scrubber,
        audit: AuditLog | None = None,
        key_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> LLMClient | None:
        """The configured client, or None when ``TARGETWISE_LLM_BASE_URL`` is unset (the layer is off)."""
        if not settings.llm_base_url:
            return None
        if not settings.llm_model:
            raise ConfigError(
                "TARGETWISE_LLM_BASE_URL is set but TARGETWISE_LLM_MODEL is not",
                fix="set TARGETWISE_LLM_MODEL to a model the endpoint serves (e.g. the name vLLM or Ollama lists)",
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        return cls(
            settings.llm_base_url, settings.llm_model, scrubber=scrubber, api_key=key or None,
            timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries, audit=audit, key_id=key_id,
            transport=transport, sleep=sleep,
        )

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def api_key_id(self) -> str | None:
        """The endpoint key's identity in the audit log: the first 12 hex characters of its SHA-256."""
        return None if self._api_key is None else hashlib.sha256(self._api_key.encode()).hexdigest()[:12]

    # -- the two calls ----------------------------------------------------------------------
    def chat_json(
        self, *, purpose: str, messages: list[dict[str, Any]], schema: dict[str, Any], schema_name: str
    ) -> tuple[dict[str, Any], CallRecord]:
        """The model's answer as a JSON object, generated under ``schema`` (strict json_schema response format).

        The answer is parsed, not trusted: the caller validates it (see
        :func:`chat_validated` for one retry with the
        validation error). Raises :class:`ModelOutputError` when it is not a JSON object.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            },
        }
        content, record = self._call(purpose, body, schema)
        try:
            answer = json.loads(content)
        except json.JSONDecodeError as exc:
            self._log(record, outcome="malformed_json")
            raise ModelOutputError(
                f"the model's answer to {purpose} is not JSON ({exc.msg} at character {exc.pos + 1})",
                fix="use a model/server that supports response_format json_schema (vLLM, llama.cpp server, Ollama, "
                "OpenAI), or unset TARGETWISE_LLM_BASE_URL to use the embedded default",
                details={"purpose": purpose, "attempts": record.attempts},
            ) from None
        if not isinstance(answer, dict):
            self._log(record, outcome="not_an_object")
            raise ModelOutputError(
                f"the model's answer to {purpose} is JSON but not an object (a {type(answer).__name__})",
                fix="use a model/server that enforces response_format json_schema",
                details={"purpose": purpose},
            )
        return answer, self._log(record, outcome="ok")

    def chat_text(self, *, purpose: str, messages: list[dict[str, Any]]) -> tuple[str, CallRecord]:
        """The model's answer as free text."""
        body = {"model": self.model, "messages": messages, "temperature": 0.2}
        content, record = self._call(purpose, body, None)
        return content, self._log(record, outcome="ok")

    # -- the request, its retries and the audit ---------------------------------------------
    def _call(self, purpose: str, body: dict[str, Any], schema: dict[str, Any] | None) -> tuple[str, CallRecord]:
        messages = body["messages"]
        record = CallRecord(purpose=purpose, model=self.model, prompt_sha256=prompt_sha256(messages, schema),
                            outcome="pending", attempts=0)
        try:
            for position, message in enumerate(messages, start=1):
                self.scrubber.check(str(message.get("content", "")), where=f"message {position} of the {purpose} prompt")
            if schema is not None:
                self.scrubber.check(json.dumps(schema), where=f"JSON schema of the {purpose} prompt")
        except PromptRefusedError:
            self._log(record, outcome="refused")
            raise
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        started = time.perf_counter()
        attempts = 0
        last: str = ""
        status: int | None = None
        with httpx.Client(timeout=self.timeout_s, transport=self._transport, follow_redirects=False) as http:
            while True:
                attempts += 1
                wait = BACKOFF_S * 2 ** (attempts - 1)
                try:
                    response = http.post(self.endpoint, json=body, headers=headers)
                except httpx.TimeoutException:
                    last, status = "timeout", None
                except httpx.TransportError as exc:
                    last, status = f"unreachable: {type(exc).__name__}", None
                else:
                    status = response.status_code
                    if status == 200:
                        record = _with(record, attempts=attempts, http_status=status,
                                       elapsed_s=round(time.perf_counter() - started, 3))
                        return self._content(response, record)
                    last = f"HTTP {status}"
                    retry_after = response.headers.get("Retry-After", "")
                    if status == 429 and retry_after.replace(".", "", 1).isdigit():
                        wait = min(float(retry_after), MAX_RETRY_AFTER_S)
                    if status != 429 and status < 500:
                        break  # a request the server will refuse again: no retry
                if attempts > self.max_retries:
                    break
                self._sleep(wait)
        record = _with(record, attempts=attempts, http_status=status, elapsed_s=round(time.perf_counter() - started, 3))
        outcome = "timeout" if last == "timeout" else ("unreachable" if last.startswith("unreachable") else f"http_{status}")
        self._log(record, outcome=outcome)
        where = f"the model endpoint {self.endpoint}"
        if last == "timeout":
            raise ModelEndpointTimeoutError(
                f"{where} did not answer {purpose} within {self.timeout_s:g} s ({attempts} attempts)",
                fix="raise TARGETWISE_LLM_TIMEOUT_S, use a smaller/faster model, or unset TARGETWISE_LLM_BASE_URL "
                "to use the embedded default",
                details={"purpose": purpose, "attempts": attempts},
            )
        raise ModelEndpointError(
            f"{where} failed {purpose}: {last} ({attempts} attempt{'s' if attempts > 1 else ''})",
            fix=_FIX_ENDPOINT + ("; check TARGETWISE_LLM_API_KEY" if status in (401, 403) else ""),
            details={"purpose": purpose, "attempts": attempts, "http_status": status},
        )

    def _content(self, response: httpx.Response, record: CallRecord) -> tuple[str, CallRecord]:
        try:
            payload = response.json()
            choice = payload["choices"][0]["message"]
            content = choice.get("content")
            if not isinstance(content, str):
                raise TypeError("content is not text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            self._log(record, outcome="invalid_response")
            raise ModelEndpointError(
                f"the model endpoint {self.endpoint} answered 200 without a chat-completions message "
                "(choices[0].message.content)",
                fix=_FIX_ENDPOINT,
                details={"purpose": record.purpose},
            ) from None
        usage = payload.get("usage") if isinstance(payload, dict) else None
        if isinstance(usage, dict):
            record = _with(record, prompt_tokens=_int(usage.get("prompt_tokens")),
                           completion_tokens=_int(usage.get("completion_tokens")),
                           total_tokens=_int(usage.get("total_tokens")))
        return content, record

    def _log(self, record: CallRecord, *, outcome: str) -> CallRecord:
        final = _with(record, outcome=outcome)
        if self.audit is not None:
            details = final.to_dict()
            details["llm_key"] = self.api_key_id
            self.audit.record(
                key_id=self.key_id, action=AUDIT_ACTION, method="POST", route="/chat/completions",
                status=final.http_status or 0, details=details,
            )
        return final


def _with(record: CallRecord, **changes: Any) -> CallRecord:
    return replace(record, **changes)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def chat_validated(
    client: LLMClient,
    *,
    purpose: str,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    schema_name: str,
    validate: Callable[[dict[str, Any]], T],
) -> tuple[T, list[CallRecord]]:
    """``validate(answer)`` of the model's JSON answer, with one retry that tells the model what was wrong.

    ``validate`` turns the answer into the caller's checked value or raises a
    :class:`~targetwise.errors.TargetwiseError` / ``ValueError`` (pydantic's
    ``ValidationError`` is one) whose message is sent back once; a second invalid
    answer is :class:`~targetwise.errors.ModelOutputError` naming what was wrong.
    The answer is only ever parsed and validated, never executed.
    """
    records: list[CallRecord] = []
    conversation = list(messages)
    problem = ""
    for attempt in (1, 2):
        try:
            answer, record = client.chat_json(purpose=purpose, messages=conversation, schema=schema,
                                              schema_name=schema_name)
        except ModelOutputError as exc:
            problem, answer = exc.message, None
        else:
            records.append(record)
            try:
                return validate(answer), records
            except (TargetwiseError, ValueError) as exc:
                problem = exc.message if isinstance(exc, TargetwiseError) else _first_line(exc)
        if attempt == 1:
            previous = "" if answer is None else json.dumps(answer)[:2000]
            conversation = [
                *messages,
                *([{"role": "assistant", "content": previous}] if previous else []),
                {"role": "user", "content": f"That answer was invalid: {problem[:500]}. "
                 "Answer again with one JSON object that follows the schema exactly."},
            ]
    raise ModelOutputError(
        f"the model's answer to {purpose} was invalid twice: {problem}",
        fix="try a more capable model (TARGETWISE_LLM_MODEL), rephrase the request, or unset TARGETWISE_LLM_BASE_URL "
        "to use the embedded default",
        details={"purpose": purpose, "calls": len(records)},
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[:3])[:500]
