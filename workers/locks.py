"""Token locks in Redis: per-clinic single-flight and the short login lock.

A lock is one key whose value is ``"<owner> <token>"``: the owner (a sync id) is readable by
anyone, so a refused caller learns which sync holds the clinic; the random token makes release
and renewal compare-and-act, so a worker whose lock expired can never free someone else's.
A holder killed with SIGKILL stops renewing, and the key frees itself within the TTL.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from types import TracebackType

import redis

log = logging.getLogger(__name__)

# The only compare-and-act Lua in the project: every lock (clinic single-flight, login, beat's one-active lock,
# the enqueue claim) and the session cache's delete-if-unchanged act through these two.
# KEYS[1] = key, ARGV[1] = the holder's exact value: act only while we still own the key.
COMPARE_AND_DELETE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)
COMPARE_AND_EXTEND = (  # ARGV[2] = the new TTL in milliseconds
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class TokenLock:
    """One Redis key with a TTL, owned by whoever holds its exact value.

    By default the value is ``"<owner> <random token>"``; ``value=`` gives it verbatim for locks
    whose value is itself the token (beat's holder name, the enqueue claim's sync id).
    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        ttl_s: float,
        owner: str = "-",
        value: str | bytes | None = None,
    ):
        if " " in owner:
            raise ValueError("a lock owner must not contain spaces")
        self.client, self.key, self.ttl_s, self.owner = client, key, ttl_s, owner
        self.value: str | bytes = f"{owner} {secrets.token_hex(16)}" if value is None else value
        self._release = client.register_script(COMPARE_AND_DELETE)
        self._renew = client.register_script(COMPARE_AND_EXTEND)
        self._renewer: _Renewer | None = None

    @classmethod
    def held(cls, client: redis.Redis, key: str, value: str | bytes) -> TokenLock:
        """A handle on a key someone set to ``value``: ``release()`` deletes it only if unchanged."""
        return cls(client, key, ttl_s=0, value=value)

    def __repr__(self) -> str:
        return f"TokenLock({self.key!r}, owner={self.owner!r}, ttl_s={self.ttl_s})"

    def acquire(self, *, wait_s: float = 0.0, poll_s: float = 0.1) -> bool:
        """Take the lock, waiting up to ``wait_s`` for the holder to release or expire."""
        deadline = time.monotonic() + wait_s
        while True:
            if self.client.set(self.key, self.value, nx=True, px=int(self.ttl_s * 1000)):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def renew(self) -> bool:
        """Push the expiry out again; False means the lock was lost (expired and maybe taken)."""
        return bool(self._renew(keys=[self.key], args=[self.value, int(self.ttl_s * 1000)]))

    def release(self) -> bool:
        self.stop_renewing()
        return bool(self._release(keys=[self.key], args=[self.value]))

    def holder(self) -> str | None:
        """The owner of whoever holds the key now (e.g. the running sync id), or None."""
        return owner_of(self.client, self.key)

    def owned(self) -> bool:
        current = self.client.get(self.key)
        return current is not None and _bytes(current) == _bytes(self.value)

    # --- renewal while a long job runs ----------------------------------------------------------

    def start_renewing(self, *, every_s: float | None = None) -> None:
        """Renew from a daemon thread every ttl/3 so a slow sync keeps its lock."""
        if self._renewer is None:
            self._renewer = _Renewer(self, every_s or max(0.5, self.ttl_s / 3))
            self._renewer.start()

    def stop_renewing(self) -> None:
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = None

    @property
    def lost(self) -> bool:
        return bool(self._renewer and self._renewer.lost)

    def __enter__(self) -> TokenLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.release()
        except redis.exceptions.RedisError as e:  # the TTL frees it anyway
            log.warning("could not release %s: %s", self.key, e.__class__.__name__)


class _Renewer(threading.Thread):
    def __init__(self, lock: TokenLock, every_s: float):
        super().__init__(name=f"renew:{lock.key}", daemon=True)
        self.lock, self.every_s = lock, every_s
        self._stop_event = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            try:
                if not self.lock.renew():
                    self.lost = True
                    log.error("lock %s was lost (expired before renewal)", self.lock.key)
                    return
            except redis.exceptions.RedisError as e:  # keep trying: the TTL still has time left
                log.warning("lock %s renewal failed: %s", self.lock.key, e.__class__.__name__)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)


def owner_of(client: redis.Redis, key: str) -> str | None:
    value = _text(client.get(key))
    return value.split(" ", 1)[0] if value else None


def clinic_lock_key(clinic_id: str) -> str:
    return f"pims:lock:clinic:{clinic_id}"


def clinic_lock(client: redis.Redis, clinic_id: str, *, sync_id: str, ttl_s: float) -> TokenLock:
    """The per-clinic single-flight lock, owned by the sync that runs."""
    return TokenLock(client, clinic_lock_key(clinic_id), ttl_s=ttl_s, owner=sync_id)


def running_sync(client: redis.Redis, clinic_id: str) -> str | None:
    """The sync id currently holding the clinic, if any."""
    return owner_of(client, clinic_lock_key(clinic_id))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
