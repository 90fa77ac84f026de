"""X-API-Key authentication: lookup by sha256, constant-time check, tenancy, rate limiting.

A key bound to a clinic decides the clinic: a ``clinicId`` in the request may only repeat it.
A shared key (``clinic_id`` NULL, as the product's later migration left its keys) names the
clinic in the request, and is refused outright until an operator binds it to a clinic or grants
it clinics; it then reaches only those clinics (:func:`clinic_for`).

What a good key costs is kept off the network (docs/PERFORMANCE.md §3):

* **Lookups are cached in-process** for :data:`KEY_CACHE_S` (:class:`KeyCache`). Revocation still
  reaches every API process: ``pims-sync keys revoke`` (and bind, grant, revoke-grant) bump a
  version in Redis that each process reads at most every :data:`KEY_VERSION_CHECK_S`, so those
  take effect within that; a change made any other way (SQL, the product's screens) within
  :data:`KEY_CACHE_S`. Only found keys are cached, and the presented key is still compared with
  the stored hash in constant time on every request.
* **Failed keys are counted per client address in Redis** (every API process shares one limit),
  but a good key never asks Redis: each process remembers the blocks it has seen
  (:class:`FailureLimiter`). A process learns of a block from the count its own next failure
  returns, so past the limit an address gets at most one more try per API process per window —
  what concurrent requests could already get.
* ``last_used_at`` is written by a background thread in batches (:class:`LastUsedRecorder`).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from datetime import UTC, datetime
from typing import NoReturn

import redis
from flask import current_app, g, request

from pims_sync.apikeys import display_prefix, has_permissions, hash_api_key, verify_api_key
from pims_sync.errors import PimsSyncError, ValidationError
from pims_sync.models import ApiKeyRecord
from pims_sync.store.base import Store

from .errors import Forbidden, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)
HEADER = "X-API-Key"
MAX_KEY_LENGTH = 512
KEY_CACHE_S = 5.0  # the longest a key changed outside `pims-sync keys` is still honoured as it was
KEY_VERSION_CHECK_S = 0.5  # how often each API process reads KEYS_VERSION_KEY
KEYS_VERSION_KEY = "pims:apikeys:version"  # bumped by every `pims-sync keys` change
KEY_CACHE_MAX_ENTRIES = 10_000


class FailureLimiter:
    """Fixed-window count of failed keys per address; blocked at ``max_failures`` until the window ends.

    The count lives in Redis; the blocks a process has seen live in the process, so checking an
    address (:meth:`retry_after`) costs no round trip. Redis being down must not lock everyone
    out or turn auth into a 503, so the limiter fails open (and logs) while the key check itself
    still runs.
    """

    def __init__(self, client: redis.Redis, *, max_failures: int = 10, window_s: int = 60,
                 prefix: str = "pims:authfail:"):
        self.client, self.max_failures, self.window_s, self.prefix = client, max_failures, window_s, prefix
        self._blocked: dict[str, float] = {}  # address -> time.monotonic() when its window ends

    def retry_after(self, addr: str) -> int | None:
        """Seconds until the address may try again, or None when this process knows no block."""
        until = self._blocked.get(addr)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            self._blocked.pop(addr, None)
            return None
        return max(1, math.ceil(left))

    def record_failure(self, addr: str) -> int | None:
        """Count a failed key; the seconds to wait when this failure was already past the limit."""
        try:
            pipe = self.client.pipeline()
            pipe.incr(self.prefix + addr)
            pipe.expire(self.prefix + addr, self.window_s, nx=True)
            pipe.ttl(self.prefix + addr)
            count, _, ttl = pipe.execute()
        except redis.RedisError as e:
            log.warning("auth rate limiter unavailable (%s); failure not counted", e.__class__.__name__)
            return None
        if int(count) < self.max_failures:
            return None
        left = int(ttl) if ttl and int(ttl) > 0 else self.window_s
        self._remember(addr, time.monotonic() + left)
        return left if int(count) > self.max_failures else None

    def _remember(self, addr: str, until: float) -> None:
        if len(self._blocked) >= KEY_CACHE_MAX_ENTRIES:  # many addresses: keep the live blocks only
            now = time.monotonic()
            for old in [a for a, t in self._blocked.items() if t <= now]:
                self._blocked.pop(old, None)
        self._blocked[addr] = until


class KeyCache:
    """Key lookups by hash, cached in this process for ``ttl_s``, dropped when keys change.

    Two signals clear it: the store's own ``api_keys_version`` (a change made through this
    process's store, seen at once) and :data:`KEYS_VERSION_KEY` in Redis, read at most every
    ``check_s`` by whichever request comes first (a change made by ``pims-sync keys`` in
    another process). While Redis cannot be read nothing is cached: every lookup goes to the
    database until it can. Unknown keys are never cached (a flood of made-up keys cannot
    fill memory), and an entry fetched while the cache was being cleared is not kept.
    """

    def __init__(self, store: Store, client: redis.Redis, *, ttl_s: float = KEY_CACHE_S,
                 check_s: float = KEY_VERSION_CHECK_S, version_key: str = KEYS_VERSION_KEY,
                 max_entries: int = KEY_CACHE_MAX_ENTRIES):
        self.store, self.client, self.ttl_s, self.check_s = store, client, ttl_s, check_s
        self.version_key, self.max_entries = version_key, max_entries
        self._entries: dict[str, tuple[ApiKeyRecord, float]] = {}
        self._generation = 0
        self._store_version = self._local_version()
        self._remote_version: object = None
        self._remote_known = False  # False while Redis cannot be read: cache nothing
        self._next_check = 0.0
        self._check_lock = threading.Lock()

    def lookup(self, key_hash: str) -> ApiKeyRecord | None:
        now = time.monotonic()
        self._refresh(now)
        hit = self._entries.get(key_hash)
        if hit is not None and now - hit[1] < self.ttl_s:
            return hit[0]
        generation = self._generation
        record = self.store.find_api_key(key_hash)
        if record is not None and self.ttl_s > 0 and self._remote_known and generation == self._generation:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries), key_hash), None)  # the oldest
            self._entries[key_hash] = (record, now)
        return record

    def clear(self) -> None:
        self._generation += 1
        self._entries = {}

    def _local_version(self) -> int:
        return int(getattr(self.store, "api_keys_version", 0))

    def _refresh(self, now: float) -> None:
        local = self._local_version()
        if local != self._store_version:
            self._store_version = local
            self.clear()
        if now < self._next_check or not self._check_lock.acquire(blocking=False):
            return  # checked recently, or another thread is checking right now
        try:
            self._next_check = now + self.check_s
            try:
                remote = self.client.get(self.version_key)
            except redis.RedisError as e:
                log.warning("API key version unreadable (%s); key lookups go to the database",
                            e.__class__.__name__)
                self._remote_known = False
                self.clear()
                return
            if remote != self._remote_version or not self._remote_known:
                self._remote_version, self._remote_known = remote, True
                self.clear()
        finally:
            self._check_lock.release()


def bump_keys_version(client: redis.Redis) -> None:
    """Tell every API process that keys changed (:class:`KeyCache`); raises redis.RedisError."""
    client.incr(KEYS_VERSION_KEY)


class LastUsedRecorder:
    """Collects used key ids and writes ``last_used_at`` in one batch every ``interval_s``.

    The thread starts on first use in each process (gunicorn forks workers after import, and
    threads do not survive a fork), and flushes once more at exit.
    """

    def __init__(self, store: Store, *, interval_s: float = 5.0):
        self.store, self.interval_s = store, interval_s
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None
        self._stopped = False

    def record(self, key_id: str) -> None:
        with self._lock:
            if self._stopped:
                return
            self._pending.add(key_id)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="api-key-last-used", daemon=True).start()
                atexit.register(self.stop)

    def flush(self) -> int:
        with self._lock:
            ids, self._pending = sorted(self._pending), set()
        if not ids:
            return 0
        try:
            self.store.touch_api_keys(ids, datetime.now(UTC))
        except PimsSyncError as e:  # best effort: a missed touch is not worth failing anything
            log.warning("could not record API key use for %d key(s): %s", len(ids), e)
        return len(ids)

    def stop(self) -> None:
        """Flush what is pending and end the thread (at exit, or when an app is closed)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._wake.set()
        self.flush()
        atexit.unregister(self.stop)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval_s)
            if not self._stopped:
                self.flush()


