"""Completion webhooks: signed (Standard Webhooks), delivered with retries, guarded against SSRF.

Pure parts: :mod:`.signing` (secrets, signatures), :mod:`.policy` (events, the retry schedule,
when to disable). I/O: :mod:`.urls` (resolving and refusing private addresses) and
:mod:`.delivery` (one bounded HTTP attempt). Storage is the store's (``pims_sync_webhooks*``
tables); the Celery tasks live in ``workers.webhook_tasks``. See docs/WEBHOOKS.md.
"""

from .delivery import AttemptResult, post_once
from .endpoints import register_endpoint, require_support
from .models import Delivery, WebhookEndpoint
from .policy import (
    DEFAULT_RETRY_DELAYS_S,
    DELIVER_TASK,
    EVENT_FOR_STATUS,
    EVENTS,
    SWEEP_INTERVAL_S,
    SWEEP_TASK,
    next_delay,
    parse_events,
)
from .signing import new_secret, sign, signed_headers
from .urls import WebhookUrlRefused, check_url

__all__ = [
    "AttemptResult", "DEFAULT_RETRY_DELAYS_S", "DELIVER_TASK", "Delivery", "EVENTS", "EVENT_FOR_STATUS",
    "SWEEP_INTERVAL_S", "SWEEP_TASK", "WebhookEndpoint", "WebhookUrlRefused", "check_url", "new_secret",
    "next_delay", "parse_events", "post_once", "register_endpoint", "require_support", "sign",
    "signed_headers",
]
