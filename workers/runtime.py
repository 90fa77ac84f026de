"""What a worker process holds: store, Redis, cipher, browser pool, session cache.

Everything here is created lazily in the process that uses it: the prefork parent imports this
module, but sockets, pools and browsers opened before the fork would be shared by every child
and corrupted, so :func:`reset_after_fork` drops whatever the parent had and each child opens
its own on first use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import redis

from pims_sync.config import Settings, get_settings
from pims_sync.credential_status import refusal_for
from pims_sync.crypto import CredentialCipher
from pims_sync.errors import ConfigError, PimsHostRefused
from pims_sync.models import CASE_SOURCE_IDEXX, Clinic, Credentials, external_id_for
from pims_sync.providers.build import ApiTokens, BrowserLogin, build_provider
from pims_sync.providers.registry import ProviderSpec

from .browser_pool import BrowserPool
from .deliveries import DeliveryCounter
from .session_cache import RedisSessionCache

log = logging.getLogger(__name__)


def shared_api_tokens(client: redis.Redis, cipher: CredentialCipher, settings: Settings) -> ApiTokens:
    """REST providers' OAuth tokens per site (in Redis, encrypted like sessions; one fetch per site
    at a time, under the cache's login lock) and the rate buckets of every process that calls the
    PIMS: workers and `pims-sync sync --local` alike."""
    from pims_sync.providers.ezyvet.limiter import RedisRateLimiter

    tokens = RedisSessionCache(client, cipher, ttl_s=14 * 86_400, prefix="pims:api-token:",
                               login_lock_ttl_s=60.0, login_wait_s=90.0)
    # the limiter waits in this process, not beyond a phase's time limit
    limiter = RedisRateLimiter(client, max_wait_s=max(1.0, settings.hard_time_limit_s / 4))
    return ApiTokens(token_cache=tokens, token_lock=tokens.login_lock, limiter=limiter)


class WorkerRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.pid = os.getpid()

    def __repr__(self) -> str:
        return f"WorkerRuntime(pid={self.pid})"

    @cached_property
    def store(self) -> Any:
        from pims_sync.store import open_store

        return open_store(self.settings)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.broker_url, health_check_interval=30)

    @cached_property
    def cipher(self) -> CredentialCipher:
        return CredentialCipher.from_settings(self.settings)

    @cached_property
    def browsers(self) -> BrowserPool:
        return BrowserPool(
            executable_path=self.settings.chromium_path,  # None: the pool's lookup (locate_chromium)
            headless=self.settings.headless,
            launch_timeout_ms=self.settings.browser_timeout_ms,
            idle_close_s=self.settings.browser_idle_close_s,
        )

    @cached_property
    def sessions(self) -> RedisSessionCache:
        return RedisSessionCache(
            self.redis,
            self.cipher,
            ttl_s=self.settings.session_ttl_s,
            login_lock_ttl_s=self.settings.browser_timeout_ms / 1000 * 3,
            login_wait_s=self.settings.browser_timeout_ms / 1000 * 4,
        )

    @cached_property
    def deliveries(self) -> DeliveryCounter:
        return DeliveryCounter(self.redis, cap=self.settings.max_task_deliveries)

    def credentials_loader(self, clinic_id: str, provider: str = "idexx") -> Callable[[], Credentials]:
        """Decrypts only when the provider must log in, inside this worker, never before."""

        def load() -> Credentials:
            stored = self.store.get_credentials(clinic_id, provider)
            refusal = refusal_for(clinic_id, stored.validation_status)
            if refusal is not None:  # the PIMS refused them last time: never another attempt
                raise refusal
            return self.cipher.decrypt_credentials(stored)

        return load

    @cached_property
    def shared_api_tokens(self) -> ApiTokens:
        return shared_api_tokens(self.redis, self.cipher, self.settings)

    def provider_credentials_loader(self, clinic_id: str, provider: str) -> Callable[[], dict[str, str]]:
        """A non-IDEXX provider's fields, decrypted inside this worker when first needed."""
        from pims_sync.store import unseal

        def load() -> dict[str, str]:
            stored = self.store.get_provider_credentials(clinic_id, provider)
            refusal = refusal_for(clinic_id, stored.validation_status)
            if refusal is not None:
                raise refusal
            return dict(unseal(self.cipher, stored).fields)

        return load

    def clinic_provider(self, clinic_id: str | None) -> str:
        """The clinic's PIMS, for metric labels; "unknown" when it cannot be read (a sync of a
        clinic deleted meanwhile still counts)."""
        if not clinic_id:
            return "unknown"
        try:
            return str(self.store.get_clinic(clinic_id).pims_provider)
        except Exception:
            return "unknown"

    def provider_for(self, clinic: Clinic) -> Any:
        """The provider clinics.pims_provider names (pims_sync/providers/build.py builds it, from
        this runtime's caches, locks, limiter and browsers).

        An unknown name, or a clinic host we must not send credentials to, gives a
        RefusedProvider: the phase then fails through its usual path naming the field.
        """
        try:
            return build_provider(clinic, self)
        except PimsHostRefused as refused:
            log.error("%s", refused)
            return RefusedProvider(refused)
        except ConfigError as refused:
            log.error("clinic %s: %s", clinic.id, refused)
            return RefusedProvider(refused, clinic_id=clinic.id)

    def browser_login(self, clinic_id: str) -> BrowserLogin:
        """An IDEXX provider's login: this process's browser pool (logins from any thread of a sync
        run on the pool's thread), the Redis session cache and the clinic's login lock."""
        return BrowserLogin(browser_source=self.browsers, session_cache=self.sessions,
                            login_lock=LoginLock(self.sessions, clinic_id))

    def api_tokens_for(self, spec: ProviderSpec) -> ApiTokens:
        """A REST provider's tokens and rate buckets, shared by every worker (shared_api_tokens)."""
        return self.shared_api_tokens

    def close(self) -> None:
        if os.getpid() != self.pid:
            return
        if "browsers" in self.__dict__:
            self.browsers.close()
        if "store" in self.__dict__:
            try:
                self.store.close()
            except Exception as e:
                log.debug("store close failed: %s", e.__class__.__name__)


