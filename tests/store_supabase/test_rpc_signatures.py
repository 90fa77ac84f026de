"""Every function SupabaseStore calls over rpc exists in the migrations with the argument names it sends.

PostgREST resolves ``POST /rpc/<fn>`` by the JSON body's keys: a renamed or missing argument is a
PGRST202 at run time on a real project. The calls are recorded from the store itself (against
the fake PostgREST) and compared with pg_proc on a freshly migrated PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from tests.store.factories import make_cases

from .sample_rows import AUDIT_ID, CASE_ID, CLINIC_ID, audit_row

EXPECTED_FUNCTIONS = {
    "upsert_cases",
    "save_case_enrichment",
    "save_case_enrichments",
    "soft_delete_cases",
    "restore_cases",
    "start_audit",
    "audit_progress",
    "finish_audit",
    "fail_stale_audits",
    "sync_history_page",
    "sync_history_summary",
}


def _exercise_every_rpc(sb, postgrest) -> dict[str, set[str]]:
    postgrest.reply("POST", "rpc/upsert_cases", {"created": 1, "updated": 0, "unchanged": 0, "restored": 0})
    postgrest.reply("POST", "rpc/save_case_enrichment", True)
    postgrest.reply("POST", "rpc/save_case_enrichments", [True, False])
    postgrest.reply("POST", "rpc/soft_delete_cases", 1)
    postgrest.reply("POST", "rpc/restore_cases", 1)
    postgrest.reply("POST", "rpc/start_audit", audit_row())
    postgrest.reply("POST", "rpc/audit_progress", None, status=204)
    postgrest.reply("POST", "rpc/finish_audit", audit_row())
    postgrest.reply("POST", "rpc/fail_stale_audits", 0)
    postgrest.reply("POST", "rpc/sync_history_page", [])
    postgrest.reply("POST", "rpc/sync_history_summary", {"total": 0, "succeeded": 0, "failed": 0})
    sb.upsert_cases(CLINIC_ID, make_cases(CLINIC_ID, 1))
    sb.save_enrichment(CLINIC_ID, CASE_ID, {"id": "c"})
    sb.save_enrichments(CLINIC_ID, [(CASE_ID, {"id": "c"}), (AUDIT_ID, {"id": "d"})])
    sb.soft_delete_cases(CLINIC_ID, [CASE_ID])
    sb.restore_cases(CLINIC_ID, [CASE_ID])
    sb.start_audit(AUDIT_ID, task_id="t")
    sb.update_audit_progress(AUDIT_ID, processed=1, total=2, stats={}, phase="fetch")
    sb.finish_audit(AUDIT_ID, status="completed", stats={}, error=None)
    sb.fail_stale_audits(datetime.now(UTC))
    sb.sync_history(CLINIC_ID)
    calls: dict[str, set[str]] = {}
    for req in postgrest.take():
        assert req.method == "POST" and req.path.startswith("/rest/v1/rpc/"), req
        fn = req.path.removeprefix("/rest/v1/rpc/")
        calls.setdefault(fn, set()).update(req.body)
    return calls


def test_every_rpc_the_store_sends_matches_a_migrated_function(sb, postgrest, database_url):
    calls = _exercise_every_rpc(sb, postgrest)
    assert set(calls) == EXPECTED_FUNCTIONS
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            """
            select p.proname, p.proargnames, p.pronargs, p.pronargdefaults
              from pg_proc p
             where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)
            """,
            (sorted(calls),),
        ).fetchall()
    by_name: dict[str, list[tuple]] = {}
    for name, argnames, nargs, ndefaults in found:
        by_name.setdefault(name, []).append((argnames, nargs, ndefaults))
    for fn, sent in calls.items():
        assert fn in by_name, f"{fn} is not in supabase/migrations (PostgREST would answer PGRST202)"
        # one overload only: two would make PostgREST answer PGRST203 (ambiguous)
        ((argnames, nargs, ndefaults),) = by_name[fn]
        assert set(argnames[:nargs]) == sent, f"{fn}: store sends {sorted(sent)}, function takes {argnames}"
        required = set(argnames[: nargs - ndefaults])
        assert required <= sent, f"{fn}: arguments without a default not sent: {sorted(required - sent)}"
