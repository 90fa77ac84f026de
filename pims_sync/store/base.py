"""The Store protocol: everything pims-sync reads from and writes to the product database.

Multi-row semantics (batch upsert with created/updated/unchanged, soft delete and restore,
audit progress) live in SQL functions in ``supabase/migrations``; both implementations call
them, so neither holds a second copy of the logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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

if TYPE_CHECKING:
    from ..webhooks.models import Delivery, WebhookEndpoint


@runtime_checkable
class Store(Protocol):
    # --- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None: ...
    def ping(self) -> None:
        """Raise StoreError when the database cannot answer."""

    # --- clinics -----------------------------------------------------------------------------
    def create_clinic(
        self,
        *,
        name: str,
        timezone: str,
        pims_provider: str = "idexx-neo",
        clinic_id: str | None = None,
        pims_host: str | None = None,
        owner_user_id: str | None = None,
        is_active: bool = True,
        phone_region: str = "US",
    ) -> Clinic:
        """Fields are checked first (ValidationError naming the field): an IANA time zone, a
        provider name ('idexx' is stored as 'idexx-neo'), a host, a UUID owner."""

    def update_clinic(self, clinic_id: str, **changes: Any) -> Clinic:
        """Change name, timezone, pims_provider, pims_host, owner_user_id, is_active, sync_owner or
        phone_region (checked as on create); another key is a ValidationError naming it."""

    def get_clinic(self, clinic_id: str) -> Clinic:
        """Raise NotFound when absent. sync_enabled is the flag of the clinic's credentials row."""

    def list_clinics(self, *, active_only: bool = True) -> list[Clinic]: ...

    # --- credentials (idexx_credentials, stored encrypted; see pims_sync.crypto) -------------
    # A clinic may have several rows (the product keeps one per user): the store uses the first
    # in _clinic_rules.CREDENTIALS_ORDER (active, then most recently updated). Other providers'
    # credentials are not in this table: save refuses them, get says CredentialsMissing.
    def save_credentials(self, creds: EncryptedCredentials) -> None:
        """Update the clinic's row, or insert one (user_id = the clinic's owner_user_id)."""

    def get_credentials(self, clinic_id: str, provider: str = "idexx") -> EncryptedCredentials:
        """The active credentials; raise CredentialsMissing when there are none."""

    def mark_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None: ...
    # Other providers' credentials (pims_sync_provider_credentials, one sealed JSON object per
    # clinic and provider, see store/_provider_credentials.py). mark_credentials_validated above
    # routes there for a provider other than IDEXX.
    def save_provider_credentials(self, creds: Any) -> None:
        """Insert or replace the clinic's row for ``creds.provider``; NotFound without the clinic."""

    def get_provider_credentials(self, clinic_id: str, provider: str) -> Any:
        """The active EncryptedProviderCredentials; CredentialsMissing when there are none."""

    def mark_provider_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None: ...

    # --- provider state (pims_sync_provider_state, see store/_provider_state.py) ---------------
    def get_provider_state(self, clinic_id: str, provider: str) -> Any:
        """The clinic's ProviderState for that provider (incremental watermark, site time zone), or None."""

    def save_sync_watermark(
        self,
        clinic_id: str,
        provider: str,
        *,
        modified_since: datetime,
        window: tuple[datetime, datetime],
        site_timezone: str | None = None,
    ) -> None:
        """After a successful inbound phase: when its fetch started and the UTC window it read; the
        site's time zone if the run learnt it (else the stored one stays). NotFound without the clinic."""

    def set_sync_enabled(self, clinic_id: str, enabled: bool) -> None:
        """The cut-over flag on every credentials row of the clinic; CredentialsMissing without one."""

    # --- API keys ----------------------------------------------------------------------------
    # A key with clinic_id NULL is a shared key: refused unless bound or granted clinics.
    def create_api_key(
        self,
        *,
        clinic_id: str | None,
        name: str | None = None,
        key_prefix: str,
        key_hash: str,
        permissions: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord: ...
    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """Look up by sha256 hex, grants included (one query); the caller compares in constant time."""

    def get_api_key(self, key_id: str) -> ApiKeyRecord:
        """Raise NotFound when absent."""

    def list_api_keys(self, clinic_id: str | None) -> list[ApiKeyRecord]:
        """The clinic's keys; None lists the shared keys."""

    def bind_api_key(self, key_id: str, clinic_id: str) -> ApiKeyRecord:
        """Set a shared key's clinic; ValidationError when it is bound to another clinic."""

    def grant_api_key_clinics(self, key_id: str, clinic_ids: Sequence[str]) -> ApiKeyRecord:
        """Let a shared key act on these clinics (ValidationError for a bound key)."""

    def revoke_api_key_grant(self, key_id: str, clinic_id: str) -> bool: ...
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

    def save_enrichments(self, clinic_id: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[bool]:
        """save_enrichment for each (case id, consultation) in one statement and one commit.

        The changed flags in the items' order. All or nothing: when any case is not the clinic's
        (NotFound) or the statement fails, nothing of the batch is written.
        """

    def cases_in_window(
        self, clinic_id: str, start: datetime, end: datetime, *, source: str, include_deleted: bool = True
    ) -> list[CaseRef]: ...
    def soft_delete_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int: ...
    def restore_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int: ...
    def list_cases(self, clinic_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every column of the clinic's cases, for tests, the CLI and fidelity checks."""

    # --- audits (pims_sync_runs; a trigger mirrors phases into the product's case_sync_audits)
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
    def create_sync_runs(
        self,
        *,
        clinic_id: str,
        sync_type: str,
        trigger: str,
        audit_id: str | None = None,
        phase_types: Sequence[str] = (),
    ) -> tuple[Audit, list[Audit]]:
        """A sync's queued rows in one statement: the top row (idempotent on audit_id, as
        create_audit) and one row per phase type parented to it, returned in that order."""

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

    # --- webhooks (pims_sync_webhooks and their deliveries; docs/WEBHOOKS.md) ----------------
    supports_webhooks: bool

    def create_webhook(self, *, clinic_id: str, url: str, events: Sequence[str], secret_encrypted: bytes,
                       encryption_key_id: str = "default") -> WebhookEndpoint: ...
    def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        """Raise NotFound when absent."""

    def list_webhooks(self, clinic_id: str | None = None) -> list[WebhookEndpoint]: ...
    def delete_webhook(self, webhook_id: str) -> bool: ...
    def set_webhook_enabled(self, webhook_id: str, enabled: bool, *, reason: str | None = None) -> None: ...
    def queue_webhook_deliveries(self, *, clinic_id: str, sync_id: str, event: str,
                                 payload: dict[str, Any]) -> list[str]:
        """One pending delivery per enabled endpoint of the clinic that wants ``event``; ids of new ones."""

    def claim_webhook_delivery(self, delivery_id: str, *, lease_s: int) -> tuple[Delivery, WebhookEndpoint] | None:
        """Take a due delivery for one attempt, or None if it is not ours to send."""

    def record_webhook_attempt(self, delivery: Delivery, *, status_code: int | None, error: str | None,
                               latency_ms: int, next_attempt_at: datetime | None, disable_after: int) -> bool:
        """Log the attempt and settle the delivery; True when this failure disabled the endpoint."""

    def swept_syncs(self, *, reason: str, within_s: float) -> list[Audit]:
        """Top-level syncs the stale-audit sweep failed with ``reason`` in the last ``within_s`` seconds."""

    def due_webhook_deliveries(self, *, limit: int = 100) -> list[str]: ...
    def webhook_deliveries(self, webhook_id: str, *, limit: int = 20) -> list[Delivery]: ...
