"""The Flask app factory: ``create_app(settings=None, *, store=None, celery_app=None, redis_client=None)``.

Tests build their own app with overrides; production builds one per gunicorn worker through
``api.wsgi``. The Celery app is imported by name, lazily, on the first enqueue: the API never
imports the tasks (and so never Playwright).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from pims_sync.config import Settings, get_settings
from pims_sync.store import open_store
from pims_sync.store.base import Store
from pims_sync.store.postgres import API_WAIT_S
from workers.enqueue import InFlight

from . import docs_ui, errors
from .auth import Authenticator, FailureLimiter, LastUsedRecorder
from .fail_fast import PROBE_PATHS, redis_for_api
from .openapi import Operation, build_document
from .routes import health, legacy, metrics, sync
from .services import EXTENSION, Services, services

log = logging.getLogger(__name__)
__all__ = ["ROUTE_MODULES", "Services", "all_operations", "create_app", "redis_for_api", "services"]

ROUTE_MODULES = (sync, legacy, health, metrics)


def all_operations() -> list[Operation]:
    """Every documented operation (the OpenAPI document is ``build_document(all_operations())``)."""
    return [op for module in ROUTE_MODULES for op in module.bp.operations]


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
    store = store if store is not None else open_store(settings, wait_s=API_WAIT_S)
    if redis_client is None:
        redis_client = redis_for_api(settings.broker_url)
    app = Flask(__name__)
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops)  # type: ignore[method-assign]  # Flask's documented way
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    for module in ROUTE_MODULES:
        app.register_blueprint(module.bp)
    app.register_blueprint(docs_ui.bp)  # /docs: Swagger UI over /openapi.json, no key needed
    operations = all_operations()
    app.extensions[EXTENSION] = Services(
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
    app.add_url_rule("/openapi.json", "openapi", lambda: document)  # built once: the models do not change
    errors.register(app)
    app.before_request(_enter_busy_limit)
    app.teardown_request(_leave_busy_limit)
    return app


def _enter_busy_limit() -> ResponseReturnValue | None:
    """Refuse at once when every thread but the probes' one is inside a handler (fail_fast.BusyLimit)."""
    if request.url_rule is None or request.url_rule.rule in PROBE_PATHS:
        return None
    if not services().busy.try_enter():
        body, status = errors.error_body(
            503, "server_busy", "every request thread of this API process is busy; retry shortly")
        response = jsonify(body)
        response.status_code = status
        response.headers["Retry-After"] = "1"
        return response
    g.pims_busy_entered = True
    return None


def _leave_busy_limit(_exc: BaseException | None) -> None:
    if g.pop("pims_busy_entered", False):
        services().busy.leave()
