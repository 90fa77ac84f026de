"""Domain models: frozen dataclasses that cross every boundary.

Providers return these, never raw PIMS JSON; the sync phases turn them into store rows.
Collections are tuples so a model stays hashable and immutable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any

# Raw JSON as a PIMS, the product's database or a caller sends it: the one place `Any` stands for
# "whatever the other side put there" (models and transforms give it a real type right after).
JsonObject = dict[str, Any]

CASE_SOURCE_IDEXX = "pims:idexx-neo"

# The status chain (docs/IDEXX_STATUS.md has the full table):
#   the PIMS's own string -> a PIMS_STATUSES value (the provider's transforms)
#   -> a CASE_STATUSES value, the product's vocabulary (case_status_for, here and nowhere else).
# What the appointment is doing, normalised across PIMS; kept beside the case as cases.pims_status.
PIMS_STATUSES = (
    "scheduled",
    "confirmed",
    "arrived",
    "in_progress",
    "completed",
    "cancelled",
    "no_show",
)
# cases.status — the product's own vocabulary (its screens know these four values only)
CASE_STATUSES = ("draft", "ongoing", "completed", "reviewed")
_CASE_STATUS_FOR = {
    "scheduled": "draft",
    "confirmed": "draft",
    "arrived": "ongoing",
    "in_progress": "ongoing",
    "completed": "completed",
    "cancelled": "reviewed",
    "no_show": "reviewed",
}


def case_status_for(pims_status: str | None) -> str:
    """The product's case status for a normalised PIMS status (the old service's mapping).

    scheduled/confirmed -> draft; arrived/in progress -> ongoing; completed -> completed;
    cancelled/no-show -> reviewed; anything else -> draft.
    """
    return _CASE_STATUS_FOR.get(pims_status or "", "draft")


# cases.type — what kind of visit it is
CASE_TYPES = (
    "consultation",
    "checkup",
    "vaccination",
    "surgery",
    "dental",
    "emergency",
    "follow_up",
    "grooming",
    "other",
)
SYNC_TYPES = ("inbound", "cases", "reconciliation", "full", "schedule", "consultation")
AUDIT_STATUSES = ("queued", "in_progress", "completed", "failed", "partial", "skipped", "aborted", "not_run")
TRIGGERS = ("api", "schedule", "cli")
PERMISSIONS = ("sync:inbound", "sync:cases", "sync:reconcile")
# the product's own spellings (its keys carry bare phase names) mean the same permissions
PERMISSION_ALIASES = {
    "sync:reconciliation": "sync:reconcile",
    "inbound": "sync:inbound",
    "cases": "sync:cases",
    "reconciliation": "sync:reconcile",
    "reconcile": "sync:reconcile",
}


def external_id_for(appointment_id: str, provider_slug: str = "idexx-neo") -> str:
    return f"pims-appt-{provider_slug}-{appointment_id}"


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    timezone: str
    pims_provider: str = "idexx-neo"  # a registry name; "idexx" is an accepted alias
    is_active: bool = True
    phone_region: str = "US"
    pims_host: str | None = None  # the clinic's PIMS host (https://ca.idexxneo.com); None = the default
    owner_user_id: str | None = None  # cases.user_id of the cases the sync creates
    sync_owner: str = "pims-sync"  # "pims-sync" | "legacy": which service syncs this clinic (cut-over)
    sync_enabled: bool = True  # idexx_credentials.sync_enabled (False: no scheduled or API sync)


@dataclass(frozen=True)
class Credentials:
    """Decrypted PIMS credentials. Lives only inside a worker; repr never shows values."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    company_id: str = field(repr=False)

    def __repr__(self) -> str:  # belt and braces: dataclass repr=False still prints the class
        return "Credentials(<redacted>)"


@dataclass(frozen=True)
class EncryptedCredentials:
    clinic_id: str
    provider: str
    username_encrypted: bytes = field(repr=False)
    password_encrypted: bytes = field(repr=False)
    company_id_encrypted: bytes = field(repr=False)
    encryption_key_id: str = "default"
    is_active: bool = True
    validation_status: str | None = None


