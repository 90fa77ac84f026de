"""The full chain through a real worker process against the simulator."""

from __future__ import annotations

import time

import pytest
from celery.result import AsyncResult

from .helpers import clinic_from_sim, enqueue, wait_done

pytestmark = pytest.mark.slow  # real worker processes

SEED_KEYS = {"success", "syncId", "inboundResult", "casesResult", "reconciliationResult", "durationMs", "timestamp"}


def test_full_chain_reports_progress_and_returns_the_seed_shape(workers, simulator, store):
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 3)
    # slow consultation fetches a little so the cases phase runs long enough to be watched
    simulator.fault("latency", endpoint="consultation_page_data", ms=300)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    workers.start("chain")

    enq = enqueue(workers, store, clinic.id)
    seen: dict[str, set[str]] = {}
    progress_meta = []
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        children = store.child_audits(enq.sync_id)
        for audit in children:
            if audit.task_id:
                result = AsyncResult(audit.task_id, app=workers.app)
                state = result.state
                seen.setdefault(audit.sync_type, set()).add(state)
                if state == "PROGRESS":
                    progress_meta.append(result.info)
        if children and all(a.status not in ("queued", "in_progress") for a in children):
            break
        time.sleep(0.05)

    status = wait_done(store, enq.sync_id, clinic.id)
    assert status["status"] == "completed", (status["errors"], status["phases"])
    result = status["result"]
    assert SEED_KEYS <= set(result), result
    assert result["success"] is True
    assert result["inboundResult"]["stats"]["appointmentsFound"] > 0
    assert set(result["casesResult"]["stats"]) >= {"casesFound", "casesEnriched", "casesSkipped"}
    assert set(result["reconciliationResult"]["stats"]) >= {"casesChecked", "casesDeleted"}

    assert any("PROGRESS" in states for states in seen.values()), seen
    assert progress_meta and {"phase", "processed", "total", "stats"} <= set(progress_meta[0])
    assert {m["phase"] for m in progress_meta} <= {"inbound", "cases", "reconcile"}

    # the last task's own result is the same seed-shaped body, with ids and counts only
    last = next(a for a in store.child_audits(enq.sync_id) if a.sync_type == "reconciliation")
    final = AsyncResult(last.task_id, app=workers.app).get(timeout=10)
    assert SEED_KEYS <= set(final) and final["syncId"] == enq.sync_id
    assert store.get_audit(enq.sync_id).status == "completed"
    assert store.get_audit(enq.sync_id).attempts == 1


def test_a_failed_phase_stops_the_chain_and_marks_the_rest_not_run(workers, simulator, store):
    sim_clinic = simulator.clinic(1)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    # the calendar keeps answering 503: inbound fails, cases and reconcile must not run
    simulator.fault("error", clinic_id=sim_clinic["id"], endpoint="calendar", status=503)
    workers.start("stop")

    enq = enqueue(workers, store, clinic.id)
    status = wait_done(store, enq.sync_id, clinic.id)
    assert status["status"] == "failed"
    phases = status["phases"]
    assert phases["inbound"]["status"] == "failed"
    assert phases["cases"]["status"] == "not_run"
    assert phases["reconcile"]["status"] == "not_run"
    # nothing ever picked the later phases up
    assert all(store.get_audit(phases[p]["auditId"]).task_id is None for p in ("cases", "reconcile"))


def test_legacy_schedule_task_saves_a_snapshot(workers, simulator, store, worker_redis):
    from datetime import date

    from workers.enqueue import InFlight, enqueue_legacy

    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 3)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    workers.start("legacy")
    day = sim_clinic.get("today") or date.today().isoformat()
    enq = enqueue_legacy(workers.app, store, InFlight(worker_redis), clinic_id=clinic.id, kind="schedule",
                         day=day, trigger="api", ttl_s=600)
    status = wait_done(store, enq.sync_id, clinic.id)
    assert status["status"] == "completed", status["errors"]
    snapshot = store.get_schedule_snapshot(clinic.id, day)
    assert snapshot and snapshot["date"] == day and "freeSlots" in snapshot
    assert InFlight(worker_redis).current(clinic.id) is None
