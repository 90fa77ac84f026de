"""Webhook policy, pure: which event a sync status raises, the retry schedule, task names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import ValidationError

EVENTS = ("sync.completed", "sync.failed", "sync.partial")
# a sync's final status -> the event it raises; skipped and not_run raise none (nothing ran)
EVENT_FOR_STATUS = {"completed": "sync.completed", "failed": "sync.failed", "aborted": "sync.failed",
                    "partial": "sync.partial"}
# seconds to wait after each failed attempt: 8 attempts over about 26 hours (as Svix does)
DEFAULT_RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
# how often beat sweeps for due deliveries, and the task names (the `default` queue's prefix)
SWEEP_INTERVAL_S = 15.0
SWEEP_TASK = "pims_sync.housekeeping.webhooks_sweep"
DELIVER_TASK = "pims_sync.housekeeping.webhooks_deliver"
LEASE_S = 120  # a claimed delivery whose worker died is retried after this
TIMEOUT_S = (5.0, 10.0)  # connect, read: a slow receiver holds a default-queue slot no longer
MAX_RESPONSE_BYTES = 4096  # read (and drop) at most this much of a receiver's answer


def next_delay(attempts_done: int, delays: Sequence[int] = DEFAULT_RETRY_DELAYS_S) -> int | None:
    """Seconds until the next attempt after ``attempts_done`` failed ones; None: give up."""
    if attempts_done < 1 or attempts_done > len(delays):
        return None
    return int(delays[attempts_done - 1])


def parse_events(values: Iterable[str] | None) -> tuple[str, ...]:
    """Event names, checked and de-duplicated; empty or None means all of them."""
    chosen: list[str] = []
    for raw in values or ():
        for name in str(raw).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in EVENTS:
                raise ValidationError(f"unknown webhook event {name!r}; use {', '.join(EVENTS)}")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen) or EVENTS


def parse_delays(text: str | None) -> tuple[int, ...]:
    """``WEBHOOK_RETRY_DELAYS_S``: comma-separated seconds; raises ValueError when malformed."""
    if text is None or not text.strip():
        return DEFAULT_RETRY_DELAYS_S
    delays = tuple(int(part.strip()) for part in text.split(","))
    if not delays or any(d < 0 or d > 7 * 86_400 for d in delays):
        raise ValueError("delays out of range")
    return delays
