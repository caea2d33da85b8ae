"""API keys (hashed, scoped, revocable), the token bucket, and the `keys` CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import AuthError, ConfigError, NotFoundError, PermissionDeniedError, RateLimitedError
from targetwise.io.keys import KeyStore, scope_allows
from targetwise.io.workspace import Workspace
from targetwise.service.ratelimit import RateLimiter


def test_keys_are_stored_hashed_and_verified(workspace: Workspace) -> None:
    store = KeyStore(workspace)
    key, token = store.create(scope="write", name="crm")
    prefix, key_id, secret = token.split("_", 2)
    assert (prefix, key_id) == ("tw", key.id) and len(secret) >= 40
    stored = json.loads((workspace.artifacts / "keys.json").read_text())["keys"][0]
    assert secret not in json.dumps(stored) and token not in (workspace.artifacts / "keys.json").read_text()
    assert stored["hash"] == hashlib.sha256((stored["salt"] + secret).encode()).hexdigest()
    assert store.verify(token) == key
    assert KeyStore(workspace).verify(f"  {token} ") == key  # a fresh reader; surrounding blanks ignored
    with pytest.raises(AuthError, match="not valid"):
        store.verify(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(AuthError, match="malformed"):
        store.verify("Bearer-something")
    with pytest.raises(AuthError, match="needs an API key"):
        store.verify(None)
    with pytest.raises(ConfigError, match="unknown scope 'root'"):
        store.create(scope="root")


def test_scopes_are_ordered_and_revocation_is_seen_by_running_readers(workspace: Workspace) -> None:
    assert [scope_allows(h, "write") for h in ("read", "write", "admin")] == [False, True, True]
    reader = KeyStore(workspace)  # e.g. the running service
    key, token = KeyStore(workspace).create(scope="read")
    assert reader.verify(token).scope == "read"
    with pytest.raises(PermissionDeniedError, match="has scope 'read'; this needs 'admin'"):
        KeyStore.require(key, "admin")
    KeyStore(workspace).revoke(key.id)  # e.g. the CLI
    with pytest.raises(AuthError, match=f"API key {key.id} was revoked"):
        reader.verify(token)
    with pytest.raises(NotFoundError, match="no API key with id 'ffffffff'"):
        reader.revoke("ffffffff")


def test_token_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one token per second, burst 60
    for _ in range(60):
        limiter.take("k")
    with pytest.raises(RateLimitedError, match="exceeded 60 requests per minute") as info:
        limiter.take("k")
    assert info.value.retry_after == 1 and info.value.http_status == 429
    limiter.take("other")  # buckets are per key
    now[0] = 2.5  # 2.5 tokens back
    limiter.take("k")
    limiter.take("k")
    with pytest.raises(RateLimitedError):
        limiter.take("k")
    now[0] = 1000.0  # never above the burst size
    for _ in range(60):
        limiter.take("k")
    with pytest.raises(RateLimitedError):
        limiter.take("k")


def test_keys_cli_shows_the_key_once(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "shop"
    env = {"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"}
    assert runner.invoke(app, ["init", str(ws)], env=env).exit_code == 0
    created = runner.invoke(app, ["keys", "create", "--scope", "admin", "--name", "ops", "-w", str(ws)], env=env)
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    settings_ws = Workspace.open(ws, get_settings(workspace=ws))
    assert KeyStore(settings_ws).verify(token).scope == "admin"
    listed = runner.invoke(app, ["keys", "list", "-w", str(ws)], env=env)
    assert key_id in listed.output and "ops" in listed.output and token.split("_", 2)[2] not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "-w", str(ws)], env=env)
    assert revoked.exit_code == 0 and f"key {key_id} revoked" in revoked.output
    bad = runner.invoke(app, ["keys", "create", "--scope", "root", "-w", str(ws)], env=env)
    assert bad.exit_code == 1 and "unknown scope 'root'" in bad.output and "Traceback" not in bad.output