class Authenticator:
    def __init__(self, store: Store, limiter: FailureLimiter, recorder: LastUsedRecorder,
                 cache: KeyCache | None = None):
        self.store, self.limiter, self.recorder = store, limiter, recorder
        self.cache = cache if cache is not None else KeyCache(store, limiter.client)

    def authenticate(self, presented: str | None, addr: str, *, now: datetime | None = None) -> ApiKeyRecord:
        """The active key record, or Unauthorized / TooManyRequests with a message saying why."""
        if presented is None or not presented.strip():
            raise Unauthorized(f"missing API key: send it in the {HEADER} header")
        wait = self.limiter.retry_after(addr)
        if wait is not None:
            raise _too_many(wait)
        record = None
        if len(presented) <= MAX_KEY_LENGTH:
            record = self.cache.lookup(hash_api_key(presented))
        if record is None or not verify_api_key(presented, record.key_hash):
            self._fail(addr, "unknown API key", presented)
        now = now or datetime.now(UTC)
        if not record.is_active:
            self._fail(addr, "this API key has been revoked", presented)
        if record.expires_at is not None and record.expires_at <= now:
            self._fail(addr, f"this API key expired at {record.expires_at.isoformat()}", presented)
        self.recorder.record(record.id)
        return record

    def _fail(self, addr: str, message: str, presented: str) -> NoReturn:
        wait = self.limiter.record_failure(addr)
        log.info("API key refused from %s (%s): %s", addr, display_prefix(presented), message)
        if wait is not None:
            raise _too_many(wait)
        raise Unauthorized(message)


