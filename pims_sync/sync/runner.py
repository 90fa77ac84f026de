"""Running phases with their audit rows: the one place a phase's outcome is decided.

Workers run one phase per Celery task through :class:`PhaseRunner`; scripts and the CLI run
the whole pipeline in-process through :func:`run_full_sync`. Both write the same audit rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..credential_status import status_after_refusal
from ..errors import AuthenticationFailed, PimsSyncError, SyncAborted
from ..models import Appointment, Clinic, JsonObject
from ..providers.base import PimsProvider
from ..store.base import Store
from .enrichment import CaseEnrichment
from .inbound import InboundSync
from .options import AUDIT_TYPE_FOR_PHASE, PHASES, PHASES_FOR, SyncOptions, day_window, for_sync_type
from .reconcile import Reconciler
from .results import PhaseResult, full_sync_response, overall_status

log = logging.getLogger(__name__)
# a phase ending like this stops the pipeline (a partial enrichment does not)
STOPS_CHAIN = ("failed", "aborted")
# sink(phase, processed, total, stats): e.g. Celery's update_state(state="PROGRESS", meta=...)
ProgressSink = Callable[[str, int, int, JsonObject], None]


class ProgressReporter:
    """Throttled progress (about one write per interval) to the audit row and a sink."""

    def __init__(
        self,
        store: Store,
        audit_id: str,
        phase: str,
        *,
        sink: ProgressSink | None = None,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.audit_id, self.phase, self.sink = store, audit_id, phase, sink
        self.interval_s, self.clock = interval_s, clock
        self._last = float("-inf")
        self._pending: tuple[int, int, JsonObject] | None = None

    def __call__(self, processed: int, total: int, stats: JsonObject) -> None:
        self._pending = (processed, total, stats)
        now = self.clock()
        if now - self._last >= self.interval_s or (total and processed >= total):
            self.flush()

    def flush(self) -> None:
        if self._pending is None:
            return
        processed, total, stats = self._pending
        self._pending, self._last = None, self.clock()
        try:
            self.store.update_audit_progress(
                self.audit_id, processed=processed, total=total, stats=stats, phase=self.phase
            )
        except PimsSyncError as e:  # progress is best effort; the outcome is written by finish
            log.warning("progress write failed for audit %s: %s", self.audit_id, e)
        if self.sink:
            self.sink(self.phase, processed, total, stats)


@dataclass(frozen=True)
class SyncAudits:
    sync_id: str  # the id callers see: the full row, or the single phase's row
    phases: dict[str, str]  # phase -> audit id


def create_sync_audits(
    store: Store, *, clinic_id: str, sync_type: str, trigger: str, sync_id: str | None = None
) -> SyncAudits:
    """Queued audit rows for a sync: a `full` parent with one child per phase, or one row.

    A full sync's four rows are one statement (one transaction) rather than four.
    """
    phases = PHASES_FOR[sync_type]
    if sync_type == "full":
        parent, children = store.create_sync_runs(
            clinic_id=clinic_id, sync_type="full", trigger=trigger, audit_id=sync_id,
            phase_types=[AUDIT_TYPE_FOR_PHASE[p] for p in phases],
        )
        return SyncAudits(parent.id, {p: child.id for p, child in zip(phases, children, strict=True)})
    (phase,) = phases
    row = store.create_audit(
        clinic_id=clinic_id, sync_type=AUDIT_TYPE_FOR_PHASE[phase], trigger=trigger, audit_id=sync_id
    )
    return SyncAudits(row.id, {phase: row.id})


def mark_not_run(store: Store, audit_ids: Sequence[str], reason: str) -> None:
    for audit_id in audit_ids:
        store.finish_audit(audit_id, status="not_run", error=reason)


def finish_parent(store: Store, sync_id: str, results: dict[str, PhaseResult]) -> str:
    status = overall_status(results)
    merged: dict[str, int] = {}
    for r in results.values():
        merged.update({k: v for k, v in r.stats.items() if isinstance(v, int)})
    errors = "; ".join(f"{r.phase}: {r.error}" for r in results.values() if r.error) or None
    store.finish_audit(sync_id, status=status, stats=merged, error=errors)
    return status


class PhaseRunner:
    """Runs one phase for one clinic and records its outcome, whatever happens."""

    def __init__(self, store: Store, provider: PimsProvider, clinic: Clinic, *, now: datetime | None = None):
        self.store, self.provider, self.clinic = store, provider, clinic
        self.now = now

    def run(
        self,
        phase: str,
        options: SyncOptions,
        *,
        audit_id: str,
        sink: ProgressSink | None = None,
        upstream: Sequence[Appointment] | None = None,
        task_id: str | None = None,
    ) -> PhaseResult:
        started = time.monotonic()
        self.store.start_audit(audit_id, task_id=task_id)
        reporter = ProgressReporter(self.store, audit_id, phase, sink=sink)
        status, stats, error, code = "failed", {}, None, None
        try:
            stats = self._run(phase, options, reporter, upstream)
            status = _status_from_stats(stats)
        except SyncAborted as e:
            status, error, code = "aborted", str(e), e.code
        except AuthenticationFailed as e:
            error, code = str(e), e.code
            log.warning("phase %s failed for clinic %s: login refused (%s)", phase, self.clinic.id, e.reason)
            self._remember_refusal(e)
        except PimsSyncError as e:
            error, code = str(e), e.code
            log.warning("phase %s failed for clinic %s: %s", phase, self.clinic.id, e.__class__.__name__)
        except Exception as e:  # a bug: record it, keep the trace in the worker's log only
            error, code = f"internal error ({e.__class__.__name__})", "internal_error"
            log.exception("phase %s crashed for clinic %s", phase, self.clinic.id)
        finally:
            reporter.flush()
            errors_text = error or ("; ".join(stats.get("errors", [])) or None)
            self.store.finish_audit(audit_id, status=status, stats=stats, error=errors_text)
        return PhaseResult(
            phase=phase,
            status=status,
            stats=stats,
            error=error,
            error_code=code,
            audit_id=audit_id,
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    def _remember_refusal(self, e: AuthenticationFailed) -> None:
        """Mark the credentials so no scheduled sync tries them again (credential_status.py)."""
        status = status_after_refusal(e.reason)
        if status is None:
            return
        try:
            self.store.mark_credentials_validated(self.clinic.id, self.clinic.pims_provider, status=status)
        except PimsSyncError as failure:  # the phase has failed already; say why the mark is missing
            log.warning("could not mark the credentials of clinic %s: %s", self.clinic.id, failure.code)

    def _run(
        self,
        phase: str,
        options: SyncOptions,
        reporter: ProgressReporter,
        upstream: Sequence[Appointment] | None,
    ) -> JsonObject:
        now = self.now or datetime.now(UTC)
        tz = self.clinic.timezone
        if phase == "inbound":
            window = options.inbound_window(tz, now=now)
            return InboundSync(self.store, self.provider, self.clinic).run(
                window, upstream=upstream, on_progress=reporter
            )
        if phase == "cases":
            window = options.cases_window(tz, now=now)
            return CaseEnrichment(self.store, self.provider, self.clinic).run(
                window, parallel_batch_size=options.parallel_batch_size, on_progress=reporter
            )
        if phase == "reconcile":
            window = options.reconcile_window(tz, now=now)
            return Reconciler(self.store, self.provider, self.clinic).run(
                window,
                force=options.force,
                max_delete_ratio=options.max_delete_ratio,
                upstream=upstream,
                on_progress=reporter,
            )
        raise ValueError(f"unknown phase {phase!r}")


def _status_from_stats(stats: JsonObject) -> str:
    failed = stats.get("failed", 0)
    if not failed:
        return "completed"
    return "failed" if failed >= stats.get("casesFound", failed) else "partial"


def run_full_sync(
    store: Store,
    provider: PimsProvider,
    clinic: Clinic,
    options: SyncOptions | None = None,
    *,
    sync_type: str = "full",
    trigger: str = "cli",
    sync_id: str | None = None,
    sink: ProgressSink | None = None,
    now: datetime | None = None,
) -> JsonObject:
    """Run a sync in this process and return the seed's response shape.

    A phase that does not complete stops the pipeline: reconciliation never runs on the back
    of a failed or partial fetch. With both inbound and reconciliation, one appointments
    fetch over the union of their windows serves both.
    """
    options = for_sync_type(options or SyncOptions(), sync_type)
    started = time.monotonic()
    audits = create_sync_audits(store, clinic_id=clinic.id, sync_type=sync_type, trigger=trigger, sync_id=sync_id)
    runner = PhaseRunner(store, provider, clinic, now=now)
    upstream: Sequence[Appointment] | PimsSyncError | None = None
    phases = PHASES_FOR[sync_type]
    if "inbound" in phases and "reconcile" in phases:
        upstream = _shared_fetch(provider, clinic, options, now or datetime.now(UTC))
    results: dict[str, PhaseResult] = {}
    for i, phase in enumerate(phases):
        if isinstance(upstream, PimsSyncError):
            # the shared fetch failed: inbound records it, nothing runs after it
            results[phase] = _fetch_failed(store, phase, audits.phases[phase], upstream)
        else:
            results[phase] = runner.run(
                phase,
                options,
                audit_id=audits.phases[phase],
                sink=sink,
                upstream=upstream if phase != "cases" else None,
            )
        if results[phase].status in STOPS_CHAIN:
            rest = [audits.phases[p] for p in phases[i + 1 :]]
            mark_not_run(store, rest, f"not run: {phase} {results[phase].status}")
            for p in phases[i + 1 :]:
                results[p] = PhaseResult(phase=p, status="not_run", audit_id=audits.phases[p])
            break
    if sync_type == "full":
        finish_parent(store, audits.sync_id, results)
    return full_sync_response(
        audits.sync_id, results, duration_ms=int((time.monotonic() - started) * 1000), clinic_id=clinic.id
    )


def _shared_fetch(
    provider: PimsProvider, clinic: Clinic, options: SyncOptions, now: datetime
) -> Sequence[Appointment] | PimsSyncError:
    a = options.inbound_window(clinic.timezone, now=now)
    b = options.reconcile_window(clinic.timezone, now=now)
    window = day_window(clinic.timezone, min(a.start, b.start), max(a.end, b.end))
    try:
        return provider.appointments(window.start_utc, window.end_utc)
    except PimsSyncError as e:
        return e


def _fetch_failed(store: Store, phase: str, audit_id: str, error: PimsSyncError) -> PhaseResult:
    store.start_audit(audit_id)
    store.finish_audit(audit_id, status="failed", error=str(error))
    return PhaseResult(phase=phase, status="failed", error=str(error), error_code=error.code, audit_id=audit_id)


__all__ = [
    "PHASES",
    "STOPS_CHAIN",
    "PhaseRunner",
    "ProgressReporter",
    "SyncAudits",
    "create_sync_audits",
    "finish_parent",
    "mark_not_run",
    "run_full_sync",
]
