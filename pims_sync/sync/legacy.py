"""The legacy IDEXX syncs behind /api/idexx/scrape: a day's schedule, a day's consultations."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from ..models import Clinic, JsonObject
from ..providers.base import PimsProvider
from ..store.base import Store
from .enrichment import with_search_row
from .options import day_window
from .slots import free_slots


def schedule_sync(store: Store, provider: PimsProvider, clinic: Clinic, day: date) -> JsonObject:
    """Appointments, business hours, providers, rooms and free slots, stored as a snapshot."""
    window = day_window(clinic.timezone, day, day)
    appointments = provider.appointments(window.start_utc, window.end_utc)
    config = provider.schedule_config()
    slots = free_slots(day, clinic.timezone, config, appointments)
    payload: JsonObject = {
        "date": day.isoformat(),
        "timezone": clinic.timezone,
        "appointments": [a.to_metadata() for a in appointments],
        "businessHours": [asdict(h) for h in config.business_hours],
        "slotMinutes": config.slot_minutes,
        "providers": list(config.providers),
        "rooms": list(config.rooms),
        "freeSlots": slots,
    }
    store.save_schedule_snapshot(clinic.id, day.isoformat(), payload)
    return {
        "appointments": len(appointments),
        "freeSlots": len(slots),
        "providers": len(config.providers),
        "rooms": len(config.rooms),
    }


def consultation_sync(store: Store, provider: PimsProvider, clinic: Clinic, day: date) -> JsonObject:
    """The day's consultations with their details, saved onto the matching cases."""
    window = day_window(clinic.timezone, day, day)
    summaries = provider.consultations(window.start_utc, window.end_utc)
    cases = {
        c.consultation_external_id: c
        for c in store.cases_in_window(
            clinic.id, window.start_utc, window.end_utc, source=provider.source, include_deleted=False
        )
        if c.consultation_external_id
    }
    stats = {"consultationsFound": len(summaries), "consultationsFetched": 0, "casesEnriched": 0, "unmatched": 0}
    for summary in summaries:
        detail = with_search_row(provider.consultation(summary.id), summary)  # vitals, diagnoses
        stats["consultationsFetched"] += 1
        case = cases.get(summary.id)
        if case is None:
            stats["unmatched"] += 1
            continue
        if store.save_enrichment(clinic.id, case.id, detail.to_metadata()):
            stats["casesEnriched"] += 1
    return stats
