"""Case records for store tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pims_sync.models import CaseRecord, case_status_for, external_id_for

BASE = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def make_case(clinic_id: str, n: int, **changes) -> CaseRecord:
    start = BASE + timedelta(minutes=15 * n)
    case = CaseRecord(
        clinic_id=clinic_id,
        external_id=external_id_for(str(10_000 + n)),
        status=case_status_for("scheduled"),
        pims_status="scheduled",
        type="checkup",
        scheduled_at=start,
        ends_at=start + timedelta(minutes=15),
        patient_name=f"Pet {n}",
        patient_external_id=f"p{n}",
        species="canine",
        client_name=f"Client {n}",
        client_external_id=f"c{n}",
        client_email=f"client{n}@example.test",
        client_phone="(555) 010-0123",
        client_phone_e164="+15550100123",
        provider_name="Dr. Vet",
        room="Room 1",
        consultation_external_id=f"cons-{n}",
        metadata={"pimsAppointment": {"id": str(10_000 + n), "title": f"Visit {n}"}},
    )
    return replace(case, **changes) if changes else case


def with_pims_status(case: CaseRecord, pims_status: str) -> CaseRecord:
    """The case as inbound writes it when the PIMS reports this status (status mapped, as in models)."""
    return replace(case, pims_status=pims_status, status=case_status_for(pims_status))


def make_cases(clinic_id: str, count: int) -> list[CaseRecord]:
    return [make_case(clinic_id, n) for n in range(count)]
