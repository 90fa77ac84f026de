"""Real `celery beat` processes (two: one active, one standby) and a real worker.

The beats run the production scheduler on a clock RATE times faster than the wall clock
(tests/beat/fast_clock.py), so a cron minute lasts 60/RATE s and the test does not wait two
real minutes. The first slots check dispatch, a live SQL edit, invalid entries and a clinic
already syncing; then the active beat is killed and the standby takes over the later slots.
As more than one slot may pass while the test looks (a loaded machine), every check is per
slot, from the beats' own log lines: no slot is sent twice, and every scheduled audit row is
one logged slot. Everything else is in test_scheduler.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from pims_sync.sync.runner import create_sync_audits
from workers.enqueue import InFlight

from .conftest import audits
from .fast_clock import FastClock

REPO = Path(__file__).resolve().parents[2]
EVERY_MINUTE = {"type": "inbound", "cron": "* * * * *", "enabled": True}
RATE = 6  # a cron minute lasts 10 s
# "beat: clinic:<id>:<type> slot <iso>: enqueued sync <id>" / "... slot <iso> skipped: ...; audited as <id>"
SENT = re.compile(r"beat: clinic:(?P<clinic>[0-9a-f-]{36}):(?P<type>\w+) slot (?P<slot>\S+?):? "
                  r"(?:enqueued sync|skipped: the clinic is already syncing .*?; audited as) (?P<audit>[0-9a-f-]{36})")


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name, self.log_path = name, log_dir / f"{name}.log"
        with open(self.log_path, "wb") as out:
            self.popen = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {text!r} within {timeout_s}s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


@pytest.fixture
def procs(tmp_path):
    started: list[Proc] = []

    def start(name, argv, env):
        p = Proc(name, argv, env, tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill(signal.SIGTERM)


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IDEXX_", "CELERY_", "DATABASE", "SUPABASE"))
    }
    env.update(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "IDEXX_ENCRYPTION_KEY": "test-encryption-key-0123456789abcdef",
            "IDEXX_BASE_URL": "http://127.0.0.1:9",  # never reached: these clinics have no credentials
            "SCHEDULE_POLL_SECONDS": "2",
            "BEAT_LOCK_TTL_S": "4",
            "SYNC_TIMEOUT_MS": "30000",
            "BEAT_TEST_EPOCH": str(time.time()),
            "BEAT_TEST_RATE": str(RATE),
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def beat_argv(tmp_path: Path, name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "beat",
        "-S",
        "tests.beat.fast_clock:FastClockScheduler",
        "--loglevel",
        "INFO",
        "--max-interval",
        "1",
        "-s",
        str(tmp_path / f"{name}-schedule"),
    ]


def wait_until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def sent(log: str, clinic_id: str) -> list[tuple[str, str, str]]:
    """(slot, type, audit id) of every slot this beat log sent or audited as skipped for the clinic."""
    return [(m["slot"], m["type"], m["audit"]) for m in SENT.finditer(log) if m["clinic"] == clinic_id]


def scheduled(database_url, clinic_id):
    return [a for a in audits(database_url, clinic_id) if a["trigger"] == "schedule"]


@pytest.mark.timeout(240)
def test_two_beats_and_a_worker_over_two_slots(
    procs, clinics, store, database_url, beat_redis_url, rclient, tmp_path
):
    env = environment(database_url, beat_redis_url)
    rclient.delete("pims:beat:lock")
    a = clinics(schedules=[EVERY_MINUTE])
    b = clinics(schedules=[{"type": "cases", "cron": "* * * * *", "enabled": False}])
    c = clinics(
        schedules=[
            EVERY_MINUTE,
            {"type": "cases", "cron": "61 * * * *"},
            {"type": "x", "cron": "* * * * *"},
        ]
    )
    d = clinics(schedules=[EVERY_MINUTE])
    running = create_sync_audits(store, clinic_id=d.id, sync_type="cases", trigger="api")
    store.start_audit(running.sync_id)
    assert InFlight(rclient).claim(d.id, running.sync_id, ttl_s=600) is None

    worker = procs(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--queues",
            "sync,default",
            "--hostname",
            "beat-test@pytest",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
    )
    one = procs("beat-one", beat_argv(tmp_path, "one"), env)
    one.wait_for("holding the scheduler lock", 30)
    two = procs("beat-two", beat_argv(tmp_path, "two"), env)
    two.wait_for("standby", 30)
    one.wait_for("listening on clinic_schedule_configs_changed", 15)
    assert (
        f"clinic {c.id}: sync_schedules[1]" in one.log() and f"clinic {c.id}: sync_schedules[2]" in one.log()
    )
    worker.wait_for("ready", 60)

    with psycopg.connect(database_url, autocommit=True) as conn:  # an edit made in SQL, not via the app
        conn.execute(
            "update clinic_schedule_configs set sync_schedules = %s::jsonb where clinic_id = %s",
            (json.dumps([{"type": "cases", "cron": "* * * * *", "enabled": True}]), b.id),
        )
    edited = FastClock(float(env["BEAT_TEST_EPOCH"]), RATE)()  # on the beats' clock
    one.wait_for(f"reloaded clinic(s) {b.id}", 5)

    for clinic in (a, b, c):
        wait_until(lambda cid=clinic.id: scheduled(database_url, cid), 90, f"a slot of {clinic.id}")
    wait_until(lambda: [x for x in scheduled(database_url, d.id) if x["status"] == "skipped"], 30, "d skipped")
    # per slot: each was sent once, by the active beat; every scheduled row is a logged slot
    assert "enqueued sync" not in two.log() and "audited as" not in two.log()
    for clinic, kind in ((a, "inbound"), (b, "cases"), (c, "inbound")):
        wait_until(lambda cid=clinic.id: len(sent(one.log(), cid)) == len(scheduled(database_url, cid)), 10,
                   f"every scheduled row of {clinic.id} to be a logged slot")
        slots = sent(one.log(), clinic.id)
        assert len({slot for slot, _, _ in slots}) == len(slots), slots  # no slot twice
        assert {kind} == {t for _, t, _ in slots} == {x["sync_type"] for x in scheduled(database_url, clinic.id)}
        assert {audit for _, _, audit in slots} == {x["id"] for x in scheduled(database_url, clinic.id)}
    # the edited schedule started at its next slot: no catch-up of a slot before the edit
    assert min(datetime.fromisoformat(slot) for slot, _, _ in sent(one.log(), b.id)) > edited
    skips = scheduled(database_url, d.id)
    assert {x["status"] for x in skips} == {"skipped"} and all(running.sync_id in x["error_message"] for x in skips)
    # the real worker took A's sync off the queue (it fails: the clinic has no credentials)
    wait_until(
        lambda: scheduled(database_url, a.id)[0]["status"] != "queued", 60, "the worker to run A's sync"
    )

    one.kill()  # as a lost machine: the lock is not released, the standby waits out its TTL
    two.wait_for("holding the scheduler lock", 15)
    wait_until(lambda: sent(two.log(), a.id), 90, "a slot of A dispatched by the standby")
    by_one, by_two = sent(one.log(), a.id), sent(two.log(), a.id)
    assert not {s for s, _, _ in by_one} & {s for s, _, _ in by_two}  # no slot sent by both
    assert min(s for s, _, _ in by_two) > max(s for s, _, _ in by_one)  # the standby went on from there
    wait_until(lambda: len(scheduled(database_url, a.id)) == len(by_one) + len(sent(two.log(), a.id)), 10,
               "every scheduled row of A to be a logged slot")
    assert f"clinic:{a.id}:inbound slot" in two.log()
