"""Request and response schemas of /v1/syncs (the sync use cases' records, nothing internal)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SyncCreate", "SyncHistoryPublic", "SyncList", "SyncPublic", "SyncRunPublic", "SyncRunsPublic"]


class SyncCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: str = Field(min_length=1, max_length=60, examples=["frequent-buyers"],
                          description="Saved audience id (vip-v2) or name slug (vip: its latest version).")
    destination: str = Field(min_length=1, max_length=40, examples=["webhook"])
    options: dict[str, str] = Field(
        default_factory=dict, max_length=20,
        examples=[{"url": "https://receiver.example/hook", "secret_env": "TARGETWISE_WEBHOOK_SECRET"}],
        description="Destination options (docs/syncs.md); secrets only as environment variable NAMES.",
    )


class SyncRunPublic(BaseModel):
    sync_id: str
    run_no: int
    started_at: str
    finished_at: str | None
    version: int | None
    outcome: str = Field(description="ok, no_change, dead_letter, error or interrupted")
    added: int
    removed: int
    batches_ok: int
    dead_letters: int
    detail: str


class SyncPublic(BaseModel):
    sync_id: str
    audience_key: str
    kind: str
    options: dict[str, str]
    created_at: str
    created_by: str | None
    latest_version: int | None = None
    acknowledged: int = Field(0, description="Members the destination holds, as far as it acknowledged.")
    last_run: SyncRunPublic | None = None


class SyncList(BaseModel):
    syncs: list[SyncPublic]


class SyncRunsPublic(BaseModel):
    runs: list[SyncRunPublic]


class SyncHistoryPublic(BaseModel):
    sync: SyncPublic
    versions: list[dict[str, object]]
    runs: list[SyncRunPublic]
    dead_letters: list[dict[str, object]]
