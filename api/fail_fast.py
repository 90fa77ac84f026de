"""Answering fast while a dependency is down (issue 16): a Redis client that stops waiting, and
a bound on the request threads that may wait on a dependency at all.

A hung Redis (one that accepts connections and never answers) costs each command its read
timeout. One request makes several Redis calls (the failed-key limiter, the single-flight
claim), so timeouts alone would add up; after one failure the client's *breaker* makes every
call fail at once for a short cooldown, and the request answers 503 within 2 s.

Even bounded waits fill a thread pool when requests keep coming: gunicorn's gthread worker hands
every connection to one pool, so ``/health`` would queue behind them. :class:`BusyLimit` lets at
most ``threads - 1`` requests into the handlers that touch a dependency, so one thread always
remains for ``/health`` and ``/ready``. One more waits for a permit only while the handlers are
quick (none inside for longer than :data:`SLOW_HANDLER_S`, as on a healthy, busy server: a
burst of 16 clients on 2 x 8 threads queues for milliseconds instead of getting 503s); once a
handler is slow — a dependency is hanging — it is answered 503 ``server_busy`` at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry

REDIS_CONNECT_TIMEOUT_S = 1.0
REDIS_READ_TIMEOUT_S = 1.5
REDIS_COOLDOWN_S = 2.0
BUSY_WAIT_S = 1.0  # the longest a request waits for a permit while the handlers are quick
SLOW_HANDLER_S = 0.25  # a handler inside for longer: a dependency is slow, so refuse at once
_BUSY_POLL_S = 0.01
# routes that touch no dependency (or bound their own checks) and must answer during an outage
PROBE_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"})


class RedisBreaker:
    """Shared by one client's connections: after a failure, calls fail at once for ``cooldown_s``."""

    def __init__(self, cooldown_s: float = REDIS_COOLDOWN_S):
        self.cooldown_s = cooldown_s
        self._open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self._open_until:
            raise redis.ConnectionError(
                f"Redis failed to answer less than {self.cooldown_s:g} s ago; not waiting for it again yet")

    def trip(self) -> None:
        self._open_until = time.monotonic() + self.cooldown_s


class _FailFast(AbstractConnection):
    """The breaker around a connection's connect, send and read (mixed in before the transport)."""

    def __init__(self, *args: Any, breaker: RedisBreaker, **kwargs: Any) -> None:
        self.breaker = breaker
        super().__init__(*args, **kwargs)

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self.breaker.check()
        try:
            super().connect_check_health(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):
            self.breaker.trip()
            raise

    def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        self.breaker.check()
        try:
            super().send_packed_command(*args, **kwargs)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except (redis.ConnectionError, redis.TimeoutError):
            self.breaker.trip()
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):
            self.breaker.trip()
            raise


class FailFastConnection(_FailFast, Connection):
    pass


class FailFastSSLConnection(_FailFast, SSLConnection):
    pass


class FailFastUnixDomainSocketConnection(_FailFast, UnixDomainSocketConnection):
    pass


def redis_for_api(url: str, *, breaker: RedisBreaker | None = None) -> redis.Redis:
    """A client that fails fast: no retries, second-scale timeouts, and a breaker."""
    connection_class: type[_FailFast] = (
        FailFastSSLConnection if url.startswith("rediss://")
        else FailFastUnixDomainSocketConnection if url.startswith("unix://") else FailFastConnection)
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_timeout=REDIS_READ_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        connection_class=connection_class,
        breaker=breaker or RedisBreaker(),  # one per client, shared by its connections
    )
    return client


class _OneClientChannel(kombu_redis.Channel):
    """kombu's Redis channel, keeping one ``redis.Redis`` for its publishes.

    kombu builds a new client for every publish and every event it sends (``conn_or_acquire``),
    and redis-py fills a callback table of some 170 commands for each: about 0.3 ms of CPU, twice
    per enqueue (docs/PERFORMANCE.md §3). A client is thread-safe and takes its connections from
    the channel's pool, so one per channel (rebuilt if the pool is) does the same work.
    """

    _one_client: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        if self._one_client is None or self._one_client.connection_pool is not pool:
            self._one_client = self._create_client()  # type: ignore[no-untyped-call]  # kombu leaves it untyped
        yield self._one_client


class OneClientTransport(kombu_redis.Transport):
    """The Redis transport with :class:`_OneClientChannel` (the API's publisher only)."""

    Channel = _OneClientChannel


def celery_publish_options(conf: Any) -> dict[str, Any]:
    """Overrides for the API's Celery app: a hung broker fails the publish in seconds, not 12+.

    The transport options are merged, never replaced (the visibility timeout stays one fact).
    The API never reads a task's result (a sync's truth is its audit rows), so its app has no
    result backend: Redis's would SUBSCRIBE to every task's result channel on sending it and
    UNSUBSCRIBE after, two round trips per enqueue for nothing. The workers store results
    as before; this is the API's app only. On a ``redis://`` broker it publishes through
    :class:`OneClientTransport`.
    """
    transport = dict(conf.broker_transport_options or {})
    transport.update(socket_timeout=REDIS_READ_TIMEOUT_S, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S)
    url = str(conf.broker_write_url or conf.broker_url or "")
    one_client = {"broker_transport": f"{__name__}:OneClientTransport"} if url.startswith("redis://") else {}
    return {
        **one_client,
        "broker_connection_timeout": REDIS_CONNECT_TIMEOUT_S,
        "broker_connection_retry": False,
        "broker_connection_max_retries": 0,
        "task_publish_retry": False,
        "broker_transport_options": transport,
        "result_backend": "disabled",
    }


class BusyLimit:
    """At most ``permits`` requests inside dependency-touching handlers; the next waits or is refused.

    It waits (at most ``wait_s``) while every handler inside is younger than ``slow_s``, and is
    refused as soon as one is older: a hung dependency is answered at once, so the waiting
    requests that hold a thread cannot keep ``/health`` waiting for longer than ``slow_s``.
    ``permits`` is None until the server says how many threads it has (:func:`reserve_one_thread`);
    the Flask development server and the test client are not limited.
    """

    def __init__(self, *, wait_s: float = BUSY_WAIT_S, slow_s: float = SLOW_HANDLER_S) -> None:
        self.permits: int | None = None
        self.wait_s, self.slow_s = wait_s, slow_s
        self._semaphore: threading.BoundedSemaphore | None = None
        self._entered: dict[int, float] = {}  # thread id -> when its request entered

    def resize(self, threads: int) -> None:
        self.permits = max(1, threads - 1)
        self._semaphore = threading.BoundedSemaphore(self.permits)

    def try_enter(self) -> bool:
        if self._semaphore is None:
            return True
        deadline = time.monotonic() + self.wait_s
        while not self._semaphore.acquire(timeout=_BUSY_POLL_S):
            now = time.monotonic()
            if now >= deadline or self._oldest_s(now) > self.slow_s:
                return False
        self._entered[threading.get_ident()] = time.monotonic()
        return True

    def leave(self) -> None:
        if self._semaphore is not None:
            self._entered.pop(threading.get_ident(), None)
            self._semaphore.release()

    def _oldest_s(self, now: float) -> float:
        return max((now - t for t in list(self._entered.values())), default=0.0)


def reserve_one_thread(flask_app: Any, threads: int) -> None:
    """Called by the gunicorn worker once the app is loaded: keep one of its threads for probes."""
    services = getattr(flask_app, "extensions", {}).get("pims_sync")
    if services is not None:  # not gunicorn's stand-in app that reports a load error
        services.busy.resize(threads)
