"""How one Celery delivery of a sync phase runs: cap, dedupe, lock, run, hand on or stop.

Order matters, and each step is there for a failure the tests reproduce:

1. count the delivery (workers.deliveries) — a poison message is audited failed and dropped;
2. skip a phase whose audit already ended — a redelivered duplicate must not run again;
3. take the clinic lock (renewed while running) — one sync per clinic; a lock left by a killed
   worker frees itself within its TTL, so a redelivery waits that long for it, no longer;
4. run the phase through :class:`~pims_sync.sync.runner.PhaseRunner` (which writes the audit);
5. a failed/aborted phase marks the rest ``not_run`` and cuts the chain; the phase that ends the
   sync finishes the parent audit and releases the enqueue-time in-flight claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pims_sync.errors import NotFound, PimsSyncError, SyncInProgress, ValidationError
from pims_sync.store.base import Store
from pims_sync.sync.options import PHASE_OF_AUDIT_TYPE, PHASES_FOR
from pims_sync.sync.results import PhaseResult
from pims_sync.sync.runner import STOPS_CHAIN, finish_parent, mark_not_run
from pims_sync.timezones import check_timezone

from .deliveries import delivery_id
from .enqueue import TERMINAL, InFlight, phase_results, sync_result
from .locks import TokenLock, clinic_lock
from .runtime import WorkerRuntime, runtime

log = logging.getLogger(__name__)
BUSY_RETRIES = 20  # another sync holds the clinic: try again this many times, then give up


@dataclass(frozen=True)
class SyncRef:
    """The ids a task carries (never secrets)."""

    clinic_id: str
    sync_id: str
    audit_id: str
    phase: str

    @property
    def has_parent(self) -> bool:
        return self.sync_id != self.audit_id


class Outcome(Exception):
    """Ends a delivery early with a JSON result (duplicate, capped, clinic busy)."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(result.get("status"))
        self.result = result


def run_delivery(task, ref: SyncRef, body) -> dict[str, Any]:
    """Steps 1–3 around ``body(rt, lock)``, which runs the work and returns the JSON result."""
    rt = runtime()
    did = delivery_id(task.request.id, task.request.retries or 0)
    try:
        count = rt.deliveries.record(did)
        if rt.deliveries.exceeded(count):
            raise Outcome(give_up(task, rt, ref, count))
        _skip_if_finished(task, rt, ref)
        lock = _take_clinic_lock(task, rt, ref)
    except Outcome as o:
        return o.result
    lock.start_renewing()
    try:
        result = body(rt, lock)
    finally:
        lock.release()
        if "browsers" in rt.__dict__:
            rt.browsers.idle()
    rt.deliveries.forget(did)
    return result


def _skip_if_finished(task, rt: WorkerRuntime, ref: SyncRef) -> None:
    audit = rt.store.get_audit(ref.audit_id)
    if audit.status in TERMINAL:
        log.warning("phase %s of sync %s already %s: duplicate delivery, not running it again",
                    ref.phase, ref.sync_id, audit.status)
        task.request.chain = None  # the first delivery already handed the sync on
        rt.deliveries.forget(delivery_id(task.request.id, task.request.retries or 0))
        raise Outcome(_ids(ref) | {"status": audit.status, "duplicate": True})


def _take_clinic_lock(task, rt: WorkerRuntime, ref: SyncRef) -> TokenLock:
    ttl = rt.settings.clinic_lock_ttl_s
    lock = clinic_lock(rt.redis, ref.clinic_id, sync_id=ref.sync_id, ttl_s=ttl)
    if lock.acquire():
        return lock
    holder = lock.holder()
    if holder == ref.sync_id:
        # our own sync: a killed delivery whose lock has not expired yet (wait for the TTL),
        # or a live twin of this message that is still renewing (then this one is redundant)
        if lock.acquire(wait_s=ttl * 1.5, poll_s=0.25):
            return lock
        if lock.holder() == ref.sync_id:
            log.warning("sync %s is still running elsewhere: dropping this duplicate delivery", ref.sync_id)
            task.request.chain = None
            raise Outcome(_ids(ref) | {"status": "in_progress", "duplicate": True})
        holder = lock.holder()
    # another sync runs for this clinic (e.g. a legacy scrape): come back later
    retries = task.request.retries or 0
    if retries >= BUSY_RETRIES:
        error = SyncInProgress(f"clinic {ref.clinic_id} stayed busy with sync {holder}", sync_id=holder)
        raise Outcome(fail_without_running(task, rt, ref, str(error)))
    raise task.retry(countdown=min(ttl, 30), max_retries=None)


def give_up(task, rt: WorkerRuntime, ref: SyncRef, count: int) -> dict[str, Any]:
    """The redelivery cap: record the failure, run nothing, stop the sync."""
    reason = (
        f"delivered {count} times: each earlier delivery ended without finishing "
        f"(worker process lost), over the cap of {rt.deliveries.cap}; not running it again"
    )
    log.error("phase %s of sync %s %s", ref.phase, ref.sync_id, reason)
    return fail_without_running(task, rt, ref, reason)


