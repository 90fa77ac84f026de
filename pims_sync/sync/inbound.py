"""Inbound: the PIMS's appointments become cases (created, updated, or left alone)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..models import Appointment, CaseRecord, Clinic, DateWindow, case_status_for
from ..providers.base import PimsProvider
from ..store.base import Store

ProgressFn = Callable[[int, int, dict], None]
UPSERT_BATCH = 500


def appointment_to_case(clinic_id: str, appt: Appointment, *, source: str, external_id: str) -> CaseRecord:
    """A case row carrying the appointment; consultation data is enrichment's business."""
    return CaseRecord(
        clinic_id=clinic_id,
        source=source,
        external_id=external_id,
        status=case_status_for(appt.status),
        pims_status=appt.status,
        type=appt.type,
        scheduled_at=appt.start,
        ends_at=appt.end,
        patient_name=appt.patient_name,
        patient_external_id=appt.patient_id,
        species=appt.species,
        client_name=appt.client_name,
        client_external_id=appt.client_id,
        client_email=appt.client_email,
        client_phone=appt.client_phone_raw,
        client_phone_e164=appt.client_phone_e164,
        provider_name=appt.provider_name,
        room=appt.room,
        consultation_external_id=appt.consultation_id,
        metadata={"pimsAppointment": appt.to_metadata()},
    )


def in_window(appointments: Sequence[Appointment], window: DateWindow) -> list[Appointment]:
    return [a for a in appointments if window.start_utc <= a.start < window.end_utc]


class InboundSync:
    """Fetch the window's appointments and upsert them in batches (one round trip each)."""

    def __init__(self, store: Store, provider: PimsProvider, clinic: Clinic, *, batch_size: int = UPSERT_BATCH):
        self.store = store
        self.provider = provider
        self.clinic = clinic
        self.batch_size = batch_size

    def run(
        self,
        window: DateWindow,
        *,
        upstream: Sequence[Appointment] | None = None,
        on_progress: ProgressFn | None = None,
    ) -> dict:
        if upstream is None:
            appointments = self.provider.appointments(window.start_utc, window.end_utc)
        else:
            appointments = in_window(upstream, window)
        cases = [
            appointment_to_case(
                self.clinic.id, a, source=self.provider.source, external_id=self.provider.external_id(a.id)
            )
            for a in appointments
        ]
        stats = {"appointmentsFound": len(appointments), "casesCreated": 0, "casesUpdated": 0, "casesSkipped": 0}
        # e.g. schedule settings unavailable: rooms shown by id; reported, never a failure
        warnings = list(getattr(self.provider, "warnings", None) or ())
        if warnings:
            stats["warnings"] = warnings
        if on_progress:
            on_progress(0, len(cases), dict(stats))
        for i in range(0, len(cases), self.batch_size):
            batch = cases[i : i + self.batch_size]
            result = self.store.upsert_cases(self.clinic.id, batch)
            stats["casesCreated"] += result.created
            stats["casesUpdated"] += result.updated
            stats["casesSkipped"] += result.unchanged
            if on_progress:
                on_progress(min(i + len(batch), len(cases)), len(cases), dict(stats))
        return stats
