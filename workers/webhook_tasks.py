"""Webhook delivery tasks: queued when a sync ends, retried from a stored ``next_attempt_at``.

Retries are not Celery countdowns: Redis redelivers a long-countdown message after the
visibility timeout, and a receiver would get it twice. Each failed attempt stores its next time;
beat sends the sweep every few seconds, and the sweep sends a delivery task for each due row.
A delivery task claims its row first (workers never send the same attempt twice) and runs on the
``default`` queue with short timeouts, so a slow or dead receiver never holds up a sync. The
message id (``webhook-id``) is the delivery's, the same on every attempt.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task

from pims_sync import metrics
from pims_sync.models import Audit
from pims_sync.sync.results import utc_timestamp
from pims_sync.sync.runner import mark_not_run
from pims_sync.webhooks import (
    DELIVER_TASK,
    EVENT_FOR_STATUS,
    SWEEP_TASK,
    next_delay,
    post_once,
    signed_headers,
)
from pims_sync.webhooks.policy import LEASE_S

from .enqueue import DEFAULT_QUEUE, TERMINAL, sync_result
from .runtime import WorkerRuntime, runtime

log = logging.getLogger(__name__)


def build_payload(store, root: Audit, event: str) -> dict[str, Any]:
    """Standard Webhooks' envelope; ``data`` is the seed's full-sync shape plus ids, type and status."""
    data = sync_result(store, root) | {"syncId": root.id, "clinicId": root.clinic_id,
                                       "syncType": root.sync_type, "status": root.status}
    return {"type": event, "timestamp": utc_timestamp(), "data": data}


def sync_ended(rt: WorkerRuntime, root: Audit) -> list[str]:
    """Queue one delivery per subscribed endpoint and send its first attempt now."""
    event = EVENT_FOR_STATUS.get(root.status)
    store = rt.store
    if event is None or not getattr(store, "supports_webhooks", False):
        return []
    ids = store.queue_webhook_deliveries(clinic_id=root.clinic_id, sync_id=root.id, event=event,
                                         payload=build_payload(store, root, event))
    for delivery_id in ids:
        deliver.apply_async(kwargs={"delivery_id": delivery_id}, queue=DEFAULT_QUEUE)
    return ids


SWEPT_KEY = "pims:webhooks:swept:"  # + sync id: this sync's sweep follow-up ran (metrics, webhooks)
SWEPT_TTL_S = 7 * 86_400


def syncs_swept(rt: WorkerRuntime, *, reason: str, within_s: float) -> list[str]:
    """Syncs the stale-audit sweep just failed: count them and queue their ``sync.failed`` webhooks.

    No worker reports these (it was lost), so housekeeping does what the worker would have: a full
    sync's phases that never started are marked ``not_run`` (as when a phase fails), then the sync
    is counted and its webhooks queued. Once per sync: a Redis marker guards the metrics, and a
    delivery is unique per endpoint and sync. Returns the ids of the deliveries queued.
    """
    queued: list[str] = []
    for root in rt.store.swept_syncs(reason=reason, within_s=within_s):
        if not rt.redis.set(SWEPT_KEY + root.id, "1", nx=True, ex=SWEPT_TTL_S):
            continue  # an earlier sweep (or an overlapping one) handled it
        if root.sync_type == "full":
            rest = [a.id for a in rt.store.child_audits(root.id) if a.status not in TERMINAL]
            mark_not_run(rt.store, rest, f"not run: {reason}")
        metrics.observe_sync(provider=rt.clinic_provider(root.clinic_id), sync_type=root.sync_type,
                             outcome=root.status, duration_ms=root.duration_ms)
        queued += sync_ended(rt, root)
    return queued


@shared_task(name=DELIVER_TASK, acks_late=True)
def deliver(delivery_id: str) -> dict[str, Any]:
    """One attempt of one delivery, if it is due and still ours; the result names no secret."""
    rt = runtime()
    claimed = rt.store.claim_webhook_delivery(delivery_id, lease_s=LEASE_S)
    if claimed is None:
        return {"deliveryId": delivery_id, "outcome": "not_due"}
    delivery, endpoint = claimed
    secret = rt.cipher.decrypt(endpoint.secret_encrypted, key_id=endpoint.encryption_key_id)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = signed_headers(secret, msg_id=delivery.msg_id, timestamp=int(time.time()), body=body)
    result = post_once(endpoint.url, body=body, headers=headers, allow_private=rt.settings.webhook_allow_private)
    delay = None if result.ok else next_delay(delivery.attempts, rt.settings.webhook_retry_delays_s)
    next_at = datetime.now(UTC) + timedelta(seconds=delay) if delay is not None else None
    disabled = rt.store.record_webhook_attempt(
        delivery, status_code=result.status_code, error=result.error, latency_ms=result.latency_ms,
        next_attempt_at=next_at, disable_after=rt.settings.webhook_disable_after)
    outcome = "delivered" if result.ok else ("retrying" if next_at else "failed")
    metrics.WEBHOOK_DELIVERIES.labels(delivery.event, outcome).inc()
    if disabled:
        metrics.WEBHOOK_DISABLED.inc()
        log.warning("webhook %s of clinic %s disabled after %d failed attempts in a row; re-enable it with "
                    "`pims-sync webhooks enable %s`", endpoint.id, endpoint.clinic_id,
                    rt.settings.webhook_disable_after, endpoint.id)
    if not result.ok:
        log.info("webhook delivery %s attempt %d: %s", delivery.id, delivery.attempts, result.error)
    return {"deliveryId": delivery.id, "attempt": delivery.attempts, "statusCode": result.status_code,
            "outcome": outcome, "latencyMs": result.latency_ms}


@shared_task(name=SWEEP_TASK)
def sweep() -> dict[str, Any]:
    """Send a delivery task for every due delivery (retries, and leases of lost workers)."""
    rt = runtime()
    if not getattr(rt.store, "supports_webhooks", False):
        return {"queued": 0}
    due = rt.store.due_webhook_deliveries()
    for delivery_id in due:
        deliver.apply_async(kwargs={"delivery_id": delivery_id}, queue=DEFAULT_QUEUE)
    return {"queued": len(due)}
