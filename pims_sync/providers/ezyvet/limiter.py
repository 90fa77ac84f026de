"""A token bucket in Redis, shared by every worker, taken **before** a call is sent.

ezyVet allows 60 calls a minute per endpoint and 180 per site (EZYVET_FACTS.md §8). Workers of
one site share its buckets: a Lua script refills them by Redis's own clock (``TIME``), then takes
one token from every bucket of the call, or from none and answers how long to wait. Buckets hold
``headroom`` fewer tokens than the published limit, so calls that reach ezyVet in a different
order or spacing than they left (network jitter) still stay under its count.

The waiting is counted (``waited_s``) so a sync can report how long the limiter held it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from ... import metrics
from ...errors import QueueUnavailable

# KEYS: bucket keys; ARGV: capacity_1, rate_per_ms_1, capacity_2, ... -> 0 (taken) or ms to wait
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, levels = 0, {}
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(v[1]) or cap, tonumber(v[2]) or now
  tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
  levels[i] = tokens
  if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) / rate)) end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(cap / rate) + 1000)
end
return 0
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    capacity: int
    per_s: float  # the capacity refills over this many seconds

    @property
    def rate_per_ms(self) -> float:
        return self.capacity / (self.per_s * 1000)


class _Waits:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waited_s = 0.0
        self.calls = 0

    def add(self, waited: float) -> None:
        with self.lock:
            self.waited_s += waited
            self.calls += 1


class RedisRateLimiter:
    """``acquire(buckets)`` blocks until every bucket gave a token (or ``max_wait_s`` passes)."""

    def __init__(self, client: redis.Redis, *, max_wait_s: float = 300.0, sleep: Callable[[float], None] = time.sleep):
        self.client, self.max_wait_s, self._sleep = client, max_wait_s, sleep
        self._take = client.register_script(_TAKE)
        self._waits = _Waits()

    def __repr__(self) -> str:
        return f"RedisRateLimiter(waited_s={self.waited_s:.1f})"

    @property
    def waited_s(self) -> float:
        return self._waits.waited_s

    def acquire(self, buckets: Sequence[Bucket]) -> float:
        """Seconds waited. QueueUnavailable when Redis cannot answer (we never send unthrottled)."""
        started, slept = time.monotonic(), False
        args: list[float | int | str] = []
        for b in buckets:
            args += [b.capacity, repr(b.rate_per_ms)]
        while True:
            try:
                wait_ms = int(self._take(keys=[b.key for b in buckets], args=args))
            except redis.exceptions.RedisError as e:
                raise QueueUnavailable(f"the rate limiter (Redis) could not answer ({e.__class__.__name__})") from e
            if wait_ms <= 0:
                break
            if time.monotonic() - started + wait_ms / 1000 > self.max_wait_s:
                raise QueueUnavailable(f"the rate limiter held a call for more than {self.max_wait_s:.0f} s")
            self._sleep(wait_ms / 1000)
            slept = True
        waited = time.monotonic() - started if slept else 0.0  # a token taken at once is no wait
        self._waits.add(waited)
        if slept:  # only real holds: a call that got its token at once is no wait
            metrics.RATE_LIMIT_WAIT.labels("ezyvet").observe(waited)
        return waited


class LocalRateLimiter:
    """The same buckets in this process only (scripts and unit tests without Redis)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._levels: dict[str, tuple[float, float]] = {}
        self._waits = _Waits()

    @property
    def waited_s(self) -> float:
        return self._waits.waited_s

    def acquire(self, buckets: Sequence[Bucket]) -> float:
        started, slept = self._clock(), False
        while True:
            with self._lock:
                now, wait, levels = self._clock(), 0.0, []
                for b in buckets:
                    tokens, ts = self._levels.get(b.key, (float(b.capacity), now))
                    tokens = min(b.capacity, tokens + (now - ts) * b.capacity / b.per_s)
                    levels.append(tokens)
                    if tokens < 1:
                        wait = max(wait, (1 - tokens) * b.per_s / b.capacity)
                if wait == 0:
                    for b, tokens in zip(buckets, levels, strict=True):
                        self._levels[b.key] = (tokens - 1, now)
                    break
            self._sleep(wait)
            slept = True
        waited = self._clock() - started if slept else 0.0
        self._waits.add(waited)
        if slept:
            metrics.RATE_LIMIT_WAIT.labels("ezyvet").observe(waited)
        return waited
