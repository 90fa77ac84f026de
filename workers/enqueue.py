"""Enqueueing syncs by task name, and reading their state back from the audit rows.

The API, beat and the CLI import this module; it never imports the tasks (and so never
Playwright). A sync's truth is its audit rows, so any API process can answer for any sync.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, chain

from pims_sync.errors import NotFound, QueueUnavailable, SyncDisabled, SyncInProgress
from pims_sync.models import Audit, Clinic
from pims_sync.providers.registry import API_QUEUE, queue_for
from pims_sync.store.base import Store
from pims_sync.sync.options import PHASE_OF_AUDIT_TYPE, PHASES_FOR, SyncOptions, for_sync_type
from pims_sync.sync.results import PhaseResult, full_sync_response, overall_status

from .locks import TokenLock

SYNC_QUEUE = "sync"
API_SYNC_QUEUE = API_QUEUE  # browser-free providers' phases (pims_sync/providers/registry.py)
DEFAULT_QUEUE = "default"
ALL_QUEUES = (SYNC_QUEUE, API_SYNC_QUEUE, DEFAULT_QUEUE)  # e.g. pims_sync_queue_depth's queue label
TASK_NAMES = {"inbound": "pims_sync.inbound", "cases": "pims_sync.cases", "reconcile": "pims_sync.reconcile"}
LEGACY_TASK_NAMES = {"schedule": "pims_sync.idexx.schedule", "consultation": "pims_sync.idexx.consultation"}
TERMINAL = ("completed", "failed", "partial", "skipped", "aborted", "not_run")
CLAIM_GRACE_S = 60  # a claim this young without its audit row is still being enqueued

class InFlight:
    """Enqueue-level single-flight: at most one queued-or-running sync per clinic.

    The claim is taken before anything is enqueued and released by the task that ends the
    sync (or expires after `ttl_s`), so two simultaneous requests yield one sync and a 409.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "pims:inflight:"):
        self.client = client
        self.prefix = prefix

    def key(self, clinic_id: str) -> str:
        return f"{self.prefix}{clinic_id}"

    def claim(self, clinic_id: str, sync_id: str, *, ttl_s: int) -> str | None:
        """None when claimed; else the sync id that holds the clinic."""
        if TokenLock(self.client, self.key(clinic_id), ttl_s=ttl_s, value=sync_id).acquire():
            return None
        return self.current(clinic_id)

    def release(self, clinic_id: str, sync_id: str) -> bool:
        """Free the clinic only if ``sync_id`` still holds it (a late task frees nothing newer)."""
        return TokenLock.held(self.client, self.key(clinic_id), sync_id).release()

    def current(self, clinic_id: str) -> str | None:
        held = self.client.get(self.key(clinic_id))
        return held.decode() if isinstance(held, bytes) else held


def sync_refusal(clinic: Clinic) -> SyncDisabled | None:
    """Why pims-sync must not sync this clinic now, or None: the cut-over gate.

    A clinic is ours to sync only when it is active, owned by pims-sync (not the legacy
    service) and its credentials allow syncing. The API (409), beat (a skip) and the worker
    (defence in depth, for a flag flipped after the enqueue) all ask this one function, so they
    cannot disagree. The message names the flag and the command that changes it.
    """
    cid = clinic.id
    if not clinic.is_active:
        return SyncDisabled(
            f"clinic {cid} is inactive (clinics.is_active = false); "
            f"activate it with `pims-sync clinics set {cid} --active`",
            clinic_id=cid, flag="is_active", value=False,
        )
    if clinic.sync_owner != "pims-sync":
        return SyncDisabled(
            f"clinic {cid} is synced by the other service (clinics.sync_owner = '{clinic.sync_owner}'); "
            f"hand it to pims-sync with `pims-sync clinics set {cid} --sync-owner pims-sync`",
            clinic_id=cid, flag="sync_owner", value=clinic.sync_owner,
        )
    if not clinic.sync_enabled:
        return SyncDisabled(
            f"syncing is disabled for clinic {cid} (idexx_credentials.sync_enabled = false); "
            f"enable it with `pims-sync clinics set {cid} --sync-enabled`",
            clinic_id=cid, flag="sync_enabled", value=False,
        )
    return None


def ensure_sync_allowed(store: Store, clinic_id: str) -> Clinic:
    """The clinic, or SyncDisabled (NotFound when there is no such clinic)."""
    clinic = store.get_clinic(clinic_id)
    refusal = sync_refusal(clinic)
    if refusal is not None:
        raise refusal
    return clinic


@dataclass(frozen=True)
class Enqueued:
    sync_id: str
    sync_type: str
    phases: dict[str, str]  # phase -> audit id
    status: str = "queued"


