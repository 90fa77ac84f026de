"""PostgresStore's sync data: cases and audits.

Every multi-row write is one call of a SQL function from ``supabase/migrations`` (the Supabase
store calls the same functions over ``.rpc``); the plain reads are single SELECTs on indexed
columns. Audits live in our own ``pims_sync_runs``; a trigger mirrors the phase rows into the
product's ``case_sync_audits`` in its vocabulary, so the store never writes that table.
Mixed into :class:`~pims_sync.store.postgres.PostgresStore`, which provides the connection
helpers ``_conn``, ``_one``, ``_all``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from psycopg.types.json import Jsonb

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
from ._host import PostgresHost
from ._sync_runs import split_sync_runs, sync_runs_args

# upsert_cases stages its rows in pims_sync_incoming_cases (migration *_upsert_cases_staged.sql)
# with a binary COPY: no text formatting of timestamps on our side, no parsing on the server's
_STAGED = tuple(n for n in rows.CASE_DATA_COLUMNS if n != "metadata")
_STAGE_COPY = f"copy pims_sync_incoming_cases (ord, {', '.join(_STAGED)}, metadata) from stdin (format binary)"
_STAGE_TYPES = ["int8", *("timestamptz" if n.endswith("_at") else "text" for n in _STAGED), "jsonb"]
_staged_values = attrgetter(*_STAGED)

# status::text: on an adopted database cases.status is the product's ENUM
_REF_COLUMNS = (
    "id, external_id, scheduled_at, status::text as status, consultation_external_id, enriched_at, deleted_at"
)
_TOTALS = "pims_sync_history_totals"  # sync_history_summary's column beside the page's own


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=rows.dumps_bytes)


class SyncDataQueries(PostgresHost):
    # --- cases -------------------------------------------------------------------------------

    def upsert_cases(self, clinic_id: str, cases: Sequence[CaseRecord]) -> UpsertResult:
        cid = rows.parse_uuid(clinic_id, "clinic")
        for other in {c.clinic_id for c in cases} - {clinic_id, cid}:
            if rows.parse_uuid(other, "clinic") != cid:
                raise rows.foreign_case(cid, other)
        if not cases:
            return UpsertResult(created=0, updated=0, unchanged=0)
        with self._conn("upsert cases") as conn:
            # staged by COPY (no JSON on either side), then one statement that skips unchanged rows
            conn.execute("select stage_cases()")
            with conn.cursor() as cur, cur.copy(_STAGE_COPY) as copy:
                copy.set_types(_STAGE_TYPES)
                # ordinal = input order (a repeated key keeps its last); upsert_staged_cases writes
                # in key order itself, so concurrent syncs lock shared keys in the same order
                for ordinal, case in enumerate(cases):
                    copy.write_row((ordinal, *_staged_values(case), jsonb(case.metadata)))
            found = conn.execute("select upsert_staged_cases(%s) as r", (cid,)).fetchone()
            result = rows.returned(found, "upsert cases")["r"]
        return UpsertResult(created=result["created"], updated=result["updated"], unchanged=result["unchanged"])

    def cases_needing_enrichment(
        self, clinic_id: str, start: datetime, end: datetime, *, stale_before: datetime | None = None
    ) -> list[CaseRef]:
        """Also cases whose stored consultation said complete=false: its data is still coming."""
        cid = rows.parse_uuid(clinic_id, "clinic")
        found = self._all(
            "find cases needing enrichment",
            f"""
            select {_REF_COLUMNS} from cases
             where clinic_id = %s and deleted_at is null
               and scheduled_at >= %s and scheduled_at < %s
               and consultation_external_id is not null
               and (enriched_at is null
                    or enriched_at < %s::timestamptz
                    or metadata -> 'pimsConsultation' ->> 'complete' = 'false')
             order by scheduled_at, id
            """,
            (cid, start, end, stale_before),
        )
        return [rows.case_ref(r) for r in found]

    def save_enrichment(self, clinic_id: str, case_id: str, consultation: dict[str, Any]) -> bool:
        cid = rows.parse_uuid(clinic_id, "clinic")
        case = rows.parse_uuid(case_id, "case")
        row = self._one(
            "save case enrichment",
            "select save_case_enrichment(%s, %s, %s) as changed",
            (cid, case, jsonb(consultation)),
        )
        return bool(rows.returned(row, "save case enrichment")["changed"])

    def save_enrichments(self, clinic_id: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[bool]:
        if not items:
            return []
        cid = rows.parse_uuid(clinic_id, "clinic")
        cases = [rows.parse_uuid(case_id, "case") for case_id, _ in items]
        row = self._one(
            "save case enrichments",
            "select save_case_enrichments(%s, %s::uuid[], %s) as changed",
            (cid, cases, jsonb([consultation for _, consultation in items])),
        )
        return [bool(c) for c in rows.returned(row, "save case enrichments")["changed"]]

    def cases_in_window(
        self, clinic_id: str, start: datetime, end: datetime, *, source: str, include_deleted: bool = True
    ) -> list[CaseRef]:
        cid = rows.parse_uuid(clinic_id, "clinic")
        found = self._all(
            "list cases in window",
            f"""
            select {_REF_COLUMNS} from cases
             where clinic_id = %s and source = %s and scheduled_at >= %s and scheduled_at < %s
               and (%s or deleted_at is null)
             order by scheduled_at, id
            """,
            (cid, source, start, end, include_deleted),
        )
        return [rows.case_ref(r) for r in found]

    def soft_delete_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int:
        return self._case_fn("soft_delete_cases", clinic_id, case_ids)

    def restore_cases(self, clinic_id: str, case_ids: Sequence[str]) -> int:
        return self._case_fn("restore_cases", clinic_id, case_ids)

    def _case_fn(self, fn: str, clinic_id: str, case_ids: Sequence[str]) -> int:
        cid = rows.parse_uuid(clinic_id, "clinic")
        ids = rows.case_ids(case_ids)
        if not ids:
            return 0
        # fn is one of two literals above, never caller input
        row = self._one(fn.replace("_", " "), f"select {fn}(%s, %s::uuid[]) as n", (cid, ids))
        return int(rows.returned(row, "count rows")["n"])

    def list_cases(self, clinic_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        cid = rows.parse_uuid(clinic_id, "clinic")
        found = self._all(
            "list cases",
            "select * from cases where clinic_id = %s and (%s or deleted_at is null) "
            "order by scheduled_at, external_id",
            (cid, include_deleted),
        )
        return [{k: (str(v) if k in ("id", "clinic_id") else v) for k, v in r.items()} for r in found]

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
        aid, new = rows.new_audit_row(clinic_id=clinic_id, sync_type=sync_type, trigger=trigger, status=status,
                                 audit_id=audit_id, parent_id=parent_id)
        row = self._one(
            "create sync audit",
            """
            insert into pims_sync_runs (id, clinic_id, sync_type, trigger, parent_id, status)
            values (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s, %s, %s)
            on conflict (id) do nothing
            returning *
            """,
            (aid, new["clinic_id"], new["sync_type"], new["trigger"], new["parent_id"], new["status"]),
        )
        if row is None and aid is not None:  # on conflict: this sync exists already
            return self.get_audit(aid, clinic_id=new["clinic_id"])
        return rows.audit(rows.returned(row, "create sync audit"))

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
        found = self._all(
            "create sync audits",
            "select * from create_sync_runs(%(p_clinic_id)s, %(p_sync_type)s, %(p_trigger)s, "
            "%(p_audit_id)s, %(p_phase_types)s::text[])",
            args,
        )
        return split_sync_runs(found)

    def start_audit(self, audit_id: str, *, task_id: str | None = None) -> Audit:
        aid = rows.parse_uuid(audit_id, "sync")
        row = self._one("start sync audit", "select * from start_audit(%s, %s)", (aid, task_id))
        return rows.audit(rows.returned(row, "start sync audit"))

    def update_audit_progress(
        self, audit_id: str, *, processed: int, total: int, stats: dict[str, Any], phase: str | None = None
    ) -> None:
        aid = rows.parse_uuid(audit_id, "sync")
        self._one(
            "update sync progress",
            "select audit_progress(%s, %s, %s, %s, %s)",
            (aid, processed, total, jsonb(stats or {}), phase),
        )

    def finish_audit(
        self, audit_id: str, *, status: str, stats: dict[str, Any] | None = None, error: str | None = None
    ) -> Audit:
        aid = rows.parse_uuid(audit_id, "sync")
        rows.choice(status, AUDIT_STATUSES, "status")
        row = self._one(
            "finish sync audit",
            "select * from finish_audit(%s, %s, %s, %s)",
            (aid, status, None if stats is None else jsonb(stats), error),
        )
        return rows.audit(rows.returned(row, "finish sync audit"))

    def get_audit(self, audit_id: str, *, clinic_id: str | None = None) -> Audit:
        aid = rows.parse_uuid(audit_id, "sync")
        row = self._one("get sync audit", "select * from pims_sync_runs where id = %s", (aid,))
        if row is None or (
            clinic_id is not None and str(row["clinic_id"]) != rows.parse_uuid(clinic_id, "sync")
        ):
            # another clinic's sync is indistinguishable from a missing one
            raise rows.sync_not_found(aid)
        return rows.audit(row)

    def child_audits(self, parent_id: str) -> list[Audit]:
        pid = rows.parse_uuid(parent_id, "sync")
        found = self._all(
            "list phase audits",
            "select * from pims_sync_runs where parent_id = %s order by created_at, id",
            (pid,),
        )
        return [rows.audit(r) for r in found]

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
        # one statement, one round trip, one snapshot: the totals on every row (a page with no row
        # still has the totals' one, its page columns null); one row more than asked tells whether
        # another page exists
        found = self._all(
            "read sync history",
            f"select t.totals as {_TOTALS}, p.* from (select sync_history_summary(%s, %s) as totals) t"
            " left join lateral sync_history_page(%s, %s, %s, %s, %s) p on true",
            (cid, sync_type, cid, sync_type, limit + 1, before_at, before_id),
        )
        summary = rows.returned(found[0] if found else None, "read sync history")[_TOTALS]
        return rows.history_page([r for r in found if r["id"] is not None], summary, limit=limit)

    def fail_stale_audits(self, older_than: datetime, *, reason: str = "worker lost") -> int:
        row = self._one("fail stale audits", "select fail_stale_audits(%s, %s) as n", (older_than, reason))
        return int(rows.returned(row, "count rows")["n"])
