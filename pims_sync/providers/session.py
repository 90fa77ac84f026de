"""An in-process SessionCache for scripts and tests (workers use the Redis one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class InMemorySessionCache:
    """Cookies per clinic with a TTL, in this process only. Thread-safe; never prints values."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[dict[str, str], float]] = {}
        self._verified: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"InMemorySessionCache({len(self._entries)} clinics)"

    def get(self, clinic_id: str) -> dict[str, str] | None:
        with self._lock:
            entry = self._entries.get(clinic_id)
            if entry is None:
                return None
            cookies, expires = entry
            if self._clock() >= expires:
                del self._entries[clinic_id]
                self._verified.pop(clinic_id, None)
                return None
            return dict(cookies)

    def set(self, clinic_id: str, cookies: dict[str, str], ttl_s: float) -> None:
        with self._lock:
            self._entries[clinic_id] = (dict(cookies), self._clock() + ttl_s)
            self._verified.pop(clinic_id, None)

    def invalidate(self, clinic_id: str, cookies: dict[str, str] | None = None) -> None:
        with self._lock:
            entry = self._entries.get(clinic_id)
            if entry is not None and (cookies is None or entry[0] == cookies):
                del self._entries[clinic_id]
                self._verified.pop(clinic_id, None)

    def mark_verified(self, clinic_id: str, cookies: dict[str, str]) -> None:
        with self._lock:
            entry = self._entries.get(clinic_id)
            if entry is not None and entry[0] == cookies:
                self._verified[clinic_id] = dict(cookies)

    def is_verified(self, clinic_id: str, cookies: dict[str, str]) -> bool:
        with self._lock:
            return self._verified.get(clinic_id) == cookies
