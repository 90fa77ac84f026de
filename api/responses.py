"""Response models (pydantic): what each route answers, published in ``/openapi.json``.

The handlers build plain dicts; these models are their contract. tests/api/test_responses.py
calls every route for real and validates each answer against the published document, so a
handler that drifts from its model fails there. Unknown keys are refused (``extra="forbid"``)
except where a body is open by design (stats, a check's facts).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

_CLOSED = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
_OPEN = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)
Timestamp = str  # ISO 8601 UTC with milliseconds and Z, as the original service printed it


class ErrorDetail(BaseModel):
    model_config = _CLOSED
    code: str = Field(description="Machine-readable: validation_error, unauthorized, sync_in_progress, ...")
    message: str = Field(description="What went wrong and, where it helps, what to do")
    details: Any = Field(description="Structured facts: the fields at fault, the sync holding the clinic, ...")


class Error(BaseModel):
    """Every refusal and failure."""

    model_config = _CLOSED
    success: Literal[False]
    error: ErrorDetail
    timestamp: Timestamp
    sync_id: str | None = Field(None, description="409 sync_in_progress: the sync that holds the clinic")


class Check(BaseModel):
    """One readiness check; a failed one says why, the schema check lists missing migrations."""

    model_config = _OPEN
    ok: bool
    latency_ms: float
    error: str | None = None


class NotReady(Error):
    """503 from /ready: the error shape plus the checks."""

    ready: Literal[False]
    checks: dict[str, Check]
    down: list[str]


class Ready(BaseModel):
    model_config = _CLOSED
    ready: Literal[True]
    checks: dict[str, Check]
    down: list[str]
    timestamp: Timestamp


class Memory(BaseModel):
    model_config = _CLOSED
    rss_bytes: int
    rss_mb: float


class Health(BaseModel):
    model_config = _CLOSED
    status: Literal["ok"]
    uptime_seconds: float
    memory: Memory
    version: str
    timestamp: Timestamp


class PhaseError(BaseModel):
    model_config = _CLOSED
    code: str
    message: str


class SeedPhaseResult(BaseModel):
    """A phase as the original service reported it."""

    model_config = _CLOSED
    success: bool
    stats: dict[str, int]


class SeedSyncResult(BaseModel):
    """200 in wait mode: exactly the original service's full-sync shape."""

    model_config = _CLOSED
    success: bool
    sync_id: str
    inbound_result: SeedPhaseResult | None = None
    cases_result: SeedPhaseResult | None = None
    reconciliation_result: SeedPhaseResult | None = None
    duration_ms: int
    timestamp: Timestamp


class PhaseResult(BaseModel):
    """A phase's outcome: the original {success, stats} plus status, error, audit id and duration."""

    model_config = _CLOSED
    success: bool
    stats: dict[str, Any]
    status: str | None = None
    error: PhaseError | None = None
    audit_id: str | None = None
    duration_ms: int | None = None


class SyncError(BaseModel):
    model_config = _CLOSED
    phase: str
    code: str
    message: str | None


class SyncResult(BaseModel):
    """A finished sync: the original shape plus status, clinicId and errors (207/502 in wait mode)."""

    model_config = _CLOSED
    success: bool
    sync_id: str
    inbound_result: PhaseResult | None = None
    cases_result: PhaseResult | None = None
    reconciliation_result: PhaseResult | None = None
    duration_ms: int
    timestamp: Timestamp
    status: str
    clinic_id: str | None = None
    errors: list[SyncError] | None = None


class Progress(BaseModel):
    model_config = _CLOSED
    processed: int | None
    total: int | None


class PhaseView(BaseModel):
    """One phase of a sync as its audit row says."""

    model_config = _CLOSED
    audit_id: str
    status: str
    progress: Progress
    stats: dict[str, Any]
    error: str | None
    attempts: int
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None


class StatusError(BaseModel):
    model_config = _CLOSED
    phase: str
    message: str | None


class SyncAccepted(BaseModel):
    """202: queued (or still running when the wait ended: then the status fields too)."""

    model_config = _CLOSED
    success: bool
    sync_id: str
    status: str
    status_url: str
    type: str | None = Field(None, description="The sync's type (legacy: schedule or consultation)")
    clinic_id: str | None = None
    date: str | None = Field(None, description="Legacy scrape: the clinic-local day")
    trigger: str | None = None
    current_phase: str | None = None
    phases: dict[str, PhaseView] | None = None
    errors: list[StatusError] | None = None
    created_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None


class SyncStatus(BaseModel):
    """A sync's state, current phase, per-phase progress and errors; the result once it ended."""

    model_config = _CLOSED
    success: Literal[True]
    sync_id: str
    clinic_id: str
    type: str
    trigger: str | None
    status: str
    current_phase: str | None
    phases: dict[str, PhaseView]
    errors: list[StatusError]
    created_at: str | None
    finished_at: str | None
    duration_ms: int | None
    result: SyncResult | None = None


class HistoryRow(BaseModel):
    model_config = _CLOSED
    sync_id: str
    type: str
    status: str
    trigger: str | None
    stats: dict[str, Any]
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None


class HistorySummary(BaseModel):
    model_config = _CLOSED
    total: int
    succeeded: int
    failed: int
    success_rate: float | None


class SyncHistory(BaseModel):
    model_config = _CLOSED
    success: Literal[True]
    syncs: list[HistoryRow]
    next_cursor: str | None
    summary: HistorySummary


class LegacyLastSync(BaseModel):
    model_config = _CLOSED
    sync_id: str
    type: str
    status: str
    trigger: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    error: str | None
    status_url: str


class LegacyStatus(BaseModel):
    model_config = _CLOSED
    success: Literal[True]
    clinic_id: str
    running: str | None = Field(description="The sync queued or running now, if any")
    last_sync: LegacyLastSync | None
