"""Workers through a broker restart, a killed pool child and a bad clinic row (issue 16), on a private
redis-server: each ends with the sync's audit state, attempts and duplicates (0) checked."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import psycopg
import pytest
import redis

from tests.fixtures.workers import WorkerCluster
from tests.workers.helpers import clinic_from_sim, duplicate_external_ids, enqueue, wait_done, wait_until
from workers.broker_restart import BROKER_RESTARTED, BROKER_WAITING
from workers.enqueue import TERMINAL, InFlight

pytestmark = pytest.mark.slow  # real worker processes


@pytest.fixture
def cluster(database_url, private_redis, simulator, tmp_path) -> Iterator[WorkerCluster]:
    workers = WorkerCluster(database_url=database_url, redis_url=private_redis.url,
                            simulator_url=simulator.url, log_dir=tmp_path)
    try:
        yield workers
    finally:
        workers.stop_all()


def test_a_broker_restart_mid_phase_is_retried_not_a_bare_connection_error(cluster, private_redis, simulator,
                                                                           store):
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 2)
    clinic = clinic_from_sim(store, cluster.cipher, sim_clinic)
    worker = cluster.start("restart")
    slow = simulator.fault("latency", endpoint="consultation_page_data", ms=1000)
    try:
        enq = enqueue(cluster, store, clinic.id, parallel_batch_size=1)
        cases = enq.phases["cases"]
        wait_until(lambda: store.get_audit(cases).status == "in_progress", 60, "enrichment to start")
        # Redis goes away mid-phase, and the PIMS session expires meanwhile: the re-login needs
        # Redis (the login lock, the shared session), so the phase meets the outage
        private_redis.kill()
        simulator.expire_sessions()
        # (the crash is recorded for an instant before the worker sees the broker gone: wait
        # for the outcome, which is either the phase held for the broker or the sync ended)
        wait_until(lambda: store.get_audit(cases).status == "queued"
                   or store.get_audit(enq.sync_id).status in TERMINAL, 60, "the phase to meet the outage")
        held = store.get_audit(cases)
        assert (held.status, held.error_message) == ("queued", BROKER_WAITING)
        private_redis.start()  # empty, with a new run id: a restart
        status = wait_done(store, enq.sync_id, clinic.id, timeout_s=90)
    finally:
        simulator.control(f"faults/{slow['id']}", method="DELETE")
    assert status["status"] == "completed", status["errors"]
    assert status["phases"]["cases"]["attempts"] == 2  # the retry ran the phase again
    assert status["phases"]["reconcile"]["status"] == "completed"  # and the chain went on
    assert BROKER_RESTARTED in worker.log()
    assert "internal error" not in repr(status)
    assert duplicate_external_ids(store, clinic.id) == []


def _pool_children(worker) -> list[psutil.Process]:
    """The worker's prefork pool processes (its direct Python children)."""
    found = []
    for child in psutil.Process(worker.pid).children():
        try:
            if "python" in child.name().lower() or "celery" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_a_pool_child_killed_mid_phase_is_redelivered_and_runs_once(cluster, simulator, store, database_url):
    sim_clinic = simulator.clinic(1)
    simulator.set_appointments_per_day(sim_clinic["id"], 2)
    clinic = clinic_from_sim(store, cluster.cipher, sim_clinic)
    worker = cluster.start("child")
    slow = simulator.fault("latency", endpoint="consultation_page_data", ms=1000)
    try:
        enq = enqueue(cluster, store, clinic.id, parallel_batch_size=1)
        cases = enq.phases["cases"]
        wait_until(lambda: store.get_audit(cases).processed_items >= 1, 60, "enrichment to be under way")
        (child,) = _pool_children(worker)
        browsers = {p.pid for p in child.children(recursive=True)}
        child.kill()  # SIGKILL: the OOM killer's way; the worker itself lives on
        status = wait_done(store, enq.sync_id, clinic.id, timeout_s=90)
    finally:
        simulator.control(f"faults/{slow['id']}", method="DELETE")
    assert status["status"] == "completed", status["errors"]
    assert status["phases"]["cases"]["attempts"] == 2  # redelivered once, not lost, not doubled
    assert (status["phases"]["inbound"]["attempts"], status["phases"]["reconcile"]["attempts"]) == (1, 1)
    assert worker.alive() and "signal 9 (SIGKILL)" in worker.log()
    assert duplicate_external_ids(store, clinic.id) == []
    sim_found = status["result"]["inboundResult"]["stats"]["appointmentsFound"]
    assert len(store.list_cases(clinic.id)) == sim_found
    # what the dead child had launched (Playwright's driver, Chromium) does not outlive it
    assert browsers, "the killed child had launched no browser: the test did not exercise one"
    wait_until(lambda: not _alive(browsers), 30, "the killed child's browser processes to exit")

    # a bad row on the respawned child: its own sync fails fast naming the field, and frees the clinic
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update clinics set timezone = 'Mars/Olympus' where id = %s", (clinic.id,))
    bad = wait_done(store, enqueue(cluster, store, clinic.id).sync_id, clinic.id, timeout_s=60)
    assert bad["status"] == "failed" and "clinics.timezone" in repr(bad["errors"]), bad["errors"]
    assert InFlight(redis.Redis.from_url(cluster.redis_url)).current(clinic.id) is None


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.Error:
            continue
    return alive