class RefusedProvider:
    """Stands in for a provider whose clinic names a host we must not log in to.

    Every fetch raises the refusal, so the phase fails through the usual path (audit row, task
    result) with the message naming the clinic and IDEXX_EXTRA_HOSTS, and no credentials are
    ever decrypted or sent.
    """

    source = CASE_SOURCE_IDEXX

    def __init__(self, error: ConfigError, *, clinic_id: str | None = None):
        self.error = error
        self.clinic_id = clinic_id or getattr(error, "clinic_id", None)

    def __repr__(self) -> str:
        return f"RefusedProvider(clinic={self.clinic_id!r})"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    ensure_session = appointments = schedule_config = consultations = consultation = _refuse

    def __getattr__(self, name: str) -> Any:  # any other fetch a phase may call
        if name.startswith("_"):
            raise AttributeError(name)
        return self._refuse

    def external_id(self, appointment_id: str) -> str:
        return external_id_for(appointment_id)

    def close(self) -> None:
        pass


class LoginLock:
    """The provider's ``login_lock``: one login per clinic across threads, processes and hosts."""

    def __init__(self, sessions: RedisSessionCache, clinic_id: str):
        self.sessions, self.clinic_id = sessions, clinic_id
        self._local_lock = threading.Lock()
        self._held = threading.local()

    def __enter__(self) -> LoginLock:
        self._local_lock.acquire()
        try:
            cm = self.sessions.login_lock(self.clinic_id)
            cm.__enter__()
        except BaseException:
            self._local_lock.release()
            raise
        self._held.cm = cm
        return self

    def __exit__(self, *exc: Any) -> None:
        cm, self._held.cm = self._held.cm, None
        try:
            cm.__exit__(*exc)
        finally:
            self._local_lock.release()


_runtime: WorkerRuntime | None = None
_settings: Settings | None = None
_lock = threading.Lock()


def configure(settings: Settings) -> None:
    """The settings the worker app was built with (create_celery_app calls this)."""
    global _settings
    _settings = settings


def runtime() -> WorkerRuntime:
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = WorkerRuntime(_settings or get_settings())
        return _runtime


def reset_after_fork() -> None:
    """Forget the parent's resources without closing them (they are the parent's)."""
    global _runtime
    _runtime = None


def shutdown() -> None:
    global _runtime
    rt, _runtime = _runtime, None
    if rt is not None:
        rt.close()


@contextmanager
def installed(rt: WorkerRuntime) -> Iterator[WorkerRuntime]:
    """Use a given runtime (tests running tasks in-process)."""
    global _runtime
    previous, _runtime = _runtime, rt
    try:
        yield rt
    finally:
        _runtime = previous
