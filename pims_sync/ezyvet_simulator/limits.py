"""ezyVet's throttle as the simulator plays it: 60 calls/min per endpoint, 180/min per site.

EZYVET_FACTS.md §8 gives the numbers (aggregator-transcribed), not the algorithm: we play a token
bucket per (site, endpoint) and per site, full at start, refilled continuously at limit/60 per
second. A call takes one token from both or neither; without both it is a 429 whose
``x-ratelimit-reset`` says how many seconds until it would pass.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class Throttle:
    def __init__(self, *, per_endpoint: int = 60, per_site: int = 180, per_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_endpoint, self.per_site, self.per_s, self.clock = per_endpoint, per_site, per_s, clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _level(self, key: tuple[str, str], capacity: int, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(capacity), now)
        b.tokens = min(float(capacity), b.tokens + (now - b.at) * capacity / self.per_s)
        b.at = now
        return b

    def take(self, site: str, endpoint: str) -> tuple[bool, dict[str, str]]:
        """(allowed, the x-ratelimit-* headers of the per-endpoint bucket)."""
        with self._lock:
            now = self.clock()
            ep = self._level((site, endpoint), self.per_endpoint, now)
            st = self._level((site, "*"), self.per_site, now)
            allowed = ep.tokens >= 1 and st.tokens >= 1
            if allowed:
                ep.tokens -= 1
                st.tokens -= 1
            short = max((1 - ep.tokens) * self.per_s / self.per_endpoint if ep.tokens < 1 else 0.0,
                        (1 - st.tokens) * self.per_s / self.per_site if st.tokens < 1 else 0.0)
            headers = {"x-ratelimit-limit": str(self.per_endpoint),
                       "x-ratelimit-remaining": str(int(min(ep.tokens, st.tokens))),
                       "x-ratelimit-reset": str(math.ceil(short)) if not allowed else "0"}
            return allowed, headers

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
