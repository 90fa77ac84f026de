"""ClinicScheduler in-process on a fake clock, against real Postgres and Redis.

Dispatch is observed where it lands: audit rows in the database and messages on the broker's
`sync` queue. The real `celery beat` processes are in test_beat_process.py.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

import psycopg

from pims_sync import metrics
from pims_sync.sync.runner import create_sync_audits
from workers.beat import LAST_RUN_KEY
from workers.enqueue import InFlight

from .conftest import Clock, audits, utc

INBOUND_6AM = {"type": "inbound", "cron": "0 6 * * *", "enabled": True}  # 10:00Z in June, New York


def clinic_entries(sched, clinic_id):
    return {n: e for n, e in sched.schedule.items() if n.startswith(f"clinic:{clinic_id}:")}


def run_ticks(sched, n=5):
    for _ in range(n):
        sched.tick()


def test_entries_from_config_with_bad_ones_skipped_and_named(make_scheduler, clinics, database_url, caplog):
    good = clinics(
        schedules=[
            INBOUND_6AM,
            {"type": "cases", "cron": "61 * * * *"},
            {"type": "payroll", "cron": "0 1 * * *"},
            "not an object",
            {"type": "reconciliation", "cron": "0 2 * * *", "enabled": False},
        ]
    )
    inactive = clinics(schedules=[INBOUND_6AM])
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update clinics set is_active = false where id = %s", (inactive.id,))
    sched = make_scheduler(Clock(utc(2026, 6, 1, 9, 0)))
    with caplog.at_level(logging.WARNING, logger="workers.beat"):
        sched.tick()
    assert set(clinic_entries(sched, good.id)) == {f"clinic:{good.id}:inbound"}
    assert clinic_entries(sched, inactive.id) == {}
    warnings = [r.getMessage() for r in caplog.records if good.id in r.getMessage()]
    assert len(warnings) == 3, warnings
    assert any("sync_schedules[1]" in w and "61 * * * *" in w for w in warnings)
    assert any("sync_schedules[2]" in w and "payroll" in w for w in warnings)
    assert any("sync_schedules[3]" in w for w in warnings)


def test_due_entry_dispatches_once_with_trigger_schedule(make_scheduler, clinics, database_url, rclient):
    c = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 9, 59, 50))
    sched = make_scheduler(clock)
    queued_before = rclient.llen("sync")
    run_ticks(sched)
    assert audits(database_url, c.id) == []
    clock.at = utc(2026, 6, 1, 10, 0, 3)
    run_ticks(sched)
    rows = audits(database_url, c.id)
    assert [(r["sync_type"], r["status"], r["trigger"]) for r in rows] == [("inbound", "queued", "schedule")]
    assert rclient.llen("sync") == queued_before + 1
    clock.at = utc(2026, 6, 1, 10, 0, 40)
    run_ticks(sched)
    assert len(audits(database_url, c.id)) == 1


def test_edit_rebuilds_only_that_clinic_with_new_entries_keeping_last_run(
    make_scheduler, clinics, store, database_url
):
    cron_a = [INBOUND_6AM, {"type": "cases", "cron": "0 8 * * *"}]
    a = clinics(schedules=cron_a)
    b = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 9, 59, 59))
    sched = make_scheduler(clock)
    sched.tick()
    clock.at = utc(2026, 6, 1, 10, 0, 2)
    run_ticks(sched)  # the 06:00 slots of a and b are dispatched now
    inbound = f"clinic:{a.id}:inbound"
    before_a, before_b = dict(clinic_entries(sched, a.id)), dict(clinic_entries(sched, b.id))
    assert before_a[inbound].total_run_count == 1

    clock.at = utc(2026, 6, 1, 10, 5)
    store.set_schedule_config(a.id, [INBOUND_6AM, {"type": "cases", "cron": "30 8 * * *"}])
    deadline = time.monotonic() + 10
    while clinic_entries(sched, a.id)[f"clinic:{a.id}:cases"].schedule.cron != "30 8 * * *":
        assert time.monotonic() < deadline, "the NOTIFY was not picked up"
        sched.tick()
        time.sleep(0.05)
    after_a = clinic_entries(sched, a.id)
    assert after_a[inbound] is not before_a[inbound]  # a new object: Celery ignores in-place edits
    assert after_a[inbound].last_run_at == before_a[inbound].last_run_at
    assert after_a[inbound].total_run_count == 1
    assert after_a[f"clinic:{a.id}:cases"].last_run_at == clock.at  # changed: starts from the edit
    assert clinic_entries(sched, b.id)[f"clinic:{b.id}:inbound"] is before_b[f"clinic:{b.id}:inbound"]
    # the edited cron fires at its new time, once
    clock.at = utc(2026, 6, 1, 12, 30, 1)
    run_ticks(sched)
    assert [r["sync_type"] for r in audits(database_url, a.id)] == ["inbound", "cases"]

    store.set_schedule_config(a.id, [])
    sched.reload_clinics({a.id})
    assert clinic_entries(sched, a.id) == {}


def test_missed_slot_within_grace_runs_once_older_is_skipped(make_scheduler, clinics, database_url, caplog):
    recent = clinics(schedules=[INBOUND_6AM])
    old = clinics(schedules=[{"type": "inbound", "cron": "0 5 * * *"}])  # 09:00Z
    first = make_scheduler(Clock(utc(2026, 6, 1, 8, 0)))
    first.tick()  # records a first sighting of every entry, then "goes down"
    first.close()

    clock = Clock(utc(2026, 6, 1, 10, 30))  # 10:00Z missed by 30 min, 09:00Z by 90 min
    missed_before = metrics.BEAT_MISSED_SLOTS._value.get()
    with caplog.at_level(logging.WARNING, logger="workers.beat"):
        second = make_scheduler(clock)
        run_ticks(second)
    assert metrics.BEAT_MISSED_SLOTS._value.get() - missed_before == 1  # the old entry's skipped slot
    assert [r["status"] for r in audits(database_url, recent.id)] == ["queued"]
    assert audits(database_url, old.id) == []
    assert any(f"clinic:{old.id}:inbound missed" in r.getMessage() for r in caplog.records)
    clock.at += timedelta(minutes=5)
    run_ticks(second)
    assert len(audits(database_url, recent.id)) == 1
    clock.at = utc(2026, 6, 2, 9, 0, 1)  # the next day's slot of the skipped entry runs
    run_ticks(second)
    assert len(audits(database_url, old.id)) == 1


def test_one_active_beat_standby_takes_over_and_a_loser_steps_down(make_scheduler, clinics, rclient):
    c = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 8, 0))
    key = "pims:test:beat-lock:shared"
    rclient.delete(key)
    active, standby = make_scheduler(clock, lock_key=key), make_scheduler(clock, lock_key=key)
    active.tick()
    standby.tick()
    assert clinic_entries(active, c.id) and not clinic_entries(standby, c.id)
    active.close()  # a clean stop releases the lock
    standby.tick()
    assert clinic_entries(standby, c.id)

    rclient.set(key, "someone-else", px=5000)  # e.g. we paused past the TTL and another took over
    time.sleep(1.0)  # past the renewal point (TTL 2 s / 3)
    assert standby.tick() > 0
    assert clinic_entries(standby, c.id) == {} and not standby._leading
    rclient.delete(key)
    standby.tick()
    assert clinic_entries(standby, c.id)


def test_a_beat_whose_lock_expired_unclaimed_retakes_it_and_keeps_its_entries(make_scheduler, clinics, rclient,
                                                                               caplog):
    # a tick that ran past the TTL on a loaded machine: nobody took the lock meanwhile, so the
    # beat takes it again instead of dropping every entry and rebuilding them
    c = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 8, 0))
    key = f"pims:test:beat-lock:{secrets.token_hex(4)}"
    sched = make_scheduler(clock, lock_key=key)
    sched.tick()
    entries = clinic_entries(sched, c.id)
    assert entries and sched._leading
    rclient.delete(key)  # the TTL ran out while the beat was paused
    time.sleep(1.0)  # past the renewal point (TTL 2 s / 3)
    with caplog.at_level(logging.WARNING, logger="workers.beat"):
        sched.tick()
    assert sched._leading and clinic_entries(sched, c.id) == entries
    assert rclient.get(key).decode() == sched.lock.token
    assert any("had expired" in r.getMessage() for r in caplog.records)


def test_split_brain_sends_each_slot_once(make_scheduler, clinics, database_url):
    c = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 9, 59, 59))
    # two beats that both believe they hold the lock (different lock keys)
    one, two = make_scheduler(clock), make_scheduler(clock)
    one.tick()
    two.tick()
    clock.at = utc(2026, 6, 1, 10, 0, 1)
    run_ticks(one)
    run_ticks(two)
    assert len(audits(database_url, c.id)) == 1


def test_clinic_already_syncing_is_skipped_and_audited(make_scheduler, clinics, store, rclient, database_url):
    c = clinics(schedules=[INBOUND_6AM])
    running = create_sync_audits(store, clinic_id=c.id, sync_type="cases", trigger="api")
    store.start_audit(running.sync_id)
    assert InFlight(rclient).claim(c.id, running.sync_id, ttl_s=60) is None
    clock = Clock(utc(2026, 6, 1, 9, 59, 59))
    sched = make_scheduler(clock)
    sched.tick()
    clock.at = utc(2026, 6, 1, 10, 0, 1)
    run_ticks(sched)
    rows = audits(database_url, c.id)
    skipped = [r for r in rows if r["id"] != running.sync_id]
    assert [(r["sync_type"], r["status"], r["trigger"]) for r in skipped] == [
        ("inbound", "skipped", "schedule")
    ]
    assert running.sync_id in skipped[0]["error_message"]


def test_enable_scheduler_false_dispatches_nothing_and_says_so(
    make_scheduler, clinics, beat_settings, database_url, rclient, caplog
):
    c = clinics(schedules=[INBOUND_6AM])
    clock = Clock(utc(2026, 6, 1, 9, 0))
    with caplog.at_level(logging.WARNING, logger="workers.beat"):
        sched = make_scheduler(clock, settings=beat_settings.replace(enable_scheduler=False))
    assert any("ENABLE_SCHEDULER=false" in r.getMessage() for r in caplog.records)
    clock.at = utc(2026, 6, 1, 10, 0, 1)
    run_ticks(sched)
    assert sched.schedule == {} and audits(database_url, c.id) == []
    assert rclient.hget(LAST_RUN_KEY, f"clinic:{c.id}:inbound") is None
