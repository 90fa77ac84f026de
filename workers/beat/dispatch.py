"""Dispatching one due slot of one clinic entry: dedupe, enqueue, or audit the skip.

The per-slot key (``SET NX``) is taken before anything is enqueued, so two beats that both
believe they are active (a split-brain after a pause) send a slot once between them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from celery import Celery

from pims_sync import metrics
from pims_sync.errors import PimsSyncError, SyncInProgress
from pims_sync.schedules import ScheduleEntrySpec, slot_key
from pims_sync.store.base import Store
from pims_sync.sync.options import SyncOptions, SyncType

from ..enqueue import InFlight, enqueue_sync

log = logging.getLogger("workers.beat")
SLOT_PREFIX = "pims:beat:slot:"

ENQUEUED, DUPLICATE, SKIPPED, FAILED = "enqueued", "duplicate", "skipped", "failed"


def dispatch_slot(*args: Any, **kwargs: Any) -> str:
    """Send the clinic's sync for ``slot`` once; returns enqueued | duplicate | skipped | failed.

    Each outcome is counted (``pims_sync_beat_dispatches_total{outcome}``, docs/METRICS.md).
    """
    outcome = _dispatch_slot(*args, **kwargs)
    metrics.BEAT_DISPATCHES.labels(outcome).inc()
    return outcome


def _dispatch_slot(
    celery_app: Celery,
    store: Store,
    inflight: InFlight,
    client: redis.Redis,
    *,
    spec: ScheduleEntrySpec,
    slot: datetime,
    inflight_ttl_s: int,
    dedupe_ttl_s: int,
    owner: str = "beat",
) -> str:
    key = SLOT_PREFIX + slot_key(spec.clinic_id, spec.type, slot)
    if not client.set(key, owner, nx=True, ex=max(60, dedupe_ttl_s)):
        log.info("beat: %s slot %s was already dispatched; not sending it twice", spec.name, slot.isoformat())
        return DUPLICATE
    sync_type = SyncType.parse(spec.type)  # the schedule says "reconciliation"
    try:
        enqueued = enqueue_sync(
            celery_app,
            store,
            inflight,
            clinic_id=spec.clinic_id,
            sync_type=sync_type,
            options=SyncOptions(),
            trigger="schedule",
            ttl_s=inflight_ttl_s,  # Settings.inflight_ttl_s; the task that ends the sync releases it
        )
    except SyncInProgress as e:
        reason = f"skipped: the clinic is already syncing (sync {e.sync_id})"
        try:
            audit = store.create_audit(clinic_id=spec.clinic_id, sync_type=spec.type, trigger="schedule")
            store.finish_audit(audit.id, status="skipped", error=reason)
        except PimsSyncError as err:
            log.error(
                "beat: %s slot %s: %s; and the skip could not be audited: %s", spec.name, slot, reason, err
            )
            return SKIPPED
        log.info("beat: %s slot %s %s; audited as %s", spec.name, slot.isoformat(), reason, audit.id)
        return SKIPPED
    except PimsSyncError as e:
        log.error("beat: %s slot %s could not be enqueued: %s", spec.name, slot.isoformat(), e)
        return FAILED
    log.info("beat: %s slot %s: enqueued sync %s", spec.name, slot.isoformat(), enqueued.sync_id)
    return ENQUEUED
