"""A broker (Redis) restart in the middle of a phase: tell it apart from a bug, and retry the phase.

Redis is the broker, the result backend, the clinic lock and the session cache. When it restarts
mid-phase, whatever the phase was asking Redis at that moment fails with redis-py's
``ConnectionError``, which :class:`~pims_sync.sync.runner.PhaseRunner` records as a crash
("internal error (ConnectionError)"). The server's ``run_id`` (``INFO server``) changes on every
start, so comparing it before and after the phase says whether that crash was the broker going
away: then the phase is put back to ``queued`` with :data:`BROKER_RESTARTED` and retried through
Celery (which keeps the chain), once the broker answers again (a broker that was only
unreachable, same run id, is retried the same way with :data:`BROKER_AWAY`). Writes are idempotent, so running
the phase again creates no duplicates.
"""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)

BROKER_RESTARTED = "the broker restarted during the phase; retrying"
BROKER_AWAY = "the broker was unreachable during the phase; retrying"
BROKER_WAITING = "the broker went away during the phase; waiting for it to retry the phase"
BROKER_GONE = "the broker went away during the phase and did not come back in time"
BROKER_RETRIES = 3  # restarts survived by one phase before it is failed for good
BROKER_WAIT_S = 60.0  # how long a finished phase waits for the broker to come back
RETRY_COUNTDOWN_S = 1


def broker_identity(client: redis.Redis) -> str | None:
    """The Redis server's run id (new on every start), or None when it does not answer."""
    try:
        return str(client.info("server").get("run_id") or "") or None
    except (redis.RedisError, OSError):
        return None


def retry_reason(client: redis.Redis, before: str | None, *, on_hold=None, wait_s: float = BROKER_WAIT_S,
                 poll_s: float = 0.5) -> str | None:
    """Why a crashed phase should run again, or None when the crash was not the broker's doing.

    ``before`` is the broker's run id when the phase started (None: the phase started without a
    broker, so the crash cannot be blamed on a restart during it). A broker that does not answer
    now is waited for (``on_hold()`` is called first, so the audit can say so meanwhile) up to
    ``wait_s``: a new run id is a restart, the same one a broker that was only unreachable.
    """
    if before is None:
        return None
    now = broker_identity(client)
    if now is not None:
        return BROKER_RESTARTED if now != before else None
    if on_hold is not None:
        on_hold()
    deadline = time.monotonic() + wait_s
    while now is None:
        if time.monotonic() >= deadline:
            log.error("the broker did not answer within %g s of the phase's end", wait_s)
            return None
        time.sleep(poll_s)
        now = broker_identity(client)
    return BROKER_RESTARTED if now != before else BROKER_AWAY


def give_up_message(retries: int) -> str:
    return f"the broker restarted during the phase {retries + 1} times; not retrying it again"
