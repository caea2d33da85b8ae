"""A local OpenAI-compatible chat-completions server for tests: replies from recorded answers.

It speaks ``POST /v1/chat/completions`` as the OpenAI API documents it: a JSON body
with ``model`` and ``messages`` (each ``role`` and ``content``), optionally
``response_format`` ``{"type": "json_schema", "json_schema": {"name", "schema",
"strict"}}``; the answer is ``{"id", "object": "chat.completion", "model",
"choices": [{"index": 0, "message": {"role": "assistant", "content"},
"finish_reason": "stop"}], "usage": {...}}``. Every request is checked against that
shape (a malformed one gets 400 and is kept in ``server.protocol_errors``) and kept
in ``server.requests`` so tests can inspect what left the machine.

Replies are queued with :meth:`LLMServer.reply` (content text, or a JSON-able object),
:meth:`LLMServer.fail` (an HTTP status) or :meth:`LLMServer.stall` (no answer before
the client's timeout). An empty queue answers 500 ``no recorded answer``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROLES = {"system", "user", "assistant"}


@dataclass
class Reply:
    status: int = 200
    content: str | None = None
    delay_s: float = 0.0
    raw: bytes | None = None  # a body sent as is (a broken server)
    headers: dict[str, str] = field(default_factory=dict)


def protocol_problems(body: Any, authorization: str | None, expected_key: str | None) -> list[str]:
    """What in a request breaks the chat-completions protocol (empty: a valid request)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model missing")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages missing")
    else:
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                problems.append(f"bad message {m!r}"[:80])
    fmt = body.get("response_format")
    if fmt is not None:
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if fmt.get("type") != "json_schema" or not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or not isinstance(spec.get("schema"), dict) or spec.get("strict") is not True:
            problems.append("bad response_format")
    if expected_key is not None and authorization != f"Bearer {expected_key}":
        problems.append("missing or wrong bearer key")
    return problems


class LLMServer:
    """Serves on 127.0.0.1 on a free port in a thread; use as a context manager."""

    def __init__(self, *, api_key: str | None = None, model: str = "recorded-model") -> None:
        self.api_key = api_key
        self.model = model
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.protocol_errors: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with server._lock:
                    server.raw_bodies.append(raw)
                    reply = server.replies.popleft() if server.replies else Reply(500, "no recorded answer")
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = None
                problems = protocol_problems(body, self.headers.get("Authorization"), server.api_key)
                with server._lock:
                    server.requests.append(body if isinstance(body, dict) else {})
                    server.protocol_errors.extend(problems)
                if problems:
                    self._send(400, {"error": {"message": "; ".join(problems)}})
                    return
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None:
                    self._send(reply.status, None, raw=reply.raw, headers=reply.headers)
                elif reply.status != 200:
                    self._send(reply.status, {"error": {"message": reply.content or "error"}}, headers=reply.headers)
                else:
                    content = reply.content or ""
                    prompt_chars = sum(len(m["content"]) for m in body["messages"])
                    self._send(200, {
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(content) // 4,
                                  "total_tokens": prompt_chars // 4 + len(content) // 4},
                    })

            def _send(self, status: int, payload: Any, *, raw: bytes | None = None,
                      headers: dict[str, str] | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- recorded answers --------------------------------------------------------------------
    def reply(self, content: Any) -> LLMServer:
        """Queue a 200 answer: a text, or an object sent as its JSON text."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.replies.append(Reply(200, text))
        return self

    def fail(self, status: int, message: str = "error", **headers: str) -> LLMServer:
        self.replies.append(Reply(status, message, headers={k.replace("_", "-"): v for k, v in headers.items()}))
        return self

    def stall(self, seconds: float) -> LLMServer:
        self.replies.append(Reply(200, "{}", delay_s=seconds))
        return self

    def broken(self, raw: bytes) -> LLMServer:
        self.replies.append(Reply(200, raw=raw))
        return self

    def sent_text(self) -> str:
        """Everything the clients sent, as one text (to search for what must not leave the machine)."""
        return "\n".join(b.decode("utf-8", "replace") for b in self.raw_bodies)