def _task_options(name: str, clinic_id: str, sync_id: str, audit_id: str, phase: str,
                  queue: str = SYNC_QUEUE) -> dict[str, Any]:
    # argsrepr/kwargsrepr: what Flower and the events show; ids only, never options or secrets
    # queue: the clinic's provider's (registry.queue_for): browser-free providers go to "api",
    # which workers without Playwright serve, so they never wait behind IDEXX logins
    return {
        "queue": queue,
        "argsrepr": "()",
        "kwargsrepr": repr({"clinic_id": clinic_id, "sync_id": sync_id, "audit_id": audit_id, "phase": phase}),
    }


def enqueue_sync(
    celery_app: Celery,
    store: Store,
    inflight: InFlight,
    *,
    clinic_id: str,
    sync_type: str,
    options: SyncOptions,
    trigger: str,
    ttl_s: int,
) -> Enqueued:
    """Check the gate, claim the clinic, write queued audit rows, send the phase chain.

    The gate and the audit rows are one database transaction, committed before the task is
    sent (a worker must find its audit row). Raises SyncDisabled (the cut-over flags say no) or
    SyncInProgress.
    """
    from pims_sync.sync.runner import create_sync_audits, mark_not_run

    phases = PHASES_FOR[sync_type]
    options = for_sync_type(options, sync_type)
    sync_id = str(uuid.uuid4())
    claimed = False
    try:
        # two statements, each its own transaction (one round trip each): the clinic's check,
        # then its audit rows once the clinic is claimed; no transaction spans the Redis claim
        clinic = ensure_sync_allowed(store, clinic_id)
        held = _claim(store, inflight, clinic_id, sync_id, ttl_s)
        if held:
            raise SyncInProgress(f"clinic {clinic_id} already has sync {held} queued or running", sync_id=held)
        claimed = True
        audits = create_sync_audits(store, clinic_id=clinic_id, sync_type=sync_type, trigger=trigger,
                                    sync_id=sync_id)
    except Exception:
        if claimed:  # the audit rows were not written: free the clinic
            inflight.release(clinic_id, sync_id)
        raise
    queue = queue_for(clinic.pims_provider)
    try:
        sigs = []
        for phase in phases:
            audit_id = audits.phases[phase]
            sigs.append(
                celery_app.signature(
                    TASK_NAMES[phase],
                    kwargs={
                        "clinic_id": clinic_id,
                        "sync_id": sync_id,
                        "audit_id": audit_id,
                        "options": options.to_dict(),
                        "trigger": trigger,
                    },
                    immutable=True,
                    **_task_options(TASK_NAMES[phase], clinic_id, sync_id, audit_id, phase, queue),
                )
            )
        (chain(*sigs) if len(sigs) > 1 else sigs[0]).apply_async()
    except Exception as e:
        inflight.release(clinic_id, sync_id)
        mark_not_run(store, list(audits.phases.values()), "enqueue failed")
        if sync_type == "full":
            store.finish_audit(sync_id, status="failed", error="enqueue failed: broker unavailable")
        if isinstance(e, redis.exceptions.RedisError | OSError) or e.__class__.__module__.startswith("kombu"):
            raise QueueUnavailable(f"could not enqueue the sync: the broker is unavailable ({e.__class__.__name__})") from e
        raise
    return Enqueued(sync_id=sync_id, sync_type=sync_type, phases=audits.phases)


def _claim(store: Store, inflight: InFlight, clinic_id: str, sync_id: str, ttl_s: int) -> str | None:
    """Claim, clearing a stale claim whose sync has already ended (e.g. a lost release)."""
    try:
        for _ in range(2):
            held = inflight.claim(clinic_id, sync_id, ttl_s=ttl_s)
            if held is None:
                return None
            try:
                if store.get_audit(held, clinic_id=clinic_id).status not in TERMINAL:
                    return held
            except NotFound:
                # no audit row yet: the holder may be between its claim and its insert (a race
                # two simultaneous requests hit); only a claim older than that window is stale
                remaining = inflight.client.ttl(inflight.key(clinic_id))
                if remaining is not None and remaining > 0 and ttl_s - remaining < CLAIM_GRACE_S:
                    return held
            inflight.release(clinic_id, held)
        return inflight.current(clinic_id)
    except redis.exceptions.RedisError as e:
        raise QueueUnavailable(f"Redis is unavailable ({e.__class__.__name__})") from e


def _phase_view(audit: Audit) -> dict[str, Any]:
    return {
        "auditId": audit.id,
        "status": audit.status,
        "progress": {"processed": audit.processed_items, "total": audit.total_items},
        "stats": dict(audit.stats or {}),
        "error": audit.error_message,
        "attempts": audit.attempts,
        "startedAt": audit.started_at.isoformat() if audit.started_at else None,
        "finishedAt": audit.finished_at.isoformat() if audit.finished_at else None,
        "durationMs": audit.duration_ms,
    }


