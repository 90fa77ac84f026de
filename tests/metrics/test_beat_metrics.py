"""Beat's dispatches are counted by outcome (a real broker and database; no beat process needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from celery import Celery

from pims_sync import metrics
from pims_sync.schedules import ScheduleEntrySpec
from workers.beat.dispatch import dispatch_slot
from workers.enqueue import InFlight


def count(outcome: str) -> float:
    return metrics.BEAT_DISPATCHES.labels(outcome)._value.get()


def test_each_dispatch_outcome_is_counted(store, redis_url):
    clinic = store.create_clinic(name="Beat metrics", timezone="America/New_York")
    client = redis.Redis.from_url(redis_url)
    app = Celery("beat-metrics", broker=redis_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    spec = ScheduleEntrySpec(clinic_id=clinic.id, type="inbound", cron="0 6 * * *", timezone="America/New_York")
    slot = datetime.now(UTC).replace(microsecond=0)
    before = {o: count(o) for o in ("enqueued", "duplicate", "skipped")}
    try:
        kw = dict(spec=spec, slot=slot, inflight_ttl_s=600, dedupe_ttl_s=120)
        assert dispatch_slot(app, store, InFlight(client), client, **kw) == "enqueued"
        assert dispatch_slot(app, store, InFlight(client), client, **kw) == "duplicate"
        later = slot.replace(year=slot.year + 1)  # another slot while the first sync still holds the clinic
        assert dispatch_slot(app, store, InFlight(client), client, **{**kw, "slot": later}) == "skipped"
    finally:
        app.close()
        client.close()
    assert {o: count(o) - before[o] for o in before} == {"enqueued": 1, "duplicate": 1, "skipped": 1}
