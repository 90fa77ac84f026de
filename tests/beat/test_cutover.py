"""Beat and the cut-over gate: a clinic owned by the legacy service, or with syncing disabled,
keeps its entries but its due slots are skipped with one log line and nothing is enqueued."""

from __future__ import annotations

import logging

import pytest

from pims_sync.crypto import CredentialCipher

from .conftest import Clock, utc

INBOUND_6AM = {"type": "inbound", "cron": "0 6 * * *", "enabled": True}  # 10:00Z in June, New York


def _legacy(store, clinic, settings):
    store.update_clinic(clinic.id, sync_owner="legacy")


def _disabled(store, clinic, settings):
    cipher = CredentialCipher.from_settings(settings)
    store.save_credentials(cipher.encrypt_credentials("user", "pw", "1234", clinic_id=clinic.id))
    store.set_sync_enabled(clinic.id, False)


@pytest.mark.parametrize(("flip", "flag"), [(_legacy, "sync_owner"), (_disabled, "sync_enabled")])
def test_a_due_slot_of_a_clinic_not_ours_is_skipped_in_one_log_line(
    make_scheduler, clinics, store, rclient, beat_settings, caplog, flip, flag
):
    c = clinics(schedules=[INBOUND_6AM])
    flip(store, c, beat_settings)
    clock = Clock(utc(2026, 6, 1, 9, 59, 50))
    sched = make_scheduler(clock)
    sched.tick()
    queued_before = rclient.llen("sync")
    clock.at = utc(2026, 6, 1, 10, 0, 3)
    with caplog.at_level(logging.INFO, logger="workers.beat"):
        for _ in range(5):
            sched.tick()
        clock.at = utc(2026, 6, 1, 10, 0, 40)
        for _ in range(5):
            sched.tick()
    lines = [r.getMessage() for r in caplog.records if c.id in r.getMessage() and "skipped" in r.getMessage()]
    assert len(lines) == 1, lines
    assert flag in lines[0] and "pims-sync clinics set" in lines[0]
    assert rclient.llen("sync") == queued_before, "nothing was enqueued"
    assert store.sync_history(c.id).total == 0, "no audit rows"


def test_handing_the_clinic_back_resumes_its_schedule(make_scheduler, clinics, store, rclient, beat_settings):
    c = clinics(schedules=[INBOUND_6AM])
    _legacy(store, c, beat_settings)
    clock = Clock(utc(2026, 6, 1, 9, 59, 50))
    sched = make_scheduler(clock)
    sched.tick()
    clock.at = utc(2026, 6, 1, 10, 0, 3)
    for _ in range(3):
        sched.tick()
    assert store.sync_history(c.id).total == 0
    store.update_clinic(c.id, sync_owner="pims-sync")  # the cut-over: pims-sync owns it from now on
    clock.at = utc(2026, 6, 2, 10, 0, 3)
    for _ in range(3):
        sched.tick()
    page = store.sync_history(c.id)
    assert [(a.sync_type, a.trigger) for a in page.audits] == [("inbound", "schedule")]
