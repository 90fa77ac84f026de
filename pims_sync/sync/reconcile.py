"""Reconciliation: cases whose appointment vanished upstream are soft-deleted, and restored
when it comes back — behind a guard, because the service this replaces had none and one
expired session erased a week of cases."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import SyncAborted
from ..models import Appointment, CaseRef, Clinic, DateWindow, JsonObject
from ..providers.base import PimsProvider
from ..store.base import Store
from .inbound import in_window

ProgressFn = Callable[[int, int, JsonObject], None]
DEFAULT_MAX_DELETE_RATIO = 0.2


@dataclass(frozen=True)
class ReconcilePlan:
    checked: int
    live: int
    to_delete: tuple[str, ...]
    to_restore: tuple[str, ...]
    abort_reason: str | None = None


def plan_reconciliation(
    stored: Sequence[CaseRef],
    upstream_external_ids: Iterable[str],
    *,
    max_delete_ratio: float = DEFAULT_MAX_DELETE_RATIO,
    force: bool = False,
) -> ReconcilePlan:
    """Pure policy: what to delete and restore, and whether the guard refuses."""
    upstream = set(upstream_external_ids)
    live = [c for c in stored if c.deleted_at is None]
    to_delete = tuple(c.id for c in live if c.external_id not in upstream)
    to_restore = tuple(c.id for c in stored if c.deleted_at is not None and c.external_id in upstream)
    reason = None
    if not force and to_delete:
        if not upstream:
            reason = (
                f"the PIMS returned no appointments while the window holds {len(live)} cases; "
                "refusing to delete them all (use force=true if this is real)"
            )
        elif len(to_delete) / len(live) > max_delete_ratio:
            reason = (
                f"would delete {len(to_delete)} of {len(live)} cases "
                f"({len(to_delete) / len(live):.0%} > {max_delete_ratio:.0%} allowed); "
                "use force=true if this is real"
            )
    return ReconcilePlan(
        checked=len(stored), live=len(live), to_delete=to_delete, to_restore=to_restore, abort_reason=reason
    )


class Reconciler:
    def __init__(self, store: Store, provider: PimsProvider, clinic: Clinic):
        self.store = store
        self.provider = provider
        self.clinic = clinic

    def run(
        self,
        window: DateWindow,
        *,
        force: bool = False,
        max_delete_ratio: float = DEFAULT_MAX_DELETE_RATIO,
        upstream: Sequence[Appointment] | None = None,
        on_progress: ProgressFn | None = None,
    ) -> JsonObject:
        """Raises SyncAborted when the guard refuses; a failed fetch raises before any write."""
        if upstream is None:
            appointments = self.provider.appointments(window.start_utc, window.end_utc)
        else:
            appointments = in_window(upstream, window)
        upstream_ids = {self.provider.external_id(a.id) for a in appointments}
        stored = self.store.cases_in_window(
            self.clinic.id, window.start_utc, window.end_utc, source=self.provider.source, include_deleted=True
        )
        plan = plan_reconciliation(stored, upstream_ids, max_delete_ratio=max_delete_ratio, force=force)
        stats = {"casesChecked": plan.checked, "casesDeleted": 0, "casesRestored": 0}
        if on_progress:
            on_progress(0, plan.checked, dict(stats))
        if plan.abort_reason:
            raise SyncAborted(plan.abort_reason, reason="guard")
        if plan.to_delete:
            stats["casesDeleted"] = self.store.soft_delete_cases(self.clinic.id, plan.to_delete)
        if plan.to_restore:
            stats["casesRestored"] = self.store.restore_cases(self.clinic.id, plan.to_restore)
        if on_progress:
            on_progress(plan.checked, plan.checked, dict(stats))
        return stats