def sync_status(store: Store, sync_id: str, *, clinic_id: str) -> dict[str, Any]:
    """State, current phase, per-phase progress/stats/errors. NotFound for another clinic's id."""
    root = store.get_audit(sync_id, clinic_id=clinic_id)
    children = store.child_audits(root.id) if root.sync_type == "full" else []
    rows = children or [root]
    phases = {PHASE_OF_AUDIT_TYPE.get(a.sync_type, a.sync_type): _phase_view(a) for a in rows}
    current = next((p for p, v in phases.items() if v["status"] == "in_progress"), None)
    if current is None:
        current = next((p for p, v in phases.items() if v["status"] == "queued"), None)
    errors = [{"phase": p, "message": v["error"]} for p, v in phases.items() if v["error"]]
    body: dict[str, Any] = {
        "syncId": root.id,
        "clinicId": root.clinic_id,
        "type": root.sync_type,
        "trigger": root.trigger,
        "status": root.status,
        "currentPhase": current,
        "phases": phases,
        "errors": errors,
        "createdAt": root.created_at.isoformat() if root.created_at else None,
        "finishedAt": root.finished_at.isoformat() if root.finished_at else None,
        "durationMs": root.duration_ms,
    }
    if root.status in TERMINAL:
        body["result"] = sync_result(store, root, children)
    return body


def sync_result(store: Store, root: Audit, children: list[Audit] | None = None) -> dict[str, Any]:
    """The seed's response shape, rebuilt from the audit rows."""
    rows = children if children is not None else (store.child_audits(root.id) if root.sync_type == "full" else [])
    results = phase_results(rows or [root])
    body = full_sync_response(root.id, results, duration_ms=root.duration_ms or 0, clinic_id=root.clinic_id)
    body["status"] = root.status if root.sync_type == "full" else overall_status(results)
    return body


def phase_results(audits: list[Audit]) -> dict[str, PhaseResult]:
    """Phase audit rows as PhaseResults, keyed by phase."""
    results = {}
    for a in audits:
        phase = PHASE_OF_AUDIT_TYPE.get(a.sync_type, a.sync_type)
        results[phase] = PhaseResult(
            phase=phase,
            status=a.status,
            stats=dict(a.stats or {}),
            error=a.error_message if a.status != "completed" else None,
            audit_id=a.id,
            duration_ms=a.duration_ms,
        )
    return results


def wait_for_sync(
    store: Store, sync_id: str, *, clinic_id: str, timeout_s: float, poll_s: float = 0.2
) -> dict[str, Any]:
    """Poll the audit rows until the sync ends or the timeout passes; returns sync_status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = sync_status(store, sync_id, clinic_id=clinic_id)
        if status["status"] in TERMINAL or time.monotonic() >= deadline:
            return status
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def enqueue_legacy(
    celery_app: Celery,
    store: Store,
    inflight: InFlight,
    *,
    clinic_id: str,
    kind: str,
    day: str | None,
    trigger: str,
    ttl_s: int,
) -> Enqueued:
    """Claim the clinic, write a queued `schedule`/`consultation` audit, send the legacy task."""
    if kind not in LEGACY_TASK_NAMES:
        raise ValueError(f"unknown legacy sync {kind!r}; use one of {sorted(LEGACY_TASK_NAMES)}")
    ensure_sync_allowed(store, clinic_id)
    options = SyncOptions.from_dict({"start_date": day} if day else {})
    sync_id = str(uuid.uuid4())
    held = _claim(store, inflight, clinic_id, sync_id, ttl_s)
    if held:
        raise SyncInProgress(f"clinic {clinic_id} already has sync {held} queued or running", sync_id=held)
    try:
        audit = store.create_audit(clinic_id=clinic_id, sync_type=kind, trigger=trigger, audit_id=sync_id)
        celery_app.send_task(
            LEGACY_TASK_NAMES[kind],
            kwargs={
                "clinic_id": clinic_id,
                "sync_id": sync_id,
                "audit_id": audit.id,
                "options": options.to_dict(),
                "trigger": trigger,
            },
            **_task_options(LEGACY_TASK_NAMES[kind], clinic_id, sync_id, audit.id, kind),
        )
    except Exception as e:
        inflight.release(clinic_id, sync_id)
        if "audit" in locals():
            store.finish_audit(sync_id, status="failed", error="enqueue failed: broker unavailable")
        if isinstance(e, redis.exceptions.RedisError | OSError) or e.__class__.__module__.startswith("kombu"):
            raise QueueUnavailable(f"could not enqueue the sync: the broker is unavailable ({e.__class__.__name__})") from e
        raise
    return Enqueued(sync_id=sync_id, sync_type=kind, phases={kind: audit.id})
