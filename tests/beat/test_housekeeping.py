"""ENABLE_SCHEDULER=false turns clinic schedules off, not housekeeping (issue 16).

The scheduler runs on real Redis (the broker queue is read back) with the production Celery
configuration; only the sweep's interval is shortened so the test need not wait a minute.
"""

from __future__ import annotations

import json
import secrets
import time

from celeryconfig import DEFAULT_QUEUE, HOUSEKEEPING_TASK
from workers.app import create_celery_app
from workers.beat import ClinicScheduler

from .test_scheduler import INBOUND_6AM


def _sent_tasks(rclient) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in rclient.lrange(DEFAULT_QUEUE, 0, -1)]


def test_without_clinic_schedules_beat_still_sends_the_stale_audit_sweep(beat_settings, store, rclient, clinics):
    settings = beat_settings.replace(enable_scheduler=False)
    app = create_celery_app(settings)
    sweep = dict(app.conf.beat_schedule["fail-stale-audits"], schedule=0.2)
    app.conf.beat_schedule = {"fail-stale-audits": sweep}
    c = clinics(schedules=[INBOUND_6AM])
    rclient.delete(DEFAULT_QUEUE)
    lock_key = f"pims:test:beat-lock:{secrets.token_hex(4)}"
    sched = ClinicScheduler(app, settings=settings, store=store, redis_client=rclient, lock_key=lock_key)
    try:
        deadline = time.monotonic() + 30
        while HOUSEKEEPING_TASK not in _sent_tasks(rclient):
            assert time.monotonic() < deadline, "the stale-audit sweep was never sent"
            time.sleep(max(0.0, min(sched.tick(), 0.1)))
        assert not [name for name in sched.schedule if name.startswith("clinic:")]
        assert f"clinic:{c.id}:inbound" not in sched.schedule
        assert set(_sent_tasks(rclient)) == {HOUSEKEEPING_TASK}  # and no clinic sync
        assert rclient.get(lock_key) is None  # a beat without schedules never holds the scheduling lock
    finally:
        sched.close()
        app.close()
