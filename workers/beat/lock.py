"""The one-active-beat lock: a Redis key with a token, a TTL and renewal.

Only the holder renews or releases (compare-and-set in Lua), so a beat that paused past the
TTL cannot extend or delete the lock a standby has taken since. A split-brain window (the
paused beat dispatching before it notices) is made harmless by the per-slot dedupe keys.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

DEFAULT_KEY = "pims:beat:lock"

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class BeatLock:
    def __init__(
        self, client: redis.Redis, *, ttl_s: float, key: str = DEFAULT_KEY, token: str | None = None
    ):
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        # names the holder in a standby's log line; no secrets in it
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits)."""
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend the TTL; False when the lock is no longer ours."""
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.token]))

    def holder(self) -> str | None:
        held = self.client.get(self.key)
        return held.decode() if isinstance(held, bytes) else held