@dataclass(frozen=True)
class Appointment:
    """One bookable appointment (blocks and rosters never become one)."""

    id: str  # the PIMS appointment id, as a string
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    status: str  # one of PIMS_STATUSES (normalised; case_status_for gives the product's)
    type: str  # one of CASE_TYPES
    consultation_id: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    species: str | None = None
    client_id: str | None = None
    client_first_name: str | None = None
    client_last_name: str | None = None
    client_email: str | None = None
    client_phone_raw: str | None = None
    client_phone_e164: str | None = None
    provider_name: str | None = None
    room: str | None = None
    title: str | None = None
    type_description: str | None = None
    reason: str | None = None
    status_label: str | None = None  # the PIMS's own wording, kept for humans

    @property
    def client_name(self) -> str | None:
        parts = [p for p in (self.client_first_name, self.client_last_name) if p]
        return " ".join(parts) or None

    def to_metadata(self) -> dict[str, Any]:
        # every field is a scalar, so a shallow copy equals asdict() (whose deep copy cost
        # a third of a millisecond per appointment, on a 1,000-appointment sync's critical path)
        data = {name: getattr(self, name) for name in _APPOINTMENT_FIELDS}
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


_APPOINTMENT_FIELDS = tuple(f.name for f in fields(Appointment))


@dataclass(frozen=True)
class Vitals:
    """Vitals in SI-ish units; the raw reading and its unit are kept alongside."""

    temperature_c: float | None = None
    pulse_bpm: int | None = None
    respiration_rpm: int | None = None
    weight_kg: float | None = None
    blood_pressure: str | None = None
    recorded_at: datetime | None = None
    raw: tuple[tuple[str, str], ...] = ()  # ("temperature", "101.5 °F"), ...


@dataclass(frozen=True)
class Diagnosis:
    name: str
    code: str | None = None
    status: str | None = None  # e.g. confirmed, tentative


@dataclass(frozen=True)
class ProductLine:
    name: str
    quantity: float = 1.0
    kind: str | None = None  # product | service where the PIMS says so (page-data does not)
    code: str | None = None
    id: str | None = None  # the PIMS's line id


@dataclass(frozen=True)
class ConsultationSummary:
    """A row of the consultation search: enough to find the consultation, plus its vitals
    and diagnoses (the search is where IDEXX lists those; page-data has neither)."""

    id: str
    date: datetime  # aware, UTC
    status: str  # PIMS wording, lower case: in_progress | completed | cancelled | ...
    appointment_id: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    client_name: str | None = None
    provider_id: str | None = None
    provider_name: str | None = None
    clinical_notes: str | None = None
    vitals: Vitals | None = None
    diagnoses: tuple[Diagnosis, ...] = ()


