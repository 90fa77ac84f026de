"""The store's rpc bodies, run on real PostgreSQL the way PostgREST runs them.

PostgREST turns ``POST /rpc/fn`` with a JSON object into
``fn(a := x.a, ...) FROM json_to_record($body) AS x(a <type>, ...)`` using the function's own
argument types, and answers SQL errors as ``{code: SQLSTATE, message, details, hint}``. The
fake answers rpc calls exactly that way against the migrated test database, so these tests
check that what SupabaseStore sends (uuid arrays, ISO timestamps, jsonb) works with the real
functions, and that their semantics and errors come back through the REST path intact.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from pims_sync.errors import NotFound, StoreError
from pims_sync.models import UpsertResult
from pims_sync.store.supabase import SupabaseStore
from tests.store.factories import make_case, make_cases

from .conftest import SERVICE_ROLE_KEY
from .fake_postgrest import FakePostgREST, Reply

_SIGNATURE = """
select p.proargnames, array(select format_type(t, null) from unnest(p.proargtypes) t),
       p.proretset, format_type(p.prorettype, null), t.typtype
  from pg_proc p join pg_type t on t.oid = p.prorettype
 where p.proname = %s and p.pronamespace = 'public'::regnamespace
"""


def _status(sqlstate: str) -> int:
    """PostgREST's HTTP status for a SQLSTATE (the subset these functions can raise)."""
    if sqlstate in ("23503", "23505"):
        return 409
    if sqlstate in ("42883", "42P01"):
        return 404
    if sqlstate == "P0001":
        return 400
    return 500 if sqlstate[:2] in ("P0", "XX", "53", "54", "55", "57", "58") else 400


def postgrest_rpc(database_url: str):
    def call(fn: str, body: dict) -> Reply:
        with psycopg.connect(database_url, autocommit=True) as conn:
            found = conn.execute(_SIGNATURE, (fn,)).fetchone()
            if found is None:
                return Reply(404, {"code": "PGRST202", "message": f"Could not find the function public.{fn}"})
            names, types, returns_set, return_type, typtype = found
            given = [(n, t) for n, t in zip(names, types, strict=False) if n in body]
            record = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in given
            )
            args = sql.SQL(", ").join(
                sql.SQL("{} := x.{}").format(sql.Identifier(n), sql.Identifier(n)) for n, _ in given
            )
            call_sql = sql.SQL("{}({})").format(sql.Identifier(fn), args)
            source = sql.SQL("from json_to_record(%s::json) as x({})").format(record)
            if returns_set:
                query = sql.SQL("select coalesce(json_agg(r), '[]') {}, lateral {} r").format(
                    source, call_sql
                )
            elif typtype == "c":  # one composite row: PostgREST answers the object
                query = sql.SQL("select row_to_json(r) {}, lateral {} r").format(source, call_sql)
            else:
                query = sql.SQL("select to_json({}) {}").format(call_sql, source)
            try:
                (result,) = conn.execute(query, (json.dumps(body),)).fetchone()
            except psycopg.Error as e:
                diag = e.diag
                error = {
                    "code": e.sqlstate,
                    "message": diag.message_primary,
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                }
                return Reply(_status(e.sqlstate or "XX000"), error)
            if return_type == "void":
                return Reply(204)
            return Reply(200, result)

    return call


@pytest.fixture
def rest(database_url):
    server = FakePostgREST(rpc=postgrest_rpc(database_url)).start()
    sb = SupabaseStore(server.url, SERVICE_ROLE_KEY, timeout_s=10)
    try:
        yield sb
    finally:
        sb.close()
        server.stop()


def _case_ids(store, clinic_id) -> dict[str, str]:
    return {r["external_id"]: r["id"] for r in store.list_cases(clinic_id, include_deleted=True)}


def test_batch_upsert_semantics_through_rpc(rest, store, clinic):
    cases = make_cases(clinic.id, 4)
    assert rest.upsert_cases(clinic.id, cases) == UpsertResult(created=4, updated=0, unchanged=0)
    assert rest.upsert_cases(clinic.id, cases) == UpsertResult(created=0, updated=0, unchanged=4)
    changed = [replace(cases[0], room="Room 9"), *cases[1:]]
    assert rest.upsert_cases(clinic.id, changed) == UpsertResult(created=0, updated=1, unchanged=3)
    rows = {r["external_id"]: r for r in store.list_cases(clinic.id)}
    assert rows[cases[0].external_id]["room"] == "Room 9"
    assert rows[cases[1].external_id]["scheduled_at"] == cases[1].scheduled_at


def test_enrichment_soft_delete_and_restore_through_rpc(rest, store, clinic):
    cases = make_cases(clinic.id, 3)
    store.upsert_cases(clinic.id, cases)
    ids = _case_ids(store, clinic.id)
    first = ids[cases[0].external_id]
    consultation = {"id": "cons-0", "notes": "S: bright", "complete": True}
    assert rest.save_enrichment(clinic.id, first, consultation) is True
    assert rest.save_enrichment(clinic.id, first, consultation) is False
    with pytest.raises(NotFound):
        rest.save_enrichment(clinic.id, "00000000-0000-0000-0000-000000000000", consultation)

    doomed = [ids[cases[1].external_id], ids[cases[2].external_id]]
    assert rest.soft_delete_cases(clinic.id, doomed) == 2
    assert rest.soft_delete_cases(clinic.id, doomed) == 0
    assert len(store.list_cases(clinic.id)) == 1
    assert rest.restore_cases(clinic.id, doomed[:1]) == 1
    assert len(store.list_cases(clinic.id)) == 2


def test_audit_lifecycle_and_history_through_rpc(rest, store, clinic, database_url):
    audit = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    started = rest.start_audit(audit.id, task_id="task-1")
    assert (started.status, started.attempts, started.task_id) == ("in_progress", 1, "task-1")
    rest.update_audit_progress(
        audit.id, processed=5, total=20, stats={"appointmentsFound": 20}, phase="fetch"
    )
    mid = store.get_audit(audit.id)
    assert (mid.processed_items, mid.total_items, mid.phase) == (5, 20, "fetch")
    done = rest.finish_audit(
        audit.id, status="completed", stats={"appointmentsFound": 20, "casesCreated": 12}
    )
    assert (done.status, done.appointments_found, done.cases_created) == ("completed", 20, 12)
    assert done == store.get_audit(audit.id)

    older = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="schedule")
    page = rest.sync_history(clinic.id, limit=1)
    assert [a.id for a in page.audits] == [older.id] and page.total == 2 and page.succeeded == 1
    rest_page = rest.sync_history(clinic.id, limit=1, cursor=page.next_cursor)
    assert [a.id for a in rest_page.audits] == [audit.id] and rest_page.next_cursor is None
    with psycopg.connect(database_url) as conn:
        # age only our row (trigger off): other suites' unfinished syncs in this database stay fresh
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "update pims_sync_runs set updated_at = now() - interval '2 days' where id = %s", (older.id,)
        )
    assert rest.fail_stale_audits(datetime.now(UTC) - timedelta(days=1), reason="swept") >= 1
    assert store.get_audit(older.id).error_message == "swept"

    with pytest.raises(NotFound):
        rest.start_audit("00000000-0000-0000-0000-000000000000")


def test_real_constraint_error_comes_back_named_without_row_values(rest, clinic):
    with pytest.raises(StoreError, match="cases_status_check") as err:
        rest.upsert_cases(clinic.id, [make_case(clinic.id, 1, status="exploded")])
    assert "client1@example.test" not in str(err.value) and SERVICE_ROLE_KEY not in str(err.value)
