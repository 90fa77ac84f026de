"""A sync's queued run rows in one call of ``create_sync_runs`` (both stores).

The SQL function (``supabase/migrations/*_run_bookkeeping.sql``) writes the top row and a full
sync's phase rows in one statement, so enqueueing a sync is one transaction and one WAL flush
instead of one per row. Here: the validated arguments, and the rows it returns split back into
the top row and one row per phase type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ..models import SYNC_TYPES, TRIGGERS, Audit
from . import _rows as rows


def _one_of(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def sync_runs_args(
    *, clinic_id: str, sync_type: str, trigger: str, audit_id: str | None, phase_types: Sequence[str]
) -> dict[str, Any]:
    """The function's named arguments (the Supabase store passes them to ``.rpc`` as they are)."""
    return {
        "p_clinic_id": rows.parse_uuid(clinic_id, "clinic"),
        "p_sync_type": _one_of(sync_type, SYNC_TYPES, "sync_type"),
        "p_trigger": _one_of(trigger, TRIGGERS, "trigger"),
        "p_audit_id": None if audit_id is None else rows.parse_uuid(audit_id, "sync"),
        "p_phase_types": [_one_of(t, SYNC_TYPES, "phase sync_type") for t in phase_types],
    }


def split_sync_runs(found: Iterable[Mapping[str, Any]]) -> tuple[Audit, list[Audit]]:
    """(top row, phase rows in the phases' order) from the function's result."""
    audits = [rows.audit(r) for r in found]
    (top,) = [a for a in audits if a.parent_id is None]
    children = sorted((a for a in audits if a.parent_id is not None), key=lambda a: (a.created_at, a.id))
    return top, children
