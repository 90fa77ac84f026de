"""The Celery tasks: three sync phases, two legacy IDEXX syncs, and housekeeping.

Tasks take ids and options only; credentials are loaded and decrypted inside the worker, and
only when a login is needed. Results are ids, statuses and counts — what Flower and the result
backend may keep. See workers/phase_task.py for the order of steps in a delivery.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from celery import shared_task
from kombu.exceptions import OperationalError

from celeryconfig import HOUSEKEEPING_TASK
from pims_sync.errors import PimsSyncError, SyncDisabled
from pims_sync.sync.legacy import consultation_sync, schedule_sync
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.results import PhaseResult
from pims_sync.sync.runner import PhaseRunner

from . import signals  # noqa: F401  (worker process lifecycle: browser cleanup)
from .broker_restart import (
    BROKER_GONE,
    BROKER_RETRIES,
    BROKER_WAITING,
    RETRY_COUNTDOWN_S,
    broker_identity,
    give_up_message,
    retry_reason,
)
from .enqueue import LEGACY_TASK_NAMES, TASK_NAMES, sync_refusal
from .phase_task import (
    SyncRef,
    after_phase,
    end_sync,
    load_clinic,
    mark_parent_running,
    run_delivery,
    skip_refused,
)
from .runtime import runtime
from .webhook_tasks import syncs_swept

log = logging.getLogger(__name__)


def _run_phase(task, phase: str, clinic_id: str, sync_id: str, audit_id: str, options: dict | None) -> dict:
    ref = SyncRef(clinic_id=clinic_id, sync_id=sync_id, audit_id=audit_id, phase=phase)

    def body(rt, lock) -> dict[str, Any]:
        store = rt.store
        mark_parent_running(store, ref)

        task_id = task.request.id  # the sink may be called from enrichment's threads

        def sink(phase_: str, processed: int, total: int, stats: dict) -> None:
            # best effort: the audit row has the same progress, and a broker restart must not
            # fail the phase over a progress report
            try:
                task.update_state(
                    task_id=task_id,
                    state="PROGRESS",
                    meta={"phase": phase_, "processed": processed, "total": total, "stats": stats,
                          "syncId": sync_id},
                )
            except (redis.RedisError, OSError, OperationalError) as e:
                log.warning("progress of sync %s not sent to the result backend (%s)", sync_id, e.__class__.__name__)

        try:
            opts = SyncOptions.from_dict(options)
            clinic = load_clinic(rt, ref)
        except PimsSyncError as e:
            store.start_audit(audit_id, task_id=task.request.id)
            store.finish_audit(audit_id, status="failed", error=str(e))
            result = PhaseResult(phase=phase, status="failed", error=str(e), error_code=e.code, audit_id=audit_id)
            return after_phase(task, rt, ref, result)
        refusal = sync_refusal(clinic)  # defence in depth: a cut-over flag may flip after the enqueue
        if refusal is not None:
            return skip_refused(task, rt, ref, str(refusal))
        provider = rt.provider_for(clinic)
        broker = broker_identity(rt.redis)
        try:
            result = PhaseRunner(store, provider, clinic).run(
                phase, opts, audit_id=audit_id, sink=sink, task_id=task.request.id
            )
        finally:
            provider.close()
        if result.status == "failed" and result.error_code == "internal_error":
            result = _after_crash(task, store, rt.redis, broker, ref, result)
        if lock.lost:
            log.error("clinic lock for %s was lost during phase %s of sync %s", clinic_id, phase, sync_id)
        return after_phase(task, rt, ref, result)

    return run_delivery(task, ref, body)


def _after_crash(task, store, client, broker: str | None, ref: SyncRef, crashed: PhaseResult) -> PhaseResult:
    """A crashed phase: when the broker restarted or went away under it, queue it again.

    (workers/broker_restart.py.) Raises Celery's Retry, which keeps the chain; after
    BROKER_RETRIES the phase stays failed, saying why instead of naming a bare ConnectionError.
    Any other crash is returned as it was.
    """
    held: list[bool] = []

    def on_hold() -> None:
        held.append(True)
        store.finish_audit(ref.audit_id, status="queued", stats=crashed.stats, error=BROKER_WAITING)

    reason = retry_reason(client, broker, on_hold=on_hold)
    if reason is None:
        if not held:
            return crashed
        reason = BROKER_GONE  # it went away and stayed away: fail, saying so
    retries = task.request.retries or 0
    if reason == BROKER_GONE or retries >= BROKER_RETRIES:
        message = reason if reason == BROKER_GONE else give_up_message(retries)
        store.finish_audit(ref.audit_id, status="failed", stats=crashed.stats, error=message)
        return PhaseResult(phase=ref.phase, status="failed", stats=crashed.stats, error=message,
                           error_code="broker_unavailable", audit_id=ref.audit_id)
    log.warning("phase %s of sync %s: %s", ref.phase, ref.sync_id, reason)
    store.finish_audit(ref.audit_id, status="queued", stats=crashed.stats, error=reason)
    raise task.retry(countdown=RETRY_COUNTDOWN_S, max_retries=None)


@shared_task(bind=True, name=TASK_NAMES["inbound"])
def inbound(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
            trigger: str = "api") -> dict:
    """Appointments -> cases for the window (create/update, never delete)."""
    return _run_phase(self, "inbound", clinic_id, sync_id, audit_id, options)


@shared_task(bind=True, name=TASK_NAMES["cases"])
def cases(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
          trigger: str = "api") -> dict:
    """Consultation details onto the cases that have none (or stale ones)."""
    return _run_phase(self, "cases", clinic_id, sync_id, audit_id, options)


@shared_task(bind=True, name=TASK_NAMES["reconcile"])
def reconcile(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
              trigger: str = "api") -> dict:
    """Soft-delete cases whose appointment vanished upstream (behind the delete-ratio guard)."""
    return _run_phase(self, "reconcile", clinic_id, sync_id, audit_id, options)


# --- legacy /api/idexx/scrape syncs --------------------------------------------------------------

LEGACY_RUNNERS = {"schedule": schedule_sync, "consultation": consultation_sync}


def _run_legacy(task, kind: str, clinic_id: str, sync_id: str, audit_id: str, options: dict | None) -> dict:
    ref = SyncRef(clinic_id=clinic_id, sync_id=sync_id, audit_id=audit_id, phase=kind)

    def body(rt, lock) -> dict[str, Any]:
        store = rt.store
        store.start_audit(audit_id, task_id=task.request.id)
        status, stats, error = "failed", {}, None
        try:
            opts = SyncOptions.from_dict(options)
            clinic = load_clinic(rt, ref)
            refusal = sync_refusal(clinic)
            if refusal is not None:
                raise refusal
            day = opts.start_date or datetime.now(UTC).astimezone(ZoneInfo(clinic.timezone)).date()
            provider = rt.provider_for(clinic)
            try:
                stats = LEGACY_RUNNERS[kind](store, provider, clinic, day)
            finally:
                provider.close()
            status = "completed"
        except SyncDisabled as e:
            status, error = "skipped", str(e)
            log.warning("legacy %s sync %s skipped: %s", kind, sync_id, e)
        except PimsSyncError as e:
            error = str(e)
        except Exception as e:  # a bug: the trace stays in the worker log
            log.exception("legacy %s sync failed for clinic %s", kind, clinic_id)
            error = f"internal error ({e.__class__.__name__})"
        store.finish_audit(audit_id, status=status, stats=stats, error=error)
        return end_sync(rt, ref) | {"phase": kind, "stats": stats}

    return run_delivery(task, ref, body)


@shared_task(bind=True, name=LEGACY_TASK_NAMES["schedule"])
def idexx_schedule(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
                   trigger: str = "api") -> dict:
    """A day's appointments, hours, providers, rooms and free slots, saved as a snapshot."""
    return _run_legacy(self, "schedule", clinic_id, sync_id, audit_id, options)


