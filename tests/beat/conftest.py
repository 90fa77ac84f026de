"""Beat fixtures: an isolated Redis database (lock, last runs, slot keys, broker) and a clock."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from celery import Celery
from psycopg.rows import dict_row

from tests.fixtures.services import DB_BEAT, redis_db_url
from workers.beat import ClinicScheduler


class Clock:
    """A frozen, settable clock for the scheduler and its schedules."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="session")
def beat_redis_url(redis_server_base) -> str:
    """A Redis database of its own: the beat keys and the broker queue of these tests."""
    url = redis_db_url(redis_server_base, DB_BEAT, "TEST_BEAT_REDIS_URL")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def rclient(beat_redis_url):
    client = redis.Redis.from_url(beat_redis_url)
    yield client
    client.close()


@pytest.fixture
def beat_settings(base_settings, beat_redis_url):
    return base_settings.replace(redis_url=beat_redis_url, beat_lock_ttl_s=2, schedule_grace_seconds=3600)


@pytest.fixture
def celery_app(beat_redis_url):
    app = Celery("beat-tests", broker=beat_redis_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    yield app
    app.close()


@pytest.fixture
def make_scheduler(celery_app, beat_settings, store, rclient):
    """Build ClinicSchedulers on a fake clock; each has its own lock key unless told otherwise."""
    made: list[ClinicScheduler] = []

    def make(clock, *, lock_key=None, settings=None, **kw):
        sched = ClinicScheduler(
            celery_app,
            settings=settings or beat_settings,
            store=store,
            redis_client=rclient,
            nowfun=clock,
            lock_key=lock_key or f"pims:test:beat-lock:{secrets.token_hex(4)}",
            **kw,
        )
        made.append(sched)
        return sched

    yield make
    for sched in made:
        sched.close()


@pytest.fixture(autouse=True)
def only_this_tests_schedules(database_url):
    """A scheduler reads every active clinic's schedule in the session's database. Tests elsewhere
    leave scheduled clinics there, and which files ran before this one depends on the run (one
    process, or xdist workers taking files in any order): park them for the test, restore after."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        parked = [row[0] for row in conn.execute(
            "update clinics set is_active = false where is_active "
            "and id in (select clinic_id from clinic_schedule_configs) returning id").fetchall()]
    yield
    if parked:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("update clinics set is_active = true where id = any(%s)", (parked,))


@pytest.fixture
def clinics(store, database_url):
    """New clinics for one test; deactivated afterwards so later schedulers ignore them."""
    made = []

    def make(tz="America/New_York", schedules=None):
        c = store.create_clinic(name=f"Beat Clinic {secrets.token_hex(3)}", timezone=tz)
        if schedules is not None:
            store.set_schedule_config(c.id, schedules)
        made.append(c.id)
        return c

    yield make
    if made:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("update clinics set is_active = false where id = any(%s::uuid[])", (made,))


def audits(database_url, clinic_id) -> list[dict]:
    """Our audit rows (pims_sync_runs): queued and skipped runs never reach the product's case_sync_audits."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(
            "select id::text, sync_type, status, trigger, error_message from pims_sync_runs "
            "where clinic_id = %s order by created_at",
            (clinic_id,),
        ).fetchall()
