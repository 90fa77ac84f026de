"""Queue depth (priority lists included) and in-flight syncs, read from a real Redis at scrape time."""

from __future__ import annotations

import secrets

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pims_sync import metrics


def test_queue_depth_counts_priority_lists_and_in_flight_counts_claims(redis_url):
    client = redis.Redis.from_url(redis_url)
    queue, prefix = f"h9q-{secrets.token_hex(3)}", f"h9:inflight:{secrets.token_hex(3)}:"
    try:
        client.rpush(queue, "a", "b")
        client.rpush(queue + metrics.PRIORITY_SEP + "6", "c")
        client.set(prefix + "clinic-1", "sync-1")
        collector = metrics.RedisStateCollector(client, queues=(queue, "h9-empty"), inflight_prefix=prefix)
        found = {(s.name, tuple(s.labels.values())): s.value for family in collector.collect() for s in family.samples}
        assert found == {("pims_sync_queue_depth", (queue,)): 3, ("pims_sync_queue_depth", ("h9-empty",)): 0,
                         ("pims_sync_syncs_in_flight", ()): 1}
        nowhere = redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        down = metrics.RedisStateCollector(nowhere, queues=(queue,))
        assert list(down.collect()) == []  # Redis down: no gauges rather than wrong ones
    finally:
        client.delete(queue, queue + metrics.PRIORITY_SEP + "6", prefix + "clinic-1")
        client.close()
