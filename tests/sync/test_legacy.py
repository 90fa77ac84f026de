"""The legacy syncs behind /api/idexx/scrape, against the simulator."""

from __future__ import annotations

from datetime import timedelta

from pims_sync.sync.legacy import consultation_sync, schedule_sync


def test_schedule_sync_stores_a_snapshot_with_free_slots(simulator, make_clinic_sync, store):
    cs = make_clinic_sync(simulator)
    day = cs.today + timedelta(days=1)
    stats = schedule_sync(store, cs.provider, cs.clinic, day)
    snapshot = store.get_schedule_snapshot(cs.clinic.id, day.isoformat())
    truth = [e for e in cs.truth(day, day)["events"] if not e["is_block"] and not e["is_roster"]]
    assert stats["appointments"] == len(snapshot["appointments"]) == len(truth)
    assert snapshot["rooms"] and snapshot["providers"] and snapshot["slotMinutes"] > 0
    capacity = len(snapshot["rooms"])
    for slot in snapshot["freeSlots"]:
        assert 1 <= slot["available"] <= capacity == slot["capacity"]
    # a booked (not cancelled) appointment takes a room in its slot
    booked_starts = {
        e["start"][11:16] for e in truth if e["status_label"] not in ("Cancelled", "No Show")
    }
    full_or_partial = [s for s in snapshot["freeSlots"] if s["start"][11:16] in booked_starts]
    assert all(s["available"] < capacity for s in full_or_partial)


def test_consultation_sync_enriches_the_days_cases(simulator, make_clinic_sync, store):
    cs = make_clinic_sync(simulator)
    day = cs.today - timedelta(days=1)
    assert cs.run(sync_type="inbound", startDate=str(day), endDate=str(day))["success"]
    stats = consultation_sync(store, cs.provider, cs.clinic, day)
    truth = cs.truth(day, day)["consultations"]
    assert stats["consultationsFound"] == len(truth) > 0
    assert stats["casesEnriched"] + stats["unmatched"] == len(truth)
    enriched = [c for c in cs.cases().values() if c["metadata"].get("pimsConsultation")]
    assert len(enriched) == stats["casesEnriched"] > 0
