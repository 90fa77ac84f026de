"""Crash safety: a worker SIGKILLed mid-enrichment; its sync is finished by another worker."""

from __future__ import annotations

import time

import psutil
import pytest

from workers.locks import clinic_lock_key

from .helpers import clinic_from_sim, duplicate_external_ids, enqueue, wait_done, wait_until

pytestmark = pytest.mark.slow  # real worker processes


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.Error:
            continue
    return alive


def _warm_up_both(workers, simulator, store, *procs) -> None:
    """Two slow inbound syncs at once: each worker (concurrency 1, prefetch 1) logs in once,
    so whichever worker the crash hits has a Chromium running."""
    fault = simulator.fault("latency", endpoint="calendar", ms=1500)
    syncs = []
    for sim_clinic in simulator.clinics[:2]:
        warm = clinic_from_sim(store, workers.cipher, sim_clinic)
        syncs.append((enqueue(workers, store, warm.id, sync_type="inbound"), warm))
    for enq, warm in syncs:
        assert wait_done(store, enq.sync_id, warm.id)["status"] == "completed"
    simulator.control(f"faults/{fault['id']}", method="DELETE")
    assert all(p.chromium_pids() for p in procs), "warm-up did not give both workers a browser"


def test_killed_worker_sync_is_redelivered_and_completes_once(workers, simulator, store, worker_redis):
    # redeliver an abandoned message 10 s after it was handed out (production: above the hard limit)
    workers.configure(CELERY_VISIBILITY_TIMEOUT_S="10")
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 3)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    first = workers.start("crash-a")
    second = workers.start("crash-b")
    _warm_up_both(workers, simulator, store, first, second)
    slow = simulator.fault("latency", endpoint="consultation_page_data", ms=4000)

    enq = enqueue(workers, store, clinic.id, parallel_batch_size=1)
    cases_audit = enq.phases["cases"]
    wait_until(lambda: store.get_audit(cases_audit).status == "in_progress", 40, "enrichment to start")
    time.sleep(1.0)  # well inside the first slow consultation fetch
    task_id = store.get_audit(cases_audit).task_id
    active = workers.app.control.inspect(timeout=2).active() or {}
    running_on = next(host for host, tasks in active.items() if any(t["id"] == task_id for t in tasks))
    victim, survivor = (first, second) if running_on == first.hostname else (second, first)
    chromium = victim.chromium_pids()
    held_lock = worker_redis.get(clinic_lock_key(clinic.id))
    assert held_lock and held_lock.decode().startswith(enq.sync_id)

    victim.kill()
    simulator.control(f"faults/{slow['id']}", method="DELETE")

    # the dead worker's clinic lock frees itself within its TTL (6 s), unrenewed
    wait_until(lambda: worker_redis.get(clinic_lock_key(clinic.id)) != held_lock, 12, "the dead lock to expire")
    status = wait_done(store, enq.sync_id, clinic.id, timeout_s=45)
    assert status["status"] == "completed", status["errors"]
    assert status["phases"]["cases"]["attempts"] == 2
    assert status["phases"]["inbound"]["attempts"] == 1
    assert status["phases"]["reconcile"]["attempts"] == 1
    assert survivor.hostname.split("@")[0] in survivor.log() and task_id in survivor.log()
    assert duplicate_external_ids(store, clinic.id) == []
    assert len(store.list_cases(clinic.id)) == status["result"]["inboundResult"]["stats"]["appointmentsFound"]

    # no Chromium of the dead worker is left behind
    assert chromium, "the victim had launched no Chromium: the test did not exercise the browser"
    wait_until(lambda: not _alive(chromium), 15, f"Chromium {sorted(_alive(chromium))} of the killed worker to exit")
