"""The beat scheduler on a SupabaseStore: no LISTEN without a direct connection, so it polls by updated_at."""

from __future__ import annotations

import logging

from tests.store_supabase.conftest import SERVICE_ROLE_KEY
from tests.store_supabase.fake_postgrest import FakePostgREST
from tests.store_supabase.sample_rows import CLINIC_ID, config_row
from workers.beat import ClinicScheduler

from .conftest import Clock, utc

CONFIG_PATH = "/rest/v1/clinic_schedule_configs"


def test_beat_loads_and_then_polls_changed_configs_over_rest(celery_app, beat_settings, rclient, caplog):
    from pims_sync.store.supabase import SupabaseStore

    server = FakePostgREST().start()
    store = SupabaseStore(server.url, SERVICE_ROLE_KEY)
    settings = beat_settings.replace(
        database_url=None,
        supabase_url=server.url,
        supabase_service_role_key=SERVICE_ROLE_KEY,
        schedule_poll_seconds=0,
    )
    server.reply(
        "GET", "clinic_schedule_configs", [config_row(clinics={"timezone": "UTC", "is_active": True})]
    )
    sched = ClinicScheduler(
        celery_app, settings=settings, store=store, redis_client=rclient, nowfun=Clock(utc(2026, 6, 1, 5, 0))
    )
    try:
        with caplog.at_level(logging.WARNING, logger="workers.beat"):
            sched.tick()
            sched.tick()  # poll interval 0: the second tick polls for changes
        assert f"clinic:{CLINIC_ID}:inbound" in sched.schedule
        assert any("polling" in r.getMessage() for r in caplog.records)
        reads = [r for r in server.requests if r.path == CONFIG_PATH]
        assert reads and all(r.method == "GET" for r in reads)
        polls = [dict(r.query).get("updated_at", "") for r in reads]
        assert any(p.startswith("gt.") for p in polls), polls  # changed_since went over the wire
    finally:
        sched.close()
        store.close()
        server.stop()