def _too_many(wait: int) -> TooManyRequests:
    return TooManyRequests(
        f"too many failed API keys from this address; retry in {wait} s",
        details={"retryAfterSeconds": wait}, headers={"Retry-After": str(wait)},
    )


def permissions_for(needed: tuple[str, ...], record: ApiKeyRecord) -> None:
    if not has_permissions(record.permissions, needed):
        have = ", ".join(record.permissions or ()) or "none"
        missing = [p for p in needed if not has_permissions(record.permissions, [p])]
        raise Forbidden(
            f"this API key lacks permission {', '.join(missing)} (it has: {have})",
            details={"required": list(needed), "missing": missing},
        )


def _how_to_allow(key_id: str) -> str:
    return (f"an operator allows it by binding it to one clinic (`pims-sync keys bind {key_id} --clinic CLINIC_ID`) "
            f"or by granting it clinics (`pims-sync keys grant {key_id} --clinic CLINIC_ID [--clinic ...]`)")


def shared_key_allowed(record: ApiKeyRecord) -> None:
    """Refuse a shared key (no clinic) that no operator has granted any clinic: 403 saying how to allow it."""
    if record.clinic_id is None and not record.granted_clinic_ids:
        raise Forbidden(
            f"this API key is shared (it has no clinic) and shared keys are refused by default; "
            f"{_how_to_allow(record.id)}",
            details={"keyId": record.id, "keyPrefix": record.key_prefix, "reason": "shared_key_not_allowed"},
        )


def clinic_for(record: ApiKeyRecord, requested: str | None) -> str:
    """The clinic a request acts on. Nothing here lets a key reach a clinic it was not given.

    A bound key: its own clinic (``requested`` may only repeat it: 403 otherwise). A shared key:
    ``requested``, which it must name (400) and which must be among its granted clinics (403).
    """
    if record.clinic_id is not None:
        if requested is not None and requested != record.clinic_id:
            raise Forbidden(
                "clinicId is not this API key's clinic; a key can only act for its own clinic",
                details={"field": "clinicId"},
            )
        return record.clinic_id
    if requested is None:
        raise ValidationError(
            "this API key is shared: name the clinic with clinicId (in the JSON body, or ?clinicId= on a GET)",
            details={"errors": [{"field": "clinicId", "message": "is required with a shared API key"}]},
        )
    if requested not in record.granted_clinic_ids:
        raise Forbidden(
            f"this shared API key was not granted clinic {requested}; an operator grants it with "
            f"`pims-sync keys grant {record.id} --clinic {requested}`",
            details={"field": "clinicId", "reason": "clinic_not_granted"},
        )
    return requested


def allowed_clinics(record: ApiKeyRecord) -> tuple[str, ...]:
    """Every clinic the key may act on."""
    return (record.clinic_id,) if record.clinic_id is not None else tuple(record.granted_clinic_ids)


def authenticate_request(needed: tuple[str, ...] = ()) -> ApiKeyRecord:
    """Authenticate this request's X-API-Key and check ``needed``; sets and returns ``g.api_key``.

    A shared key nobody allowed is refused here, before validation, like a key without permission.
    """
    auth: Authenticator = current_app.extensions["pims_sync"].authenticator
    record = auth.authenticate(request.headers.get(HEADER), request.remote_addr or "unknown")
    shared_key_allowed(record)
    permissions_for(needed, record)
    g.api_key = record
    return record