@dataclass(frozen=True)
class Consultation:
    """A consultation in detail: notes, discharge summary, vitals, diagnoses, products.

    ``to_metadata`` is what cases.metadata.pimsConsultation holds; its keys are documented in
    docs/IDEXX_STATUS.md ("Consultation metadata") and only ever grow.
    """

    id: str
    appointment_id: str | None
    patient_id: str | None
    date: datetime  # aware, UTC
    status: str
    notes: str | None = None  # the clinical notes as one text (IDEXX sends one SOAP-like string)
    subjective: str | None = None  # filled only where the PIMS sends SOAP parts apart (legacy view)
    objective: str | None = None
    assessment: str | None = None
    plan: str | None = None
    discharge_summary: str | None = None
    vitals: Vitals | None = None
    diagnoses: tuple[Diagnosis, ...] = ()
    products: tuple[ProductLine, ...] = ()  # products and services given (declined lines apart)
    complete: bool = False  # only completed consultations carry full data
    reason: str | None = None
    patient_name: str | None = None
    species: str | None = None
    breed: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    client_email: str | None = None
    client_phone: str | None = None
    provider_id: str | None = None  # the consulting vet (from the search row)
    provider_name: str | None = None
    providers: tuple[str, ...] = ()  # names IDEXX lists with the consultation (pageData.providers)
    branch: str | None = None  # the client's branch (clientBranch.name)
    declined_products: tuple[ProductLine, ...] = ()  # lines offered and declined
    source: str | None = None  # which endpoint answered: "page-data" | "view"

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON (lists, not tuples), so it equals what the database gives back."""
        data = asdict(self)
        data["date"] = self.date.isoformat()
        if self.vitals and self.vitals.recorded_at:
            data["vitals"]["recorded_at"] = self.vitals.recorded_at.isoformat()
        if self.vitals:
            data["vitals"]["raw"] = dict(self.vitals.raw)
        for key in ("diagnoses", "products", "declined_products", "providers"):
            data[key] = list(data[key])
        return data


@dataclass(frozen=True)
class BusinessHours:
    weekday: int  # 0 = Monday
    opens: str  # "08:00" clinic-local
    closes: str  # "18:00"


@dataclass(frozen=True)
class ScheduleConfig:
    slot_minutes: int
    business_hours: tuple[BusinessHours, ...]
    providers: tuple[str, ...]
    rooms: tuple[str, ...]
    room_ids: tuple[str, ...] = ()  # parallel to rooms: the id calendar items name as resourceId
    source: str | None = None  # the endpoint that answered

    def room_names(self) -> dict[str, str]:
        """Room id -> room name, for calendar items that name their room by id."""
        return dict(zip(self.room_ids, self.rooms, strict=False))


@dataclass(frozen=True)
class CaseRecord:
    """A case row as the sync writes it (the store adds id and timestamps)."""

    clinic_id: str
    external_id: str
    status: str  # the product's CASE_STATUSES value (case_status_for(pims_status))
    type: str  # our CASE_TYPES value; written to cases.type only where the product's enum has it
    scheduled_at: datetime
    source: str = CASE_SOURCE_IDEXX
    pims_status: str | None = None  # the normalised PIMS status (PIMS_STATUSES), kept beside status
    ends_at: datetime | None = None
    patient_name: str | None = None
    patient_external_id: str | None = None
    species: str | None = None
    client_name: str | None = None
    client_external_id: str | None = None
    client_email: str | None = None
    client_phone: str | None = None
    client_phone_e164: str | None = None
    provider_name: str | None = None
    room: str | None = None
    consultation_external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class CaseRef:
    """What enrichment and reconciliation need to know about a stored case."""

    id: str
    external_id: str
    scheduled_at: datetime
    status: str
    consultation_external_id: str | None = None
    enriched_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    clinic_id: str | None  # None: a shared key (the product's later schema); refused unless granted clinics
    name: str | None  # the seed's INSERT leaves it NULL
    key_prefix: str
    key_hash: str = field(repr=False)
    permissions: tuple[str, ...] | None  # None = all
    expires_at: datetime | None
    is_active: bool
    last_used_at: datetime | None = None
    created_at: datetime | None = None
    granted_clinic_ids: tuple[str, ...] = ()  # clinics an operator granted a shared key (pims_sync_key_clinics)


@dataclass(frozen=True)
class ScheduleConfigRow:
    clinic_id: str
    timezone: str
    clinic_active: bool
    sync_schedules: Any  # raw JSON, validated by pims_sync.schedules
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class Audit:
    id: str
    clinic_id: str
    sync_type: str
    status: str
    trigger: str
    parent_id: str | None = None
    phase: str | None = None
    appointments_found: int = 0
    cases_created: int = 0
    cases_updated: int = 0
    cases_skipped: int = 0
    cases_deleted: int = 0
    cases_restored: int = 0
    cases_enriched: int = 0
    failed: int = 0
    total_items: int = 0
    processed_items: int = 0
    stats: dict[str, Any] = field(default_factory=dict, hash=False)
    error_message: str | None = None
    task_id: str | None = None
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class HistoryPage:
    audits: tuple[Audit, ...]
    next_cursor: str | None
    total: int
    succeeded: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return None if finished == 0 else self.succeeded / finished


@dataclass(frozen=True)
class DateWindow:
    """A clinic-local date range [start, end] inclusive, with its UTC bounds."""

    start: date
    end: date
    start_utc: datetime
    end_utc: datetime  # exclusive: midnight after `end`, clinic time
