"""Phase results and the full-sync response shape of the original service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# per phase: the stats keys the original service reported, in its order
SEED_STATS_KEYS = {
    "inbound": ("appointmentsFound", "casesCreated", "casesUpdated", "casesSkipped"),
    "cases": ("casesFound", "casesEnriched", "casesSkipped"),
    "reconcile": ("casesChecked", "casesDeleted"),
}
RESULT_KEY = {"inbound": "inboundResult", "cases": "casesResult", "reconcile": "reconciliationResult"}


@dataclass(frozen=True)
class PhaseResult:
    """What one phase did. status: completed | partial | failed | aborted | skipped | not_run."""

    phase: str
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    audit_id: str | None = None
    duration_ms: int | None = None

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """The seed's `{success, stats}` plus our extra fields."""
        stats = {k: self.stats.get(k, 0) for k in SEED_STATS_KEYS.get(self.phase, ())}
        stats.update({k: v for k, v in self.stats.items() if k not in stats})
        out: dict[str, Any] = {"success": self.success, "stats": stats, "status": self.status}
        if self.error:
            out["error"] = {"code": self.error_code or "sync_error", "message": self.error}
        if self.audit_id:
            out["auditId"] = self.audit_id
        if self.duration_ms is not None:
            out["durationMs"] = self.duration_ms
        return out

    @classmethod
    def from_dict(cls, phase: str, data: dict[str, Any]) -> PhaseResult:
        err = data.get("error") or {}
        return cls(
            phase=phase,
            status=data.get("status") or ("completed" if data.get("success") else "failed"),
            stats=dict(data.get("stats") or {}),
            error=err.get("message") if isinstance(err, dict) else err,
            error_code=err.get("code") if isinstance(err, dict) else None,
            audit_id=data.get("auditId"),
            duration_ms=data.get("durationMs"),
        )


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO 8601 with milliseconds and Z, as the original service printed it."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def full_sync_response(
    sync_id: str, results: dict[str, PhaseResult], *, duration_ms: int, clinic_id: str | None = None
) -> dict[str, Any]:
    """Exactly the seed's full-sync shape (success, syncId, *Result, durationMs, timestamp) plus extras."""
    body: dict[str, Any] = {"success": all(r.success for r in results.values()) and len(results) > 0, "syncId": sync_id}
    for phase, key in RESULT_KEY.items():
        if phase in results:
            body[key] = results[phase].to_dict()
    body["durationMs"] = duration_ms
    body["timestamp"] = utc_timestamp()
    body["status"] = overall_status(results)
    if clinic_id:
        body["clinicId"] = clinic_id
    errors = [
        {"phase": r.phase, "code": r.error_code or "sync_error", "message": r.error}
        for r in results.values()
        if r.error
    ]
    if errors:
        body["errors"] = errors
    return body


def overall_status(results: dict[str, PhaseResult]) -> str:
    statuses = [r.status for r in results.values()]
    if not statuses:
        return "queued"
    if all(s == "completed" for s in statuses):
        return "completed"
    if any(s == "failed" for s in statuses):
        return "failed"
    if all(s in ("skipped",) for s in statuses):
        return "skipped"
    return "partial"
