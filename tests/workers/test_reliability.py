"""Poison tasks and single-flight, with real worker processes."""

from __future__ import annotations

import threading

import pytest
import redis

from pims_sync.errors import SyncInProgress
from pims_sync.sync.runner import create_sync_audits
from workers.enqueue import TASK_NAMES, InFlight
from workers.locks import clinic_lock_key

from .helpers import clinic_from_sim, enqueue, wait_done, wait_until
from .poison_tasks import POISON_TASK

pytestmark = pytest.mark.slow  # real worker processes


def test_a_task_that_kills_its_worker_every_time_stops_at_the_cap(workers, simulator, store, worker_redis):
    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    worker = workers.start("poison", include=("tests.workers.poison_tasks",))
    audits = create_sync_audits(store, clinic_id=clinic.id, sync_type="inbound", trigger="api")
    InFlight(worker_redis).claim(clinic.id, audits.sync_id, ttl_s=600)

    workers.app.send_task(POISON_TASK, kwargs={"clinic_id": clinic.id, "sync_id": audits.sync_id,
                                               "audit_id": audits.sync_id}, queue="sync")
    audit = wait_until(lambda: (a := store.get_audit(audits.sync_id)).status == "failed" and a, 45,
                       "the poison task to be failed by the cap")
    cap = workers.settings.max_task_deliveries
    assert audit.attempts == cap  # it ran (and killed its process) exactly `cap` times
    assert f"delivered {cap + 1} times" in audit.error_message
    assert worker.alive(), "the worker survives: only its pool process died each time"
    assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == cap
    # nothing left to loop on, and the clinic is free again
    wait_until(lambda: worker_redis.llen("sync") == 0 and worker_redis.hlen("unacked") == 0, 10,
               "the capped message to be acknowledged")
    assert InFlight(worker_redis).current(clinic.id) is None


def test_two_concurrent_requests_for_one_clinic_make_one_sync(workers, simulator, store, worker_redis):
    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    workers.start("single")
    results, barrier = [], threading.Barrier(2)

    def request() -> None:
        barrier.wait()
        try:
            results.append(enqueue(workers, store, clinic.id, sync_type="inbound"))
        except SyncInProgress as e:
            results.append(e)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, SyncInProgress)]
    assert len(started) == 1 and len(refused) == 1
    assert refused[0].sync_id == started[0].sync_id  # the caller learns the running sync id
    assert wait_done(store, started[0].sync_id, clinic.id)["status"] == "completed"
    assert store.sync_history(clinic.id, limit=10).total == 1
    # once it is over the clinic is free again
    again = enqueue(workers, store, clinic.id, sync_type="inbound")
    assert wait_done(store, again.sync_id, clinic.id)["status"] == "completed"


def test_the_clinic_lock_keeps_two_syncs_of_one_clinic_apart(workers, simulator, store, worker_redis):
    """Even if two syncs reach the queue (a stale claim, a legacy scrape), they never overlap."""
    sim_clinic = simulator.clinic(0)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    simulator.fault("latency", endpoint="calendar", ms=2500)
    workers.start("lock-a")
    workers.start("lock-b")
    syncs = []
    for _ in range(2):  # straight to the queue, past the enqueue-time claim
        audits = create_sync_audits(store, clinic_id=clinic.id, sync_type="inbound", trigger="api")
        workers.app.send_task(TASK_NAMES["inbound"], queue="sync", kwargs={
            "clinic_id": clinic.id, "sync_id": audits.sync_id, "audit_id": audits.sync_id,
            "options": {"days_ahead": 1}, "trigger": "api"})
        syncs.append(audits.sync_id)
    holders = set()
    first_done = wait_until(
        lambda: (holders.add((worker_redis.get(clinic_lock_key(clinic.id)) or b"").decode().split(" ")[0])
                 or store.get_audit(syncs[0]).status == "completed" or store.get_audit(syncs[1]).status == "completed"),
        40, "one sync to finish", poll_s=0.05)
    assert first_done
    done = [wait_done(store, s, clinic.id, timeout_s=45) for s in syncs]
    assert [d["status"] for d in done] == ["completed", "completed"]
    rows = sorted((store.get_audit(s) for s in syncs), key=lambda a: a.started_at)
    # attempts count real runs; the run of the second began after the first had finished
    assert rows[0].finished_at <= rows[1].started_at, "the two syncs of one clinic overlapped"
    assert holders - {""} <= set(syncs)


@pytest.mark.parametrize("ttl_s", [1])
def test_lock_of_a_dead_holder_frees_itself(worker_redis, ttl_s):
    from workers.locks import clinic_lock, running_sync

    dead = clinic_lock(worker_redis, "c1", sync_id="sync-dead", ttl_s=ttl_s)
    assert dead.acquire()
    live = clinic_lock(worker_redis, "c1", sync_id="sync-next", ttl_s=ttl_s)
    assert not live.acquire() and running_sync(worker_redis, "c1") == "sync-dead"
    assert live.acquire(wait_s=ttl_s * 3)  # the dead holder never renewed
    live.start_renewing(every_s=0.2)
    other = clinic_lock(worker_redis, "c1", sync_id="sync-third", ttl_s=ttl_s)
    assert not other.acquire(wait_s=ttl_s * 2)  # renewal keeps a live holder's lock
    assert not dead.release(), "a stale holder must not free someone else's lock"
    assert live.release() and running_sync(worker_redis, "c1") is None
    assert isinstance(worker_redis, redis.Redis)


def test_housekeeping_fails_audits_a_lost_worker_left_in_progress(workers, simulator, store, database_url):
    import psycopg

    from celeryconfig import HOUSEKEEPING_TASK

    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    lost = create_sync_audits(store, clinic_id=clinic.id, sync_type="inbound", trigger="api")
    store.start_audit(lost.sync_id)
    live = create_sync_audits(store, clinic_id=clinic.id, sync_type="cases", trigger="api")
    store.start_audit(live.sync_id)
    with psycopg.connect(database_url) as conn:  # age one row past the hard limit, bypassing the trigger
        conn.execute("set local session_replication_role = replica")
        conn.execute("update pims_sync_runs set updated_at = now() - interval '2 hours' where id = %s",
                     (lost.sync_id,))
    workers.start("housekeeper")
    result = workers.app.send_task(HOUSEKEEPING_TASK, queue="default").get(timeout=30)
    assert result["failed"] >= 1
    audit = store.get_audit(lost.sync_id)
    assert audit.status == "failed" and audit.error_message == "worker lost"
    assert store.get_audit(live.sync_id).status == "in_progress", "a sync still reporting is left alone"
