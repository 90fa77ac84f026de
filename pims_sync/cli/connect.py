"""Connections the operator commands need, each failing with the service's name and URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

from ..config import Settings
from ..errors import StoreError
from .output import ServiceUnreachable

if TYPE_CHECKING:
    from ..models import Clinic
    from ..providers.base import PimsProvider
    from ..providers.idexx.auth import BrowserSource
    from ..store.base import Store


def load_settings() -> Settings:
    return Settings.from_env()


def database_label(settings: Settings) -> str:
    return settings.database_url or settings.supabase_url or "(DATABASE_URL not set)"


def open_store(settings: Settings, *, ping: bool = True) -> Store:
    """The configured store, pinged, or ServiceUnreachable naming the database and its URL."""
    from ..store import open_store as _open

    settings.require_database()
    if settings.database_url:
        _probe_postgres(settings.database_url)
    try:
        store: Store = _open(settings)
        if ping:
            store.ping()
    except StoreError as e:
        raise ServiceUnreachable("the database", database_label(settings), str(e).splitlines()[0][:120]) from None
    return store


def _probe_postgres(url: str, *, timeout_s: int = 5) -> None:
    """One quick connection first, so a dead database fails in seconds, not after the pool's wait."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=timeout_s).close()
    except psycopg.Error as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ServiceUnreachable("the database", url, reason[:160]) from None


def redis_client(settings: Settings, *, ping: bool = True, timeout_s: float = 3.0) -> redis.Redis:
    client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    if ping:
        try:
            client.ping()
        except redis.exceptions.RedisError as e:
            raise ServiceUnreachable("Redis", settings.broker_url, e.__class__.__name__) from None
    return client


def celery_app(settings: Settings) -> Any:
    """The workers' Celery app built from these settings (sends tasks by name; no Playwright)."""
    from workers.app import create_celery_app

    return create_celery_app(settings)


def local_provider(settings: Settings, store: Store, clinic: Clinic, browser_source: BrowserSource, *,
                   fresh_token: bool = False) -> PimsProvider:
    """The provider clinics.pims_provider names, in this process (the CLI's --local and
    `credentials test`): built as the workers build it (pims_sync/providers/build.py).
    ConfigError (unknown provider, refused host) before any credential is read.

    An IDEXX login is this process's own. A REST provider (ezyVet) shares the workers' token cache
    and the site's rate buckets in Redis when Redis answers, so a local sync neither fetches a
    token the workers already hold nor spends the site's calls behind their backs; without Redis
    both are this process's. ``fresh_token`` (`credentials test`) keeps the shared buckets but
    fetches its own token: a cached one would pass a secret that has since been rotated."""
    from ..providers.build import ApiTokens, InProcessParts, build_provider

    def api_tokens(parts: InProcessParts) -> ApiTokens:
        try:
            client = redis_client(settings, timeout_s=1.0)
        except ServiceUnreachable:
            return ApiTokens()
        from workers.runtime import shared_api_tokens

        shared = shared_api_tokens(client, parts.cipher, settings)
        return ApiTokens(limiter=shared.limiter) if fresh_token else shared

    return build_provider(clinic, InProcessParts(settings, store, browser_source, api_tokens))
