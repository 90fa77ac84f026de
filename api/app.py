"""The Flask app factory: ``create_app(settings=None, *, store=None, celery_app=None, redis_client=None)``.

Tests build their own app with overrides; production builds one per gunicorn worker through
``api.wsgi``. The Celery app is imported by name, lazily, on the first enqueue: the API never
imports the tasks (and so never Playwright).
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.middleware.proxy_fix import ProxyFix

from pims_sync.config import Settings, get_settings
from pims_sync.store import open_store
from pims_sync.store.base import Store
from workers.pipelines import InFlight

from . import errors
from .auth import Authenticator, FailureLimiter, LastUsedRecorder
from .openapi import Operation, build_document
from .routes import health, legacy, metrics, sync

log = logging.getLogger(__name__)
CELERY_FACTORY = "workers.app:create_celery_app"


@dataclass
class Services:
    """What the handlers use, built once per app (``current_app.extensions["pims_sync"]``)."""

    settings: Settings
    store: Store
    redis: redis.Redis
    inflight: InFlight
    authenticator: Authenticator
    operations: list[Operation]
    started_at: float = field(default_factory=time.monotonic)
    _celery_app: Any = None

    @property
    def celery_app(self):
        if self._celery_app is None:  # by name, on first use: never the tasks, never Playwright
            module, _, name = CELERY_FACTORY.partition(":")
            self._celery_app = getattr(importlib.import_module(module), name)(self.settings)
        return self._celery_app

    def close(self) -> None:
        """Stop background work (the last_used_at writer); the store and Redis belong to the caller."""
        self.authenticator.recorder.stop()

    @property
    def sync_timeout_s(self) -> float:
        return self.settings.sync_timeout_ms / 1000

    @property
    def inflight_ttl_s(self) -> int:
        """Longest a claim may outlive a lost release: three phases at their hard limit, plus queueing."""
        return 3 * self.settings.hard_time_limit_s + 600


ROUTE_MODULES = (sync, legacy, health, metrics)


def all_operations() -> list[Operation]:
    """Every documented operation (the OpenAPI document is ``build_document(all_operations())``)."""
    return [op for module in ROUTE_MODULES for op in module.bp.operations]


def redis_for_api(url: str) -> redis.Redis:
    """A client that fails fast: a request should answer 503 in seconds, not retry for long."""
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1))


def services() -> Services:
    return current_app.extensions["pims_sync"]


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    celery_app: Any = None,
    redis_client: redis.Redis | None = None,
    auth_max_failures: int = 10,
    auth_window_s: int = 60,
    last_used_interval_s: float = 5.0,
    proxy_hops: int | None = None,
) -> Flask:
    """Build the API. ``auth_*`` tune the failed-key rate limit (per client address, in Redis).

    ``proxy_hops``: how many trusted reverse proxies set X-Forwarded-For in front of the API; the
    rate limit then counts the real client address, not the proxy's. Leave 0 when clients connect
    directly (a client could otherwise forge the header to dodge the limit). Default:
    ``TRUST_PROXY_HOPS``.
    """
    settings = settings or get_settings()
    if proxy_hops is None:
        proxy_hops = settings.trust_proxy_hops
    store = store if store is not None else open_store(settings)
    if redis_client is None:
        redis_client = redis_for_api(settings.broker_url)
    app = Flask(__name__)
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    for module in ROUTE_MODULES:
        app.register_blueprint(module.bp)
    operations = all_operations()
    app.extensions["pims_sync"] = Services(
        settings=settings,
        store=store,
        redis=redis_client,
        inflight=InFlight(redis_client),
        authenticator=Authenticator(
            store,
            FailureLimiter(redis_client, max_failures=auth_max_failures, window_s=auth_window_s),
            LastUsedRecorder(store, interval_s=last_used_interval_s),
        ),
        operations=operations,
        _celery_app=celery_app,
    )
    document = build_document(operations)
    app.add_url_rule("/openapi.json", "openapi", lambda: document)
    errors.register(app)
    return app
