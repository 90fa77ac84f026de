"""Several worker processes sharing one Redis: work spreads, sessions are shared, no duplicates."""

from __future__ import annotations

import re

import pytest

from .helpers import clinic_from_sim, duplicate_external_ids, enqueue, wait_done, wait_until

pytestmark = pytest.mark.slow  # real worker processes


def _tasks_run_by(worker) -> set[str]:
    return set(re.findall(r"Task pims_sync\.\w+\[([0-9a-f-]+)\] succeeded", worker.log()))


def test_two_workers_sync_ten_clinics_exactly_once(workers, make_simulator, store):
    sim = make_simulator(clinics=10, appointments_per_day=2)
    workers.configure(IDEXX_BASE_URL=sim.url)
    clinics = [clinic_from_sim(store, workers.cipher, c) for c in sim.clinics]
    a, b = workers.start("scale-a"), workers.start("scale-b")

    syncs = [(enqueue(workers, store, c.id), c) for c in clinics]
    for enq, clinic in syncs:
        status = wait_done(store, enq.sync_id, clinic.id, timeout_s=90)
        assert status["status"] == "completed", (clinic.id, status["errors"])

    # the pool child finishes the audit before the worker's main process logs "succeeded",
    # so the last task's line may still be on its way when the last sync reads completed
    wait_until(lambda: len(_tasks_run_by(a) | _tasks_run_by(b)) >= 3 * len(clinics), 15,
               "every task's 'succeeded' line in the worker logs")
    ran_a, ran_b = _tasks_run_by(a), _tasks_run_by(b)
    assert ran_a and ran_b, "both workers must take work"
    assert not ran_a & ran_b, "no task ran on both workers"
    assert len(ran_a | ran_b) == 3 * len(clinics)
    for enq, clinic in syncs:
        history = store.sync_history(clinic.id, limit=10, sync_type="full")
        assert [x.id for x in history.audits] == [enq.sync_id], "each clinic is synced exactly once"
        assert all(p.attempts == 1 for p in store.child_audits(enq.sync_id))
        assert duplicate_external_ids(store, clinic.id) == []
        found = store.get_audit(enq.phases["inbound"]).stats["appointmentsFound"]
        assert len(store.list_cases(clinic.id)) == found
    # ten clinics, ten sessions: one login each, shared by whichever worker ran the later phases
    assert sim.stats()["logins_total"] == len(clinics)


def test_ten_syncs_across_two_workers_log_in_once_then_once_after_expiry(workers, simulator, store):
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 2)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    a, b = workers.start("reuse-a"), workers.start("reuse-b")

    def ten_syncs() -> None:
        for _ in range(10):
            enq = enqueue(workers, store, clinic.id, sync_type="inbound")
            assert wait_done(store, enq.sync_id, clinic.id)["status"] == "completed"

    ten_syncs()
    wait_until(lambda: _tasks_run_by(a) and _tasks_run_by(b), 15, "both workers to have run syncs")
    assert simulator.stats()["logins"].get(sim_clinic["id"], 0) == 1

    assert simulator.expire_sessions() >= 1
    ten_syncs()
    assert simulator.stats()["logins"].get(sim_clinic["id"], 0) == 2
