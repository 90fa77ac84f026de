"""Enrichment saves the details that finish together in one call; one refused case loses no other.

Real Chromium login, real HTTP to the simulator, real PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

from pims_sync.sync.enrichment import CaseEnrichment
from pims_sync.sync.options import day_window


def test_a_case_moved_to_another_clinic_mid_phase_fails_alone(
    make_simulator, make_clinic_sync, store, database_url
):
    sim = make_simulator(seed=11, clinics=1, latency_ms=30)
    cs = make_clinic_sync(sim)
    day = cs.today - timedelta(days=1)
    sim.set_appointments_per_day(cs.sim_clinic["id"], 60)
    assert cs.run(sync_type="inbound", startDate=str(day), endDate=str(day))["success"]
    window = day_window(cs.clinic.timezone, day, day)
    refs = store.cases_needing_enrichment(cs.clinic.id, window.start_utc, window.end_utc)
    refs = [r for r in refs if r.consultation_external_id]
    assert len(refs) >= 20, len(refs)
    # the tenancy check at save time: a case that stopped being this clinic's before its
    # details arrive is refused, whichever batch it lands in
    moved = refs[len(refs) // 2]
    other = store.create_clinic(name="Other", timezone="UTC")
    progress: list[tuple[int, int, dict]] = []

    def on_progress(done: int, total: int, stats: dict) -> None:
        if done == 0:
            with psycopg.connect(database_url) as conn:
                conn.execute("update cases set clinic_id = %s where id = %s", (other.id, moved.id))
        progress.append((done, total, stats))

    stats = CaseEnrichment(store, cs.provider, cs.clinic).run(window, parallel_batch_size=8, on_progress=on_progress)

    assert (stats["casesFound"], stats["casesEnriched"], stats["casesSkipped"], stats["failed"]) == (
        len(refs), len(refs) - 1, 0, 1
    )
    (error,) = stats["errors"]
    assert error.startswith(f"consultation {moved.consultation_external_id}: ") and "not found" in error
    # one progress report per consultation, in order, the last one with the final counts
    assert [p[0] for p in progress] == list(range(len(refs) + 1))
    assert progress[-1][2] == {k: stats[k] for k in progress[-1][2]}
    cases = {c["id"]: c for c in store.list_cases(cs.clinic.id)}
    assert all(cases[r.id]["metadata"].get("pimsConsultation") for r in refs if r.id != moved.id)
    (theirs,) = store.list_cases(other.id)
    assert "pimsConsultation" not in theirs["metadata"]

    # a second run: everything already stored is unchanged, nothing new is written
    again = CaseEnrichment(store, cs.provider, cs.clinic).run(
        window, parallel_batch_size=8, stale_before=cs.now + timedelta(days=1)
    )
    assert (again["casesFound"], again["casesEnriched"], again["casesSkipped"], again["failed"]) == (
        len(refs) - 1, 0, len(refs) - 1, 0
    )
