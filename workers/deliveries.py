"""The redelivery cap: a message that keeps killing its worker is failed, not looped forever.

With ``task_acks_late`` and ``task_reject_on_worker_lost`` a task whose worker process dies is
put back on the queue — right for a crash, fatal for a poison task (a page that makes Chromium
eat all memory, a segfault): it would kill worker after worker. Celery keeps no delivery count
for the Redis transport, so each delivery counts itself here, before any work, in Redis (shared
by every worker); the one past the cap records the failure and runs nothing.
"""

from __future__ import annotations

import redis


class DeliveryCounter:
    def __init__(self, client: redis.Redis, *, cap: int, ttl_s: int = 7 * 86_400, prefix: str = "pims:deliveries:"):
        self.client, self.cap, self.ttl_s, self.prefix = client, cap, ttl_s, prefix

    def __repr__(self) -> str:
        return f"DeliveryCounter(cap={self.cap})"

    def key(self, delivery_id: str) -> str:
        return f"{self.prefix}{delivery_id}"

    def record(self, delivery_id: str) -> int:
        """Count one more delivery of this message; returns how many there have been."""
        pipe = self.client.pipeline()
        pipe.incr(self.key(delivery_id))
        pipe.expire(self.key(delivery_id), self.ttl_s)
        count, _ = pipe.execute()
        return int(count)

    def exceeded(self, count: int) -> bool:
        return count > self.cap

    def forget(self, delivery_id: str) -> None:
        """The message was handled (acked): its count no longer matters."""
        self.client.delete(self.key(delivery_id))


def delivery_id(task_id: str | None, retries: int = 0) -> str:
    """A retry is a new message with the same task id: count it separately."""
    return f"{task_id or 'unknown'}:{retries}"
