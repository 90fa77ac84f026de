"""The Store protocol: everything pims-sync reads from and writes to the product database.

Multi-row semantics (batch upsert with created/updated/unchanged, soft delete and restore,
audit progress) live in SQL functions in ``supabase/migrations``; both implementations call
them, so neither holds a second copy of the logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..models import (
    ApiKeyRecord,
    Audit,
    CaseRecord,
    CaseRef,
    Clinic,
    EncryptedCredentials,
    HistoryPage,
    ScheduleConfigRow,
    UpsertResult,
)


@runtime_checkable
class Store(Protocol):
    # --- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None: ...
    def ping(self) -> None:
        """Raise StoreError when the database cannot answer."""

    # --- clinics -----------------------------------------------------------------------------
    def create_clinic(
        self, *, name: str, timezone: str, pims_provider: str = "idexx", clinic_id: str | None = None
    ) -> Clinic: ...
    def get_clinic(self, clinic_id: str) -> Clinic:
        """Raise NotFound when absent."""

    def list_clinics(self, *, active_only: bool = True) -> list[Clinic]: ...

    # --- credentials (stored encrypted; see pims_sync.crypto) --------------------------------
    def save_credentials(self, creds: EncryptedCredentials) -> None:
        """Insert or replace the clinic's credentials for creds.provider."""

    def get_credentials(self, clinic_id: str, provider: str = "idexx") -> EncryptedCredentials:
        """The active credentials; raise CredentialsMissing when there are none."""

    def mark_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None: ...

    # --- API keys ----------------------------------------------------------------------------
    def create_api_key(
        self,
        *,
        clinic_id: str,
        name: str,
        key_prefix: str,
        key_hash: str,
        permissions: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord: ...
    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """Look up by sha256 hex; the caller still compares in constant time."""

    def list_api_keys(self, clinic_id: str) -> list[ApiKeyRecord]: ...
    def revoke_api_key(self, key_id: str, *, clinic_id: str | None = None) -> bool: ...
    def touch_api_keys(self, key_ids: Sequence[str], at: datetime) -> None:
        """Set last_used_at (batched by the API so requests never wait for it)."""

    # --- schedule configs --------------------------------------------------------------------
    def set_schedule_config(self, clinic_id: str, sync_schedules: Any) -> ScheduleConfigRow: ...
    def get_schedule_config(self, clinic_id: str) -> ScheduleConfigRow | None: ...
    def list_schedule_configs(self, *, changed_since: datetime | None = None) -> list[ScheduleConfigRow]:
        """Rows joined with their clinic's time zone and active flag; only newer ones if asked."""

    # --- cases -------------------------------------------------------------------------------
    def upsert_cases(self, clinic_id: str, cases: Sequence[CaseRecord]) -> UpsertResult:
        """One round trip per batch; unchanged rows are not rewritten; a deleted case reappearing is restored."""

    def cases_needing_enrichment(
        self, clinic_id: str, start: datetime, end: datetime, *, stale_before: datetime | None = None
    ) -> list[CaseRef]:
        """Live cases in [start, end) with a consultation id and no (or stale) consultation data."""

    def save_enrichment(self, clinic_id: str, case_id: str, consultation: dict[str, Any]) -> bool:
        """Store consultation data under metadata.pimsConsultation; False when nothing changed."""

    def cases_in_window(
        self, clinic_id: str, start: datetime, end: datetime, *, source: str, include_deleted: bool = True
    ) -> list[CaseRef]: ...
    def soft_delete_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int: ...
    def restore_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int: ...
    def list_cases(self, clinic_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every column of the clinic's cases, for tests, the CLI and fidelity checks."""

    # --- audits ------------------------------------------------------------------------------
    def create_audit(
        self,
        *,
        clinic_id: str,
        sync_type: str,
        trigger: str,
        audit_id: str | None = None,
        parent_id: str | None = None,
        status: str = "queued",
    ) -> Audit: ...
    def start_audit(self, audit_id: str, *, task_id: str | None = None) -> Audit:
        """Mark in_progress, set started_at, count the attempt (redeliveries show up here)."""

    def update_audit_progress(
        self, audit_id: str, *, processed: int, total: int, stats: dict[str, Any], phase: str | None = None
    ) -> None: ...
    def finish_audit(
        self, audit_id: str, *, status: str, stats: dict[str, Any] | None = None, error: str | None = None
    ) -> Audit:
        """Set the final status, counts from stats, finished_at and duration_ms."""

    def get_audit(self, audit_id: str, *, clinic_id: str | None = None) -> Audit:
        """Raise NotFound when absent or (with clinic_id) owned by another clinic."""

    def child_audits(self, parent_id: str) -> list[Audit]: ...
    def sync_history(
        self, clinic_id: str | None, *, limit: int = 20, cursor: str | None = None, sync_type: str | None = None
    ) -> HistoryPage: ...
    def fail_stale_audits(self, older_than: datetime, *, reason: str = "worker lost") -> int:
        """Mark queued/in_progress audits not updated since older_than as failed."""

    # --- legacy schedule snapshots -----------------------------------------------------------
    def save_schedule_snapshot(self, clinic_id: str, day: str, payload: dict[str, Any]) -> None: ...
    def get_schedule_snapshot(self, clinic_id: str, day: str) -> dict[str, Any] | None: ...