@shared_task(bind=True, name=LEGACY_TASK_NAMES["consultation"])
def idexx_consultation(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
                       trigger: str = "api") -> dict:
    """A day's consultations with details, saved onto the matching cases."""
    return _run_legacy(self, "consultation", clinic_id, sync_id, audit_id, options)


# --- housekeeping --------------------------------------------------------------------------------


@shared_task(name=HOUSEKEEPING_TASK)
def fail_stale_audits() -> dict:
    """Audits still running long after the hard time limit belong to a lost worker: fail them."""
    rt = runtime()
    older_than = datetime.now(UTC) - timedelta(seconds=rt.settings.hard_time_limit_s + 60)
    started = time.monotonic()
    count = rt.store.fail_stale_audits(older_than, reason="worker lost")
    webhooks: list[str] = []
    if count:
        log.warning("marked %d stale sync audits as failed (worker lost)", count)
        # what the lost worker would have done at the end: metrics and sync.failed webhooks
        # (the window is generous; syncs_swept handles each sync once)
        try:
            webhooks = syncs_swept(rt, reason="worker lost", within_s=time.monotonic() - started + 120)
        except Exception:
            log.exception("webhooks/metrics of the swept syncs failed (the sweep itself stands)")
    return {"failed": count, "olderThan": older_than.isoformat(), "webhookDeliveries": len(webhooks)}
