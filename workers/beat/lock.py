"""The one-active-beat lock: a :class:`~workers.locks.TokenLock` whose value names the beat.

Only the holder renews or releases (compare-and-act in Lua, in ``workers/locks.py``), so a beat
that paused past the TTL cannot extend or delete the lock a standby has taken since. A
split-brain window (the paused beat dispatching before it notices) is made harmless by the
per-slot dedupe keys.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

from ..locks import TokenLock

DEFAULT_KEY = "pims:beat:lock"


class BeatLock(TokenLock):
    def __init__(
        self, client: redis.Redis, *, ttl_s: float, key: str = DEFAULT_KEY, token: str | None = None
    ):
        # names the holder in a standby's log line; no secrets in it
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        super().__init__(client, key, ttl_s=ttl_s, value=self.token)

    def acquire(self, *, wait_s: float = 0.0, poll_s: float = 0.1) -> bool:
        """Take the lock if it is free (beat never waits: a standby ticks again soon)."""
        return super().acquire(wait_s=wait_s, poll_s=poll_s)

    def holder(self) -> str | None:
        """The whole value of the key (the holding beat's name), or None."""
        held = self.client.get(self.key)
        return held.decode() if isinstance(held, bytes) else held
