"""Settings, declared once (name, default, help), read from the environment.

Settings are an explicit object passed to the functions that need them; nothing
reads the environment at import time. Every field is documented in the README's
"Settings" section and a test fails if one is missing there.

Environment variables use the ``TARGETWISE_`` prefix, e.g. ``TARGETWISE_WORKSPACE``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from targetwise.errors import ConfigError
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["Settings", "get_settings", "settings_markdown"]


class Settings(BaseSettings):
    """targetwise settings. Each can be set as ``TARGETWISE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TARGETWISE_", extra="ignore")

    workspace: Path = Field(
        default=Path("targetwise-workspace"),
        description="Workspace folder (DuckDB file + artifacts/).",
    )
    business_timezone: str = Field(
        default="UTC",
        description="IANA time zone in which naive input timestamps are interpreted; stored as UTC.",
    )
    non_product_codes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NON_PRODUCT_CODES),
        description="Product codes that are not products (postage, fees); flagged at ingest.",
    )
    max_reject_fraction: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="An ingest whose rejected share of rows exceeds this stops as a fatal error (likely a wrong mapping).",
    )
    max_id_length: int = Field(
        default=256,
        ge=1,
        description="Ids (customer_id, order_id, product_id, campaign_id) longer than this many characters are "
        "quarantined at ingest (reason id_too_long): usually a wrong column mapping or a pasted text.",
    )
    csv_spool_mb: int = Field(
        default=1024,
        ge=0,
        description="CSV files larger than this (MB on disk; compressed files count 8x) are converted to a "
        "temporary Parquet file in the workspace in a stream and scanned from there, so memory stays bounded; "
        "smaller ones are parsed in memory (faster). A database query's result is fetched in batches and "
        "spooled the same way once the batches held pass this size. 0 spools every CSV and query result.",
    )
    stale_data_days: int = Field(
        default=7,
        ge=0,
        description="A cutoff (--as-of) may lie after the last order (a nightly run after a day without orders): "
        "the gap is reported in days, and past this many days it is a warning that the data may be stale.",
    )
    duckdb_memory_limit: str = Field(
        default="4GB",
        description="DuckDB memory limit for workspace sessions (spills to disk beyond it).",
    )
    duckdb_threads: int | None = Field(
        default=None,
        description="DuckDB threads (default: number of cores).",
    )
    spark_staging_dir: Path | None = Field(
        default=None,
        description="Folder where `targetwise run --engine spark` stages the consent-filtered transactions and products "
        "as Parquet for Spark (a run's own subfolder, removed when the run ends); none = a temporary folder on this "
        "machine. With Spark Connect to a cluster it must be a shared file system mounted at the same path on the "
        "Spark server (docs/scale.md).",
    )
    runs_url: str | None = Field(
        default=None,
        description="Where runs are published for a service elsewhere: a folder or an fsspec URL (`file:///mnt/runs`, "
        "`s3://bucket/targetwise/runs` with `s3fs`, `gs://...` with `gcsfs`, and their credentials). `targetwise run` "
        "copies each committed run to URL/<run_id>/ (the manifest last) and, when it promotes the run, switches "
        "URL/ACTIVE; `targetwise serve` serves the URL's active run, fetched once into the workspace's runs folder; "
        "none = runs stay in the workspace (docs/scale.md).",
    )
    runs_url_poll_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="With a runs URL, how often (seconds) the service reads the URL's ACTIVE pointer; a new active run "
        "is fetched, then served from the next request on (0: at every request).",
    )
    datasets: Path = Field(
        default=Path("../shared/datasets"),
        description="Folder holding public validation datasets (benchmarks only).",
    )
    random_state: int = Field(default=0, description="Seed for every random choice a pipeline makes.")
    currency_code: str = Field(
        default="GBP",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the workspace currency, shown with every amount in reports, the UI and the CLI "
        "(GBP: the bundled Online Retail data). A label only: amounts are never converted.",
    )
    currency_symbol: str = Field(
        default="£",
        max_length=5,
        description="Symbol written before amounts (e.g. $, €); empty = write the currency code after the amount.",
    )
    api_rate_limit_per_minute: int = Field(
        default=6000, ge=1, description="Requests per minute allowed per API key."
    )
    events_queue_max_posts: int = Field(
        default=32,
        ge=1,
        description="Event posts (POST /v1/events) queued or being committed at most; one more is answered 503 "
        "`queue_full` with Retry-After (backpressure). Below the server's 40 request threads, so lookups keep a "
        "thread while posts wait.",
    )
    rescore_after_events_s: float | None = Field(
        default=None,
        ge=0.5,
        le=86400,
        description="When set, the service re-scores the customers with new lines (`targetwise rescore`, promoted) "
        "in the background this many seconds after an events post, once for all posts in that window "
        "(none: only `targetwise rescore` does). GET /v1/events/rescore shows its last outcome.",
    )
    events_group_max_lines: int = Field(
        default=5000,
        ge=1,
        description="Transaction lines committed together at most: the events writer takes queued posts up to this "
        "many lines (always at least one post) into one transaction.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty = CORS off."
    )
    ui_session_hours: int = Field(
        default=12,
        ge=1,
        le=720,
        description="Hours a web UI login lasts: the session (held by the server; the cookie holds only its random "
        "id) then expires and the browser must log in again.",
    )
    trust_proxy: bool = Field(
        default=False,
        description="The service runs behind a reverse proxy: trust its X-Forwarded-Proto / X-Forwarded-Host / "
        "X-Forwarded-For headers (HTTPS detection for the Secure cookie and the same-origin check, client "
        "addresses in the log). Leave off when clients reach the service directly: they could forge them.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, Ollama, "
        "OpenAI), e.g. `http://localhost:8000/v1`; unset = the large-model layer is off and the embedded parsers are "
        "used. Only the field catalogue, the schema and aggregates are sent, never customer data (docs/assist.md).",
    )
    llm_model: str | None = Field(
        default=None, description="Model name sent with every chat-completions request (needed with a base URL)."
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key for the endpoint (none for a local server); never logged, only its SHA-256 prefix.",
    )
    llm_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Seconds one request to the endpoint may take before it is retried."
    )
    llm_max_retries: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Retries (with exponential backoff from 0.5 s) after a timeout, a 429 or a 5xx from the endpoint.",
    )
    llm_allow_sensitive_fields: bool = Field(
        default=False,
        description="Admin switch: also offer demographic/sensitive fields (country, age, gender, ...) in the field "
        "catalogue given to the model. Off: such fields are never described to it.",
    )

    @field_validator("runs_url")
    @classmethod
    def _no_empty_url(cls, value: str | None) -> str | None:
        return (value or "").strip() or None  # TARGETWISE_RUNS_URL= (empty) means none

    @field_validator("business_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'") from None
        return value


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides (None values ignored)."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid setting {name}: {first['msg']}",
            fix=f"correct TARGETWISE_{name.upper()} or the matching option",
        ) from None


def settings_markdown() -> str:
    """The README's "Settings" table, generated from the Settings fields."""
    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        lines.append(f"| `TARGETWISE_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(lines) + "\n"