def fail_without_running(task, rt: WorkerRuntime, ref: SyncRef, reason: str) -> dict[str, Any]:
    store = rt.store
    store.finish_audit(ref.audit_id, status="failed", error=reason)
    result = PhaseResult(phase=ref.phase, status="failed", error=reason, error_code="worker_lost",
                         audit_id=ref.audit_id)
    return after_phase(task, rt, ref, result)


def after_phase(task, rt: WorkerRuntime, ref: SyncRef, result: PhaseResult) -> dict[str, Any]:
    """Stop or hand on; end the sync when this was its last phase. Returns the task result."""
    store = rt.store
    rest = remaining_phases(store, ref)
    stop = result.status in STOPS_CHAIN
    if stop and rest:
        mark_not_run(store, [aid for _, aid in rest], f"not run: {ref.phase} {result.status}")
        task.request.chain = None
    if stop or not rest:
        return end_sync(rt, ref) | {"phase": ref.phase, "phaseResult": result.to_dict()}
    return _ids(ref) | result.to_dict()


def skip_refused(task, rt: WorkerRuntime, ref: SyncRef, reason: str) -> dict[str, Any]:
    """The cut-over gate said no after the enqueue (a flag flipped): run nothing, end the sync.

    This phase and the later ones are marked skipped with the reason (never started, so the
    product's audit screen is not shown a run that did not happen).
    """
    store = rt.store
    log.warning("phase %s of sync %s skipped: %s", ref.phase, ref.sync_id, reason)
    for audit_id in [ref.audit_id, *(aid for _, aid in remaining_phases(store, ref))]:
        store.finish_audit(audit_id, status="skipped", error=reason)
    task.request.chain = None
    result = PhaseResult(phase=ref.phase, status="skipped", error=reason, error_code="sync_disabled",
                         audit_id=ref.audit_id)
    return end_sync(rt, ref) | {"phase": ref.phase, "phaseResult": result.to_dict()}


def remaining_phases(store: Store, ref: SyncRef) -> list[tuple[str, str]]:
    """(phase, audit id) of this sync's phases after ``ref.phase``."""
    if not ref.has_parent:
        return []
    children = {PHASE_OF_AUDIT_TYPE.get(a.sync_type, a.sync_type): a for a in store.child_audits(ref.sync_id)}
    order = [p for p in PHASES_FOR["full"] if p in children]
    later = order[order.index(ref.phase) + 1:] if ref.phase in order else []
    return [(p, children[p].id) for p in later if children[p].status not in TERMINAL]


def mark_parent_running(store: Store, ref: SyncRef) -> None:
    """Keep the sync's other rows fresh, so housekeeping never takes a live sync for lost."""
    if not ref.has_parent:
        return
    parent = store.get_audit(ref.sync_id)
    if parent.status == "queued":
        store.start_audit(ref.sync_id)
    children = store.child_audits(ref.sync_id)
    done = sum(1 for a in children if a.status in TERMINAL)
    store.update_audit_progress(ref.sync_id, processed=done, total=len(children), stats={}, phase=ref.phase)
    for a in children:
        if a.status == "queued" and a.id != ref.audit_id:
            store.update_audit_progress(a.id, processed=0, total=0, stats={})


def end_sync(rt: WorkerRuntime, ref: SyncRef) -> dict[str, Any]:
    """Finish the parent audit, free the clinic for the next sync, return the seed's shape."""
    store = rt.store
    try:
        if ref.has_parent:
            finish_parent(store, ref.sync_id, phase_results(store.child_audits(ref.sync_id)))
        root = store.get_audit(ref.sync_id)
        return sync_result(store, root)
    finally:
        InFlight(rt.redis).release(ref.clinic_id, ref.sync_id)


def load_clinic(rt: WorkerRuntime, ref: SyncRef):
    """The clinic, checked before a phase uses it: a bad row fails this sync, fast and clearly."""
    try:
        clinic = rt.store.get_clinic(ref.clinic_id)
    except NotFound as e:
        raise PimsSyncError(f"clinic {ref.clinic_id} not found") from e
    try:
        check_timezone(clinic.timezone, "clinics.timezone")
    except ValidationError as e:
        raise PimsSyncError(
            f"clinic {clinic.id}: clinics.timezone is not an IANA time zone; fix it with "
            f"`pims-sync clinics set {clinic.id} --timezone America/New_York` (the clinic's own zone)"
        ) from e
    return clinic


def _ids(ref: SyncRef) -> dict[str, Any]:
    return {"syncId": ref.sync_id, "clinicId": ref.clinic_id, "auditId": ref.audit_id, "phase": ref.phase}
