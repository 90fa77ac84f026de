"""Inbound: the PIMS's appointments become cases (created, updated, or left alone).

A provider that declares ``supports_incremental`` (pims_sync/providers/registry.py) is read
incrementally when it can be: a run whose window lies inside the window the last successful run
read asks only for the appointments modified since that run's fetch started; any other run reads
its window in full. A successful run then stores its window and its fetch's start (the watermark,
``pims_sync_provider_state``); a failed one stores nothing, so the next run reads the same changes
again. Reconciliation never reads incrementally (it needs the whole window to see removals).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, cast

from ..models import Appointment, CaseRecord, Clinic, DateWindow, JsonObject, case_status_for
from ..providers.base import PimsProvider
from ..providers.registry import canonical_name
from ..store.base import Store

ProgressFn = Callable[[int, int, JsonObject], None]
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


class IncrementalProvider(Protocol):
    """What a provider with ``supports_incremental = True`` also accepts."""

    def appointments(
        self, start: datetime, end: datetime, modified_since: datetime | None = None
    ) -> list[Appointment]: ...


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
    ) -> JsonObject:
        # the one thing inbound learns about the provider; a shared fetch (upstream) was a full read
        incremental = upstream is None and bool(getattr(self.provider, "supports_incremental", False))
        since = self._watermark(window) if incremental else None
        started = datetime.now(UTC)
        if upstream is not None:
            appointments = in_window(upstream, window)
        elif since is not None:
            reader = cast(IncrementalProvider, self.provider)
            appointments = reader.appointments(window.start_utc, window.end_utc, modified_since=since)
        else:
            appointments = self.provider.appointments(window.start_utc, window.end_utc)
        cases = [
            appointment_to_case(
                self.clinic.id, a, source=self.provider.source, external_id=self.provider.external_id(a.id)
            )
            for a in appointments
        ]
        stats: JsonObject = {
            "appointmentsFound": len(appointments),
            "casesCreated": 0,
            "casesUpdated": 0,
            "casesSkipped": 0,
        }
        if since is not None:
            stats["modifiedSince"] = since.isoformat()  # only what changed since then was read
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
        if incremental:
            self.store.save_sync_watermark(
                self.clinic.id,
                canonical_name(self.clinic.pims_provider),
                modified_since=started,
                window=(window.start_utc, window.end_utc),
                site_timezone=getattr(self.provider, "site_timezone", None),
            )
        return stats

    def _watermark(self, window: DateWindow) -> datetime | None:
        """When the last successful run's fetch started, if its window holds this one."""
        state = self.store.get_provider_state(self.clinic.id, canonical_name(self.clinic.pims_provider))
        if state is None or not state.covers(window.start_utc, window.end_utc):
            return None
        return cast(datetime, state.modified_since)
