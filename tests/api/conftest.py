"""API fixtures: an app on the session's real database and its own Redis database.

The enqueue tests need no worker: tasks are sent by name to a real Redis broker and just wait
there; the API Redis database is flushed before and after each test so claims never leak.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import redis
from celery import Celery
from werkzeug.serving import make_server

from api.app import create_app
from pims_sync.apikeys import generate_api_key
from tests.fixtures.services import DB_API, redis_db_url


@pytest.fixture(scope="session")
def api_redis_url(redis_server_base) -> str:
    return redis_db_url(redis_server_base, DB_API, "TEST_API_REDIS_URL")


@pytest.fixture
def api_redis(api_redis_url) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(api_redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def broker_app(api_redis_url) -> Iterator[Celery]:
    """A Celery app with no tasks: what the API enqueues by name lands in Redis and stays there."""
    app = Celery("api-tests", broker=api_redis_url, backend=api_redis_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_transport_options = {"max_retries": 1}
    yield app
    app.close()


@pytest.fixture
def api_settings(base_settings, api_redis_url):
    return base_settings.replace(redis_url=api_redis_url, sync_timeout_ms=2_000)


@pytest.fixture
def app(api_settings, store, broker_app, api_redis):
    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=api_redis,
                     auth_max_failures=5, auth_window_s=2, last_used_interval_s=0.2)
    yield app
    app.extensions["pims_sync"].close()


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app over real HTTP on 127.0.0.1 (a threaded werkzeug server); yields its base URL."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="api-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(10)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass(frozen=True)
class Key:
    raw: str
    id: str
    clinic_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.raw}


@pytest.fixture
def make_key(store):
    def make(clinic_id: str, *, permissions=None, expires_at: datetime | None = None) -> Key:
        generated = generate_api_key(env="test")
        record = store.create_api_key(
            clinic_id=clinic_id, name="test", key_prefix=generated.key_prefix, key_hash=generated.key_hash,
            permissions=permissions, expires_at=expires_at,
        )
        return Key(generated.key, record.id, clinic_id)

    return make


@pytest.fixture
def key(make_key, clinic) -> Key:
    return make_key(clinic.id)
