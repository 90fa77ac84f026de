"""Rate-limiter holds and missed beat slots are counted (real Redis for the shared limiter)."""

from __future__ import annotations

import secrets

import redis

from pims_sync import metrics
from pims_sync.providers.ezyvet.limiter import Bucket, RedisRateLimiter


def waits_observed() -> float:
    child = metrics.RATE_LIMIT_WAIT.labels("ezyvet")
    return sum(b.get() for b in child._buckets)


def test_the_shared_limiter_counts_only_the_calls_it_held(redis_url):
    client = redis.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, max_wait_s=30)
    bucket = Bucket(key=f"test:limiter:{secrets.token_hex(4)}", capacity=1, per_s=0.3)  # one call per 0.3 s
    before = waits_observed()
    try:
        assert limiter.acquire([bucket]) == limiter.waited_s  # the first token is there: no hold
        assert waits_observed() == before
        held = limiter.acquire([bucket])  # the second waits for the refill
        assert held > 0.05
        assert waits_observed() == before + 1
    finally:
        client.delete(bucket.key)
        client.close()
