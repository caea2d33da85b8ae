"""The one exception tree of targetwise.

Every error a user can cause is a :class:`TargetwiseError`. The CLI prints
``str(error)`` on one line and exits non-zero; the service returns
``error.to_dict()`` as the single JSON error shape. Messages say what was
expected, what arrived, where (file, row, column, value) and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "ConsentError",
    "ConvergenceError",
    "CrossSiteError",
    "DataValidationError",
    "ErasedError",
    "IngestError",
    "Location",
    "ModelEndpointError",
    "ModelEndpointTimeoutError",
    "ModelError",
    "ModelOutputError",
    "NotFittedError",
    "NotFoundError",
    "PartialRunError",
    "PermissionDeniedError",
    "PromptRefusedError",
    "QueueFullError",
    "RateLimitedError",
    "SchemaError",
    "TargetwiseError",
    "WorkspaceBusyError",
    "WorkspaceError",
]


@dataclass(frozen=True)
class Location:
    """Where a bad value sits: file, 1-based data row (header excluded), column, value."""

    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(f"file {self.file}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ", ".join(parts)


class TargetwiseError(Exception):
    """Base of every targetwise error.

    ``code`` is a stable machine-readable identifier used in the API error shape;
    ``fix`` tells the user what to do; ``location`` points at the bad input.
    """

    code: str = "targetwise_error"
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        location: Location | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.fix = fix
        self.location = location
        self.details = details or {}
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.location is not None and self.location.describe():
            text = f"{text} ({self.location.describe()})"
        if self.fix:
            text = f"{text}. Fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape: ``{"error": {code, message, fix, location, details}}``."""
        loc = None
        if self.location is not None:
            loc = {
                "file": self.location.file,
                "row": self.location.row,
                "column": self.location.column,
                "value": None if self.location.value is None else str(self.location.value),
            }
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fix": self.fix,
                "location": loc,
                "details": self.details,
            }
        }


class ConfigError(TargetwiseError):
    code = "config_error"


class WorkspaceError(TargetwiseError):
    code = "workspace_error"


class DataValidationError(TargetwiseError):
    """Input data breaks the canonical schema or a validation rule."""

    code = "data_validation_error"
    http_status = 422


class SchemaError(DataValidationError):
    """Missing, unknown or duplicate columns; wrong types at the column level."""

    code = "schema_error"


class IngestError(TargetwiseError):
    """An ingest could not complete; the workspace is unchanged."""

    code = "ingest_error"


class NotFittedError(TargetwiseError, AttributeError):
    """A predict-style method was called before ``fit``."""

    code = "not_fitted"


class ModelError(TargetwiseError):
    """A model cannot be fitted or used on this input (e.g. too few customers)."""

    code = "model_error"
    http_status = 422


class ConvergenceError(ModelError):
    code = "convergence_error"


class NotFoundError(TargetwiseError):
    code = "not_found"
    http_status = 404


class ErasedError(NotFoundError):
    """The customer was erased (GDPR art. 17): nothing of them is kept, and they are suppressed if they return."""

    code = "erased"


class AuthError(TargetwiseError):
    code = "unauthorized"
    http_status = 401


class PermissionDeniedError(TargetwiseError):
    code = "forbidden"
    http_status = 403


class ConsentError(TargetwiseError):
    code = "consent_error"
    http_status = 409


class CrossSiteError(TargetwiseError):
    """A state-changing UI request that did not come from the UI's own pages (CSRF)."""

    code = "cross_site_request"
    http_status = 403


class RateLimitedError(TargetwiseError):
    """Too many requests for one API key."""

    code = "rate_limited"
    http_status = 429

    @property
    def retry_after(self) -> int:
        return int(self.details.get("retry_after_seconds", 1))


class WorkspaceBusyError(TargetwiseError):
    """Another process holds the workspace database; try again shortly."""

    code = "workspace_busy"
    http_status = 503


class QueueFullError(TargetwiseError):
    """More writes are waiting than the service queues (backpressure); retry after ``retry_after`` seconds."""

    code = "queue_full"
    http_status = 503

    @property
    def retry_after(self) -> int:
        return int(self.details.get("retry_after_seconds", 1))


class PartialRunError(WorkspaceError):
    """A run with a failed stage was to be promoted without saying that a partial run is wanted."""

    code = "partial_run"
    http_status = 409


class ModelEndpointError(TargetwiseError):
    """The configured large-model endpoint (``TARGETWISE_LLM_BASE_URL``) failed or could not be reached."""

    code = "model_endpoint_error"
    http_status = 502


class ModelEndpointTimeoutError(ModelEndpointError):
    """The large-model endpoint did not answer within ``TARGETWISE_LLM_TIMEOUT_S`` (after the retries)."""

    code = "model_endpoint_timeout"
    http_status = 504


class ModelOutputError(ModelEndpointError):
    """The large model answered, but its answer broke the JSON schema it was given (also after one retry)."""

    code = "model_output_invalid"


class PromptRefusedError(TargetwiseError):
    """A prompt was not sent: it held an e-mail address, a phone number or an id present in the workspace."""

    code = "prompt_refused"
    http_status = 422
