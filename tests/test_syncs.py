"""Live audiences and syncs to the webhook and files destinations, against a real local receiver.

Runs are written through the real RunWriter (a features table with planted frequencies), consent
through the real ingest, and every webhook request is checked by ``sync_receiver.Receiver``
(signature, timestamp, idempotency key, body schema). Waits are injected, so nothing sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from sync_receiver import Receiver
from targetwise.destinations import DESTINATIONS, RetryPolicy, destination_kinds, sign_webhook
from targetwise.destinations.base import retry_after_seconds
from targetwise.destinations.webhook import WebhookDestination, webhook_body
from targetwise.errors import ConfigError, NotFoundError, PartialRunError
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunStore
from targetwise.io.syncs import SyncStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.live_audiences import promote_and_refresh, refresh_live_audiences
from targetwise.usecases.runs import active_run
from targetwise.usecases.syncs import add_sync, list_syncs, run_sync, sync_history

SECRET = "whsec_test_key"
ENV = "TW_TEST_WEBHOOK_SECRET"
FREQUENT = [{"field": "frequency", "op": ">=", "value": 5}]


def write_run(ws: Workspace, frequency: dict[str, int], *, fail: bool = False) -> str:
    writer = RunStore(ws).begin(as_of="2024-01-01", parameters={})
    with writer.stage("features"):
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": list(frequency), "frequency": list(frequency.values())}))
    if fail:
        with pytest.raises(RuntimeError), writer.stage("segments"):
            raise RuntimeError("planted failure")
    return writer.commit().run_id


def consent(ws: Workspace, rows: list[tuple[str, str, str]]) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "purpose", "status"]).assign(recorded_at="2023-12-01")
    ingest_arrow(ws, "consent", source_from_frame(frame, name="consent"))


def frequent(frequency: dict[str, int]) -> set[str]:
    return {c for c, f in frequency.items() if f >= 5}


RUN1 = {f"C{i:02d}": i % 10 for i in range(30)}  # frequency 5..9 -> 15 members
RUN2 = {f"C{i:02d}": (i + 3) % 10 for i in range(30)}  # shifted: some leave, some join


@pytest.fixture
def live(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv(ENV, SECRET)
    RunStore(workspace).promote(write_run(workspace, RUN1))
    create_audience(workspace, active_run(workspace), name="Frequent buyers", conditions=FREQUENT, created_by=None)
    return workspace


def webhook_sync(ws: Workspace, receiver: Receiver, **extra: str) -> str:
    return add_sync(ws, "frequent-buyers", destination="webhook",
                    options={"url": receiver.url, "secret_env": ENV, **extra}).sync_id


def destination(ws: Workspace, sync_id: str, waits: list[float], *, batch_size: int | None = None) -> WebhookDestination:
    sync = SyncStore(ws).sync(sync_id)
    dest = WebhookDestination.from_options(sync.options, ws.settings)
    dest.sleep = waits.append
    dest.policy = RetryPolicy(max_attempts=3, base_delay_s=0.5, max_delay_s=30.0)
    if batch_size is not None:
        dest.max_batch_size = batch_size  # type: ignore[misc]
    return dest


def test_signature_known_answer() -> None:
    body = b'{"audience":"vip","version":1}'
    expected = hmac.new(b"whsec_test_key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert expected == "8ca490c169392ea45068c24a3c9602061d10fa67587664e85bdee24b4bff7642"
    assert sign_webhook(b"whsec_test_key", 1700000000, body) == f"sha256={expected}"
    assert sign_webhook(b"whsec_test_key", 1700000001, body) != f"sha256={expected}"  # the timestamp is signed


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(datetime(2026, 12, 3, 12, 0, 42, tzinfo=UTC), usegmt=True), now=now) == 42.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert RetryPolicy(base_delay_s=0.5, max_delay_s=3.0).delay(1) == 0.5
    assert RetryPolicy(base_delay_s=0.5, max_delay_s=3.0).delay(3) == 2.0
    assert RetryPolicy(base_delay_s=0.5, max_delay_s=3.0).delay(5) == 3.0  # capped


def test_registry_and_option_errors(live: Workspace) -> None:
    assert {"files", "webhook"} <= set(destination_kinds()) and DESTINATIONS["webhook"] is WebhookDestination
    with pytest.raises(ConfigError, match="unknown destination 'pigeon'"):
        add_sync(live, "frequent-buyers", destination="pigeon", options={})
    with pytest.raises(ConfigError, match="needs the option 'url'"):
        add_sync(live, "frequent-buyers", destination="webhook", options={"secret_env": ENV})
    with pytest.raises(ConfigError, match="plain http to a remote host"):
        add_sync(live, "frequent-buyers", destination="webhook", options={"url": "http://example.com/h", "secret_env": ENV})
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        add_sync(live, "frequent-buyers", destination="webhook", options={"url": "https://x.example/h", "secret_env": "s3cr3t!"})
    with pytest.raises(ConfigError, match="--format 'xlsx' is not supported"):
        add_sync(live, "frequent-buyers", destination="files", options={"path": "/tmp/x", "format": "xlsx"})
    with pytest.raises(ConfigError, match="consent purpose 'profiling' is not a contact channel"):
        add_sync(live, "frequent-buyers", destination="files", options={"path": "/tmp/x", "purpose": "profiling"})
    with pytest.raises(NotFoundError, match="saved audience 'nobody' not found"):
        add_sync(live, "nobody", destination="files", options={"path": "/tmp/x"})
    assert SyncStore(live).syncs() == []  # nothing half-added


def test_first_sync_full_list_then_delta_with_consent_change(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver, hash_email="no")
        first = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        assert receiver.errors == [] and receiver.held == frequent(RUN1) and len(frequent(RUN1)) == 15
        assert (first.outcome, first.added, first.removed, first.version) == ("ok", 15, 0, 1)
        # between the runs: C05 revokes e-mail (the webhook's purpose), C16 objects to profiling,
        # C12 denies ads (another channel: stays)
        consent(live, [("C05", "email", "revoked"), ("C16", "profiling", "denied"), ("C12", "ads", "denied")])
        _, refresh = promote_and_refresh(live, write_run(live, RUN2))
        (version,) = refresh.versions
        members2 = frequent(RUN2) - {"C16"}
        assert (version.version, version.size) == (2, len(members2))
        assert (version.adds, version.removes) == (len(members2 - frequent(RUN1)), len(frequent(RUN1) - members2))
        second = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        target = members2 - {"C05"}
        removed = {c for c, n in receiver.applied.items() if n == 0}
        assert receiver.held == target and removed == frequent(RUN1) - target
        assert (second.added, second.removed) == (len(target - frequent(RUN1)), len(frequent(RUN1) - target))
        assert "C12" in receiver.held and "C05" not in receiver.held and "C16" not in receiver.held
        assert all(n in (0, 1) for n in receiver.applied.values())  # nobody added twice
        assert SyncStore(live).acknowledged(sync_id) == target
        assert [r["action"] for r in receiver.requests[1:]] == ["remove", "add"]  # removes first


def test_retries_on_500_then_429_with_retry_after_apply_once(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver)
        receiver.script = [(500, {}), (429, {"Retry-After": "7"})]
        waits: list[float] = []
        record = run_sync(live, sync_id, destination=destination(live, sync_id, waits))
        assert receiver.errors == [] and [r["answer"] for r in receiver.requests] == [500, 429, 200]
        assert len({r["key"] for r in receiver.requests}) == 1  # the same Idempotency-Key each time
        assert waits == [0.5, 7.0]  # backoff after the 500, the server's Retry-After after the 429
        assert record.outcome == "ok" and record.added == 15
        assert receiver.applied == {c: 1 for c in frequent(RUN1)}
        (batch,) = [b for b in _batches(live, sync_id)]
        assert (batch[0], batch[1]) == ("ok", 3) and batch[2] == "HTTP 500, then HTTP 429, then HTTP 200"


def _batches(ws: Workspace, sync_id: str) -> list[tuple[str, int, str]]:
    with ws.connect(read_only=True) as con:  # the test reads the state table to check what was recorded
        return con.execute("SELECT status, attempts, detail FROM sync_batches WHERE sync_id = ? ORDER BY 1",
                           [sync_id]).fetchall()


def test_dead_letter_after_last_retry_then_resend_same_key(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver)
        receiver.script = [(503, {})] * 3
        waits: list[float] = []
        failed = run_sync(live, sync_id, destination=destination(live, sync_id, waits))
        assert (failed.outcome, failed.added, failed.dead_letters) == ("dead_letter", 0, 1) and waits == [0.5, 1.0]
        assert receiver.held == set() and SyncStore(live).acknowledged(sync_id) == set()
        history = sync_history(live, sync_id)
        (letter,) = history.dead_letters
        assert (letter.action, letter.size, letter.attempts) == ("add", 15, 3)
        assert letter.detail == "HTTP 503 x3 (gave up after 3 attempts)"
        retried = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        assert (retried.outcome, retried.added) == ("ok", 15) and receiver.held == frequent(RUN1)
        assert {r["key"] for r in receiver.requests} == {letter.idempotency_key}  # resent under the same key
        assert [r.outcome for r in sync_history(live, sync_id).runs] == ["dead_letter", "ok"]


def test_no_change_sends_nothing_and_audit_has_no_personal_data(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver, hash_email="yes")
        consent_less = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        assert consent_less.outcome == "ok"
        sent = len(receiver.requests)
        RunStore(live).promote(write_run(live, RUN1))  # same members from a new run
        refresh_live_audiences(live)
        again = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        assert len(receiver.requests) == sent and (again.outcome, again.added, again.removed) == ("no_change", 0, 0)
        summary = {s.sync.sync_id: s for s in list_syncs(live)}[sync_id]
        assert (summary.latest_version, summary.acknowledged, summary.last_run.outcome) == (2, 15, "no_change")
    audit = (live.artifacts / "audit" / "audit.jsonl").read_text()
    entries = [json.loads(line) for line in audit.splitlines() if '"sync.run"' in line]
    assert [(e["details"]["outcome"], e["details"]["added"], e["details"]["destination"]) for e in entries] == [
        ("ok", 15, "webhook"), ("no_change", 0, "webhook")]
    assert not any(f"C{i:02d}" in audit for i in range(30))  # no customer id in the log


def test_resume_after_crash_from_first_unacknowledged_batch(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver)
        answers = 0

        def crash_after_second(response: httpx.Response) -> None:
            nonlocal answers
            answers += 1
            if answers == 2:
                raise RuntimeError("simulated crash: the process dies after the 2nd answer")

        with httpx.Client(event_hooks={"response": [crash_after_second]}) as crashing, pytest.raises(RuntimeError):
            run_sync(live, sync_id, client=crashing, destination=destination(live, sync_id, [], batch_size=4))
        keys = [r["key"] for r in receiver.requests]
        assert len(keys) == 2 and len(SyncStore(live).acknowledged(sync_id)) == 4  # batch 2 reached it, unrecorded
        resumed = run_sync(live, sync_id, destination=destination(live, sync_id, [], batch_size=4))
        resent = [r["key"] for r in receiver.requests[2:]]
        assert resent[0] == keys[1] and keys[0] not in resent and len(resent) == 3  # from batch 2 to batch 4
        assert resumed.outcome == "ok" and resumed.added == 11  # batches 2-4 acknowledged now (4 + 4 + 3)
        assert receiver.applied == {c: 1 for c in frequent(RUN1)} and receiver.errors == []
        assert [r.outcome for r in sync_history(live, sync_id).runs] == ["interrupted", "ok"]


def test_missing_secret_stops_with_the_fix(live: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver)
        monkeypatch.delenv(ENV)
        with pytest.raises(ConfigError, match=f"environment variable {ENV} .* is not set"):
            run_sync(live, sync_id)
        assert receiver.requests == [] and sync_history(live, sync_id).runs[-1].outcome == "error"
    assert SECRET not in json.dumps(SyncStore(live).sync(sync_id).to_dict())  # only the variable's name is stored


def test_failed_run_is_not_promoted_and_changes_nothing(live: Workspace) -> None:
    with Receiver(SECRET.encode()) as receiver:
        sync_id = webhook_sync(live, receiver)
        run_sync(live, sync_id, destination=destination(live, sync_id, []))
        before = (SyncStore(live).versions("frequent-buyers"), SyncStore(live).acknowledged(sync_id))
        failed = write_run(live, RUN2, fail=True)
        with pytest.raises(PartialRunError, match="failed stage"):
            promote_and_refresh(live, failed)
        assert RunStore(live).active_id() != failed
        again = run_sync(live, sync_id, destination=destination(live, sync_id, []))
        assert again.outcome == "no_change" and len(receiver.requests) == 1
        assert (SyncStore(live).versions("frequent-buyers"), SyncStore(live).acknowledged(sync_id)) == before


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_files_destination_writes_a_file_per_action_and_a_manifest(live: Workspace, tmp_path: Path,
                                                                     file_format: str) -> None:
    drop = tmp_path / "drop"
    sync_id = add_sync(live, "frequent-buyers", destination="files",
                       options={"path": str(drop), "format": file_format}).sync_id
    run_sync(live, sync_id)
    promote_and_refresh(live, write_run(live, RUN2))
    run_sync(live, sync_id)
    manifests = sorted(drop.glob("*-manifest.json"))
    assert [m.name for m in manifests] == [f"{sync_id}-v1-p1-manifest.json", f"{sync_id}-v2-p2-manifest.json"]
    second = json.loads(manifests[1].read_text())
    expected = {"add": len(frequent(RUN2) - frequent(RUN1)), "remove": len(frequent(RUN1) - frequent(RUN2))}
    assert second["version"] == 2 and second["counts"] == expected
    for entry in second["files"]:
        data = (drop / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        frame = pd.read_csv(drop / entry["file"], dtype=str) if file_format == "csv" else pd.read_parquet(drop / entry["file"])
        wanted = frequent(RUN2) - frequent(RUN1) if entry["action"] == "add" else frequent(RUN1) - frequent(RUN2)
        assert set(frame["customer_id"]) == wanted and len(frame) == entry["rows"]
    assert not list(drop.glob(".*.part"))


def test_webhook_body_is_exact(live: Workspace) -> None:
    from targetwise.destinations import Batch, Member

    batch = Batch(sync_id="s", audience_id="vip", audience_name="VIP", version=3, action="add",
                  members=(Member("C1", email=" Jo@Example.COM "), Member("C2")), idempotency_key="s-v3-p1-add-00000")
    body = webhook_body(batch, hash_email=True)
    jo = hashlib.sha256(b"jo@example.com").hexdigest()
    assert body == ('{"audience":"VIP","audience_id":"vip","version":3,"action":"add","members":'
                    f'[{{"customer_id":"C1","email_sha256":"{jo}"}},{{"customer_id":"C2","email_sha256":null}}]}}').encode()
