"""Real `celery beat` processes (two: one active, one standby) and a real worker, on the wall clock.

Cron is minute-granular, so this waits for two minute slots in all: the first checks dispatch,
a live SQL edit, invalid entries and a clinic already syncing; the second checks that the
standby takes over after the active beat is killed. Everything else is in test_scheduler.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pims_sync.sync.pipeline import create_sync_audits
from workers.pipelines import InFlight

from .conftest import audits

REPO = Path(__file__).resolve().parents[2]
EVERY_MINUTE = {"type": "inbound", "cron": "* * * * *", "enabled": True}


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
        "workers.beat:ClinicScheduler",
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


def next_minute(after: datetime) -> datetime:
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


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
    edited = datetime.now(UTC)
    one.wait_for(f"reloaded clinic(s) {b.id}", 5)

    slot1 = next_minute(datetime.now(UTC))
    for clinic in (a, b, c):
        wait_until(lambda cid=clinic.id: scheduled(database_url, cid), 90, f"slot {slot1} of {clinic.id}")
    wait_until(
        lambda: [x for x in scheduled(database_url, d.id) if x["status"] == "skipped"], 30, "d skipped"
    )
    time.sleep(3)  # a second dispatch of the same slot (by either beat) would show up by now
    assert [x["sync_type"] for x in scheduled(database_url, a.id)] == ["inbound"]
    assert [x["sync_type"] for x in scheduled(database_url, b.id)] == ["cases"]
    assert [x["sync_type"] for x in scheduled(database_url, c.id)] == ["inbound"]
    (skip,) = scheduled(database_url, d.id)
    assert skip["status"] == "skipped" and running.sync_id in skip["error_message"]
    assert "enqueued sync" not in two.log()
    assert edited < slot1 + timedelta(minutes=1)
    # the real worker took A's sync off the queue (it fails: the clinic has no credentials)
    wait_until(
        lambda: scheduled(database_url, a.id)[0]["status"] != "queued", 60, "the worker to run A's sync"
    )

    one.kill()  # as a lost machine: the lock is not released, the standby waits out its TTL
    two.wait_for("holding the scheduler lock", 15)
    slot2 = next_minute(datetime.now(UTC))
    wait_until(lambda: len(scheduled(database_url, a.id)) >= 2, 90, f"slot {slot2} dispatched by the standby")
    time.sleep(3)
    assert len(scheduled(database_url, a.id)) == 2
    assert f"clinic:{a.id}:inbound slot" in two.log()
