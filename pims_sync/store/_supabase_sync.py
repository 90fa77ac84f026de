"""SupabaseStore's sync data: cases and audits over PostgREST.

Every multi-row write is an ``.rpc()`` of the SQL function PostgresStore calls with
``SELECT fn(...)`` (the argument names are the functions' own, so PostgREST can resolve them);
the plain reads are table requests with the same filters and order as PostgresStore's SELECTs.
Mixed into :class:`~pims_sync.store.supabase.SupabaseStore`, which provides ``table``,
``_read``, ``_read_all``, ``_call`` and ``page_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..models import (
    AUDIT_STATUSES,
    SYNC_TYPES,
    Audit,
    CaseRecord,
    CaseRef,
    HistoryPage,
    UpsertResult,
)
from . import _rows as rows
from ._host import SupabaseHost
from ._sync_runs import split_sync_runs, sync_runs_args

# PostgREST renders the product's ENUM status as its label: no cast needed here
REF_SELECT = "id,external_id,scheduled_at,status,consultation_external_id,enriched_at,deleted_at"
AUDITS = "pims_sync_runs"  # ours; a trigger mirrors phase rows into the product's case_sync_audits
_CASE_TIMESTAMPS = ("scheduled_at", "ends_at", "enriched_at", "deleted_at", "created_at", "updated_at")


def _iso(value: datetime) -> str:
    return value.isoformat()


class SupabaseSyncData(SupabaseHost):
    # --- cases -------------------------------------------------------------------------------

    def upsert_cases(self, clinic_id: str, cases: Sequence[CaseRecord]) -> UpsertResult:
        cid = rows.parse_uuid(clinic_id, "clinic")
        for other in {c.clinic_id for c in cases} - {clinic_id, cid}:
            if rows.parse_uuid(other, "clinic") != cid:
                raise rows.foreign_case(cid, other)
        # one global key order: two concurrent syncs then lock shared keys in the same order
        ordered = sorted(cases, key=lambda c: (c.source, c.external_id))
        created = updated = unchanged = 0
        for start in range(0, len(ordered), rows.UPSERT_CHUNK):
            chunk = [rows.case_to_json(c) for c in ordered[start : start + rows.UPSERT_CHUNK]]
            result = self._call("upsert cases", "upsert_cases", {"p_clinic_id": cid, "p_cases": chunk})
            created += result["created"]
            updated += result["updated"]
            unchanged += result["unchanged"]
        return UpsertResult(created=created, updated=updated, unchanged=unchanged)

    def cases_needing_enrichment(
        self, clinic_id: str, start: datetime, end: datetime, *, stale_before: datetime | None = None
    ) -> list[CaseRef]:
        """Also cases whose stored consultation said complete=false: its data is still coming."""
        cid = rows.parse_uuid(clinic_id, "clinic")
        due = ["enriched_at.is.null"]
        if stale_before is not None:
            due.append(f'enriched_at.lt."{_iso(stale_before)}"')
        due.append("metadata->pimsConsultation->>complete.eq.false")

        def build() -> Any:
            return (
                self.table("cases")
                .select(REF_SELECT)
                .eq("clinic_id", cid)
                .is_("deleted_at", None)
                .gte("scheduled_at", _iso(start))
                .lt("scheduled_at", _iso(end))
                .not_.is_("consultation_external_id", None)
                .or_(",".join(due))
                .order("scheduled_at")
                .order("id")
            )

        return [rows.case_ref(r) for r in self._read_all("find cases needing enrichment", "cases", build)]

    def save_enrichment(self, clinic_id: str, case_id: str, consultation: dict[str, Any]) -> bool:
        args = {
            "p_clinic_id": rows.parse_uuid(clinic_id, "clinic"),
            "p_case_id": rows.parse_uuid(case_id, "case"),
            "p_consultation": consultation,
        }
        return bool(self._call("save case enrichment", "save_case_enrichment", args))

    def save_enrichments(self, clinic_id: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[bool]:
        if not items:
            return []
        args = {
            "p_clinic_id": rows.parse_uuid(clinic_id, "clinic"),
            "p_case_ids": [rows.parse_uuid(case_id, "case") for case_id, _ in items],
            "p_consultations": [consultation for _, consultation in items],
        }
        return [bool(c) for c in self._call("save case enrichments", "save_case_enrichments", args)]

    def cases_in_window(
        self, clinic_id: str, start: datetime, end: datetime, *, source: str, include_deleted: bool = True
    ) -> list[CaseRef]:
        cid = rows.parse_uuid(clinic_id, "clinic")

        def build() -> Any:
            query = (
                self.table("cases")
                .select(REF_SELECT)
                .eq("clinic_id", cid)
                .eq("source", source)
                .gte("scheduled_at", _iso(start))
                .lt("scheduled_at", _iso(end))
            )
            if not include_deleted:
                query = query.is_("deleted_at", None)
            return query.order("scheduled_at").order("id")

        return [rows.case_ref(r) for r in self._read_all("list cases in window", "cases", build)]

    def soft_delete_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int:
        return self._case_fn("soft delete cases", "soft_delete_cases", clinic_id, case_ids)

    def restore_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int:
        return self._case_fn("restore cases", "restore_cases", clinic_id, case_ids)

    def _case_fn(self, what: str, fn: str, clinic_id: str, case_ids: Sequence[str]) -> int:
        cid = rows.parse_uuid(clinic_id, "clinic")
        ids = rows.case_ids(case_ids)
        if not ids:
            return 0
        return int(self._call(what, fn, {"p_clinic_id": cid, "p_case_ids": ids}))

    def list_cases(self, clinic_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Timestamps parsed to datetimes, as PostgresStore returns them."""
        cid = rows.parse_uuid(clinic_id, "clinic")

        def build() -> Any:
            query = self.table("cases").select("*").eq("clinic_id", cid)
            if not include_deleted:
                query = query.is_("deleted_at", None)
            # id last: a total order, so pages never overlap
            return query.order("scheduled_at").order("external_id").order("id")

        found = self._read_all("list cases", "cases", build)
        return [{k: (rows._ts(v) if k in _CASE_TIMESTAMPS else v) for k, v in r.items()} for r in found]

    # --- audits ------------------------------------------------------------------------------

    def create_audit(
        self,
        *,
        clinic_id: str,
        sync_type: str,
        trigger: str,
        audit_id: str | None = None,
        parent_id: str | None = None,
        status: str = "queued",
    ) -> Audit:
        """Idempotent on audit_id: creating an existing sync returns it (a retried enqueue)."""
        aid, row = rows.new_audit_row(clinic_id=clinic_id, sync_type=sync_type, trigger=trigger, status=status,
                                 audit_id=audit_id, parent_id=parent_id)
        audits = self.table(AUDITS)
        if aid is None:
            query = audits.insert(row)
        else:  # ON CONFLICT (id) DO NOTHING: an existing sync comes back as no row
            query = audits.upsert({"id": aid, **row}, on_conflict="id", ignore_duplicates=True)
        made = self._read("create sync audit", AUDITS, query)
        if not made and aid is not None:  # on conflict: this sync exists already
            return self.get_audit(aid, clinic_id=row["clinic_id"])
        return rows.audit(rows.returned(made[0] if made else None, "create sync audit"))

    def create_sync_runs(
        self,
        *,
        clinic_id: str,
        sync_type: str,
        trigger: str,
        audit_id: str | None = None,
        phase_types: Sequence[str] = (),
    ) -> tuple[Audit, list[Audit]]:
        args = sync_runs_args(clinic_id=clinic_id, sync_type=sync_type, trigger=trigger, audit_id=audit_id,
                              phase_types=phase_types)
        return split_sync_runs(self._call("create sync audits", "create_sync_runs", args))

    def start_audit(self, audit_id: str, *, task_id: str | None = None) -> Audit:
        args = {"p_audit_id": rows.parse_uuid(audit_id, "sync"), "p_task_id": task_id}
        return rows.audit(self._call("start sync audit", "start_audit", args))

    def update_audit_progress(
        self, audit_id: str, *, processed: int, total: int, stats: dict[str, Any], phase: str | None = None
    ) -> None:
        args = {
            "p_audit_id": rows.parse_uuid(audit_id, "sync"),
            "p_processed": processed,
            "p_total": total,
            "p_stats": stats or {},
            "p_phase": phase,
        }
        self._call("update sync progress", "audit_progress", args)

    def finish_audit(
        self, audit_id: str, *, status: str, stats: dict[str, Any] | None = None, error: str | None = None
    ) -> Audit:
        aid = rows.parse_uuid(audit_id, "sync")
        rows.choice(status, AUDIT_STATUSES, "status")
        args = {"p_audit_id": aid, "p_status": status, "p_stats": stats, "p_error": error}
        return rows.audit(self._call("finish sync audit", "finish_audit", args))

    def get_audit(self, audit_id: str, *, clinic_id: str | None = None) -> Audit:
        aid = rows.parse_uuid(audit_id, "sync")
        found = self._read(
            "get sync audit", AUDITS, self.table(AUDITS).select("*").eq("id", aid)
        )
        if not found or (
            clinic_id is not None and str(found[0]["clinic_id"]) != rows.parse_uuid(clinic_id, "sync")
        ):
            # another clinic's sync is indistinguishable from a missing one
            raise rows.sync_not_found(aid)
        return rows.audit(found[0])

    def child_audits(self, parent_id: str) -> list[Audit]:
        pid = rows.parse_uuid(parent_id, "sync")

        def build() -> Any:
            return (
                self.table(AUDITS)
                .select("*")
                .eq("parent_id", pid)
                .order("created_at")
                .order("id")
            )

        return [rows.audit(r) for r in self._read_all("list phase audits", AUDITS, build)]

    def sync_history(
        self,
        clinic_id: str | None,
        *,
        limit: int = 20,
        cursor: str | None = None,
        sync_type: str | None = None,
    ) -> HistoryPage:
        cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        if sync_type is not None:
            rows.choice(sync_type, SYNC_TYPES, "sync_type")
        limit = rows.history_limit(limit)
        before_at, before_id = rows.decode_cursor(cursor) if cursor else (None, None)
        # one row more than asked tells whether another page exists
        page_args = {
            "p_clinic_id": cid,
            "p_sync_type": sync_type,
            "p_limit": limit + 1,
            "p_before_created_at": None if before_at is None else _iso(before_at),
            "p_before_id": before_id,
        }
        found = self._call("read sync history", "sync_history_page", page_args)
        summary = self._call(
            "read sync history", "sync_history_summary", {"p_clinic_id": cid, "p_sync_type": sync_type}
        )
        return rows.history_page(found, summary, limit=limit)

    def fail_stale_audits(self, older_than: datetime, *, reason: str = "worker lost") -> int:
        args = {"p_older_than": _iso(older_than), "p_reason": reason}
        return int(self._call("fail stale audits", "fail_stale_audits", args))
