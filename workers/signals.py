"""Worker process lifecycle, and what happens around every sync task (metrics, webhooks).

``worker_process_init`` must return quickly (the pool kills a child that takes too long to
start), so it only forgets the parent's resources; the browser is launched at the first login.
Shutdown closes the browser and its driver so no Chromium outlives its worker process, both on
``worker_process_shutdown`` (recycling with --max-tasks-per-child, warm shutdown) and at exit.

After each sync task (``task_postrun``) the phase's duration, outcome and case counts go to the
metrics; when the task ended its sync (its result carries ``phaseResult``, or it was a legacy
scrape), the sync's metrics are recorded and its webhook deliveries are queued. Both are read
from the task's own result and the audit rows, so the sync code knows nothing of them, and a
failure here is logged, never raised: observability must not fail a sync.
"""

from __future__ import annotations

import atexit
import logging
import os

from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

from pims_sync.logs import clear_sync_context, set_sync_context

from . import runtime
from .enqueue import ALL_QUEUES, LEGACY_TASK_NAMES, TASK_NAMES

log = logging.getLogger(__name__)
PHASE_OF_TASK = {name: phase for phase, name in TASK_NAMES.items()}
LEGACY_OF_TASK = {name: kind for kind, name in LEGACY_TASK_NAMES.items()}


@worker_process_init.connect
def _forget_parent_resources(**_: object) -> None:
    runtime.reset_after_fork()
    atexit.register(runtime.shutdown)


@worker_process_shutdown.connect
def _close_browser(**_: object) -> None:
    runtime.shutdown()
    from pims_sync import metrics

    metrics.process_exited(os.getpid())


@celeryd_after_setup.connect
def _start_exporter(**_: object) -> None:
    """METRICS_PORT: this host's metrics served by the worker too (for hosts without the API)."""
    settings = runtime.runtime().settings
    if settings.metrics_port:
        from pims_sync.metrics_exporter import start_exporter

        start_exporter(settings, port=settings.metrics_port, queues=ALL_QUEUES)


@task_prerun.connect
def _log_context(sender=None, kwargs=None, **_: object) -> None:
    """Every log line of a sync task carries its sync id, clinic id and phase (LOG_FORMAT=json)."""
    name = getattr(sender, "name", None)
    if name in PHASE_OF_TASK or name in LEGACY_OF_TASK:
        kwargs = kwargs or {}
        set_sync_context(sync_id=kwargs.get("sync_id"), clinic_id=kwargs.get("clinic_id"),
                         phase=PHASE_OF_TASK.get(name) or LEGACY_OF_TASK.get(name))


@task_postrun.connect
def _after_sync_task(sender=None, kwargs=None, retval=None, **_: object) -> None:
    name = getattr(sender, "name", None)
    if name not in PHASE_OF_TASK and name not in LEGACY_OF_TASK:
        return
    try:
        _observe(name, kwargs, retval)
    finally:
        clear_sync_context()


def _observe(name: str, kwargs: dict | None, retval) -> None:
    if not isinstance(retval, dict) or retval.get("duplicate"):
        return  # a retry, a crash or a duplicate delivery: the real delivery reports
    try:
        observe_task(name, kwargs or {}, retval)
    except Exception:
        log.exception("metrics/webhooks after task %s failed (the sync itself is unaffected)", name)


def observe_task(name: str, kwargs: dict, retval: dict) -> None:
    from pims_sync import metrics

    rt = runtime.runtime()
    clinic_id, sync_id = kwargs.get("clinic_id"), kwargs.get("sync_id")
    provider = rt.clinic_provider(clinic_id)
    metrics.record_worker_memory()
    if name in PHASE_OF_TASK:
        phase = retval.get("phaseResult") or retval
        metrics.observe_phase(provider=provider, phase=PHASE_OF_TASK[name], outcome=str(phase.get("status")),
                              duration_ms=phase.get("durationMs"), stats=phase.get("stats") or {})
        ended = "phaseResult" in retval
    else:
        ended = True
    if not ended or not sync_id:
        return
    root = rt.store.get_audit(sync_id)
    if name in LEGACY_OF_TASK:
        metrics.observe_phase(provider=provider, phase=LEGACY_OF_TASK[name], outcome=root.status,
                              duration_ms=root.duration_ms, stats=retval.get("stats") or {})
    metrics.observe_sync(provider=provider, sync_type=root.sync_type, outcome=root.status,
                         duration_ms=root.duration_ms)
    from .webhook_tasks import sync_ended

    sync_ended(rt, root)


