"""What only a direct Postgres connection shows: xmin, concurrency, NOTIFY, errors, fork safety."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pims_sync.errors import StoreError
from pims_sync.models import EncryptedCredentials, UpsertResult
from pims_sync.store.postgres import PostgresStore

from .factories import make_case, make_cases, with_pims_status


def _xmins(url: str, clinic_id: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select external_id, xmin::text from cases where clinic_id = %s", (clinic_id,))
        return dict(rows.fetchall())


def test_unchanged_rows_are_not_rewritten(database_url, store, clinic):
    cases = make_cases(clinic.id, 1000)
    store.upsert_cases(clinic.id, cases)
    before = _xmins(database_url, clinic.id)
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=0, updated=0, unchanged=1000)
    assert _xmins(database_url, clinic.id) == before

    cases[7] = with_pims_status(cases[7], "completed")
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=0, updated=1, unchanged=999)
    after = _xmins(database_url, clinic.id)
    rewritten = {k for k in before if before[k] != after[k]}
    assert rewritten == {cases[7].external_id}


def test_concurrent_upserts_keep_the_unique_key(database_url, clinic):
    cases = make_cases(clinic.id, 1200)
    batches = [cases[:800], cases[400:]]  # 400 shared keys
    results: list[UpsertResult] = [None, None]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        store = PostgresStore(database_url, min_size=1, max_size=1)
        try:
            barrier.wait(10)
            results[i] = store.upsert_cases(clinic.id, batches[i])
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sum(r.created for r in results) == 1200
    assert sum(r.created + r.updated + r.unchanged for r in results) == 1600
    assert sum(r.updated for r in results) == 0
    with psycopg.connect(database_url) as conn:
        total, distinct = conn.execute(
            "select count(*), count(distinct (source, external_id)) from cases where clinic_id = %s",
            (clinic.id,),
        ).fetchone()
    assert total == distinct == 1200


def _listen(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("listen clinic_schedule_configs_changed")
    return conn


def _payloads(conn: psycopg.Connection, want: int) -> list[str]:
    got = []
    for note in conn.notifies(timeout=5, stop_after=want):
        got.append(note.payload)
    return got


def test_schedule_config_change_notifies_listeners(database_url, store, clinic):
    listener = _listen(database_url)
    try:
        store.set_schedule_config(clinic.id, [{"type": "inbound", "cron": "0 6 * * *", "enabled": True}])
        assert clinic.id in _payloads(listener, 1)
        row = store.set_schedule_config(clinic.id, [])
        assert row.version == 2
        assert clinic.id in _payloads(listener, 1)

        # the clinic's time zone is part of the schedule: changing it bumps and notifies too
        with psycopg.connect(database_url) as conn:
            conn.execute("update clinics set timezone = 'Europe/London' where id = %s", (clinic.id,))
        assert clinic.id in _payloads(listener, 1)
        bumped = store.get_schedule_config(clinic.id)
        assert bumped.version == 3 and bumped.timezone == "Europe/London"
    finally:
        listener.close()


def test_fail_stale_audits_only_touches_old_unfinished_rows(database_url, store, clinic):
    stuck = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    store.start_audit(stuck.id)
    queued = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="api")
    done = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="api")
    store.finish_audit(done.id, status="completed")
    fresh = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="api")
    with psycopg.connect(database_url) as conn:
        # age our rows without the updated_at trigger; other suites' rows stay fresh
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "update pims_sync_runs set updated_at = now() - interval '2 days' where id = any(%s::uuid[])",
            ([stuck.id, queued.id, done.id],),
        )
    assert store.fail_stale_audits(datetime.now(UTC) - timedelta(days=1), reason="worker lost") == 2
    for audit_id in (stuck.id, queued.id):
        a = store.get_audit(audit_id)
        assert a.status == "failed" and a.error_message == "worker lost" and a.finished_at is not None
    assert store.get_audit(done.id).status == "completed"
    assert store.get_audit(fresh.id).status == "queued"
    assert store.fail_stale_audits(datetime.now(UTC) - timedelta(days=1)) == 0


def test_fail_stale_audits_spares_a_queue_backlog_but_not_orphans(database_url, store, clinic):
    waiting = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    parent = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api")
    orphan = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="api", parent_id=parent.id)
    store.finish_audit(parent.id, status="failed", error="inbound failed")
    with psycopg.connect(database_url) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "update pims_sync_runs set updated_at = now() - interval '2 hours' where id = any(%s::uuid[])",
            ([waiting.id, orphan.id],),
        )
    assert store.fail_stale_audits(datetime.now(UTC) - timedelta(hours=1)) == 1
    assert store.get_audit(waiting.id).status == "queued", "a sync waiting in the queue is not lost"
    assert store.get_audit(orphan.id).status == "failed", "a phase whose sync has ended will never run"


def test_unreachable_database_error_hides_the_password():
    store = PostgresStore("postgresql://pims:s3cret-pw@127.0.0.1:1/none", timeout_s=1)
    try:
        with pytest.raises(StoreError) as err:
            store.ping()
        assert "s3cret-pw" not in str(err.value)
        assert "Connection refused" in str(err.value)  # says why, not only that the pool timed out
        assert "s3cret-pw" not in repr(store)
        assert isinstance(err.value.__cause__, psycopg.Error)
    finally:
        store.close()


def test_missing_function_names_the_fix(empty_database_url, clinic):
    store = PostgresStore(empty_database_url)
    try:
        with pytest.raises(StoreError, match="db migrate"):
            store.upsert_cases(clinic.id, make_cases(clinic.id, 1))
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_store_used_after_fork_opens_its_own_pool(store, clinic):
    store.ping()  # the parent's pool is open
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's sockets
        code = 1
        try:
            code = 0 if store.get_clinic(clinic.id).id == clinic.id else 1
            store.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get_clinic(clinic.id).id == clinic.id  # the parent's pool still works


def test_rpc_functions_exist_with_their_argument_names(database_url):
    expected = {
        "upsert_cases": ["p_clinic_id", "p_cases"],
        "save_case_enrichment": ["p_clinic_id", "p_case_id", "p_consultation"],
        "soft_delete_cases": ["p_clinic_id", "p_case_ids"],
        "restore_cases": ["p_clinic_id", "p_case_ids"],
        "start_audit": ["p_audit_id", "p_task_id"],
        "audit_progress": ["p_audit_id", "p_processed", "p_total", "p_stats", "p_phase"],
        "finish_audit": ["p_audit_id", "p_status", "p_stats", "p_error"],
        "fail_stale_audits": ["p_older_than", "p_reason"],
        "sync_history_page": ["p_clinic_id", "p_sync_type", "p_limit", "p_before_created_at", "p_before_id"],
        "sync_history_summary": ["p_clinic_id", "p_sync_type"],
    }
    with psycopg.connect(database_url) as conn:
        found = dict(
            conn.execute(
                "select proname, proargnames from pg_proc where pronamespace = 'public'::regnamespace "
                "and proname = any(%s)",
                (list(expected),),
            ).fetchall()
        )
    assert found == expected


def test_row_level_security_hides_rows_from_other_roles(database_url, store, clinic):
    """On a fresh Supabase, anon/authenticated read through PostgREST: the tables the migrations
    create have RLS and no policy, so they see nothing (the product's own tables keep theirs)."""
    role = f"pims_test_anon_{os.getpid()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {role} nologin")
        try:
            tables = ("clinics", "idexx_credentials", "clinic_api_keys", "pims_sync_key_clinics", "cases")
            conn.execute(f"grant select on {', '.join(tables)} to {role}")
            with conn.transaction():
                conn.execute(f"set local role {role}")
                for table in tables:
                    assert conn.execute(f"select count(*) from {table}").fetchone()[0] == 0
            assert conn.execute("select count(*) from clinics where id = %s", (clinic.id,)).fetchone()[0] == 1
        finally:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def test_postgres_store_implements_the_protocol_exactly():
    import inspect

    from pims_sync.store.base import Store

    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    methods = [n for n, v in vars(Store).items() if not n.startswith("_") and callable(v)]
    assert len(methods) > 30
    for name in methods:
        assert shape(getattr(PostgresStore, name)) == shape(getattr(Store, name)), name


# --- the product's shapes, written by SQL the way the product (or an operator) writes them ----


def _sql(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _cred_row(url: str, clinic_id: str, *, user: str, active: bool, age: str, tag: bytes) -> str:
    """A product credentials row (one per user) last updated ``age`` ago; triggers off to keep the age."""
    with psycopg.connect(url) as conn:
        conn.execute("set local session_replication_role = replica")
        (row_id,) = conn.execute(
            "insert into idexx_credentials (clinic_id, user_id, username_encrypted, password_encrypted, "
            "company_id_encrypted, is_active, updated_at, created_at) "
            "values (%s, %s, %s, %s, %s, %s, now() - %s::interval, now() - interval '30 days') returning id",
            (clinic_id, user, b"u" + tag, b"p" + tag, b"c" + tag, active, age),
        ).fetchone()
    return str(row_id)


def test_credentials_with_a_row_per_user_use_the_latest_active_one(database_url, store, clinic):
    older = _cred_row(database_url, clinic.id, user=str(uuid.uuid4()), active=True, age="2 days", tag=b"old")
    newer = _cred_row(database_url, clinic.id, user=str(uuid.uuid4()), active=True, age="1 day", tag=b"new")
    _cred_row(database_url, clinic.id, user=str(uuid.uuid4()), active=False, age="1 hour", tag=b"off")
    assert store.get_credentials(clinic.id).password_encrypted == b"pnew"

    # saving rewrites that row (no new row: the product's table has no unique key to catch a second)
    store.save_credentials(replace(store.get_credentials(clinic.id), password_encrypted=b"pnewer"))
    rows = dict(
        _sql(
            database_url,
            "select id::text, password_encrypted from idexx_credentials where clinic_id = %s",
            (clinic.id,),
        )
    )
    assert len(rows) == 3 and rows[newer] == b"pnewer" and rows[older] == b"pold"
    store.mark_credentials_validated(clinic.id, "idexx-neo", status="valid")
    ((validated,),) = _sql(
        database_url,
        "select id::text from idexx_credentials where validation_status = 'valid' and clinic_id = %s",
        (clinic.id,),
    )
    assert validated == newer

    # the cut-over flag goes on every row (the old service reads its own user's), and the row the
    # store uses is still the same one afterwards
    store.set_sync_enabled(clinic.id, False)
    flags = _sql(
        database_url, "select sync_enabled from idexx_credentials where clinic_id = %s", (clinic.id,)
    )
    assert flags == [(False,)] * 3
    assert store.get_clinic(clinic.id).sync_enabled is False
    assert store.get_credentials(clinic.id).password_encrypted == b"pnewer"


def test_first_credentials_belong_to_the_clinic_owner(database_url, store):
    owner = str(uuid.uuid4())
    clinic = store.create_clinic(name="Owned", timezone="UTC", owner_user_id=owner)
    store.save_credentials(
        EncryptedCredentials(
            clinic_id=clinic.id,
            provider="idexx",
            username_encrypted=b"u",
            password_encrypted=b"p",
            company_id_encrypted=b"c",
        )
    )
    rows = _sql(
        database_url,
        "select user_id::text, sync_enabled from idexx_credentials where clinic_id = %s",
        (clinic.id,),
    )
    assert rows == [(owner, True)]


def test_the_seeds_key_insert_is_read_as_a_key(database_url, store, clinic):
    """The seed's own SQL (clinic_id, key_prefix, key_hash, permissions); the product's spellings."""
    key_hash = hashlib.sha256(b"seed key").hexdigest()
    _sql(
        database_url,
        "INSERT INTO clinic_api_keys (clinic_id, key_prefix, key_hash, permissions) "
        "VALUES (%s, 'abcd1234', %s, ARRAY['sync:inbound', 'cases', 'reconciliation'])",
        (clinic.id, key_hash),
    )
    key = store.find_api_key(key_hash)
    assert (key.clinic_id, key.name, key.key_prefix, key.is_active) == (clinic.id, None, "abcd1234", True)
    assert key.permissions == ("sync:inbound", "sync:cases", "sync:reconcile")
    assert store.list_api_keys(clinic.id) == [key]


def test_keys_of_a_clinic_with_an_owner_belong_to_the_owner(database_url, store):
    owner = str(uuid.uuid4())
    clinic = store.create_clinic(name="Owned keys", timezone="UTC", owner_user_id=owner)
    key = store.create_api_key(clinic_id=clinic.id, name="ops", key_prefix="pk_own", key_hash="e" * 64)
    assert _sql(database_url, "select user_id::text from clinic_api_keys where id = %s", (key.id,)) == [
        (owner,)
    ]


def test_a_humans_status_and_the_products_metadata_survive_inbound(database_url, store, clinic):
    cases = [make_case(clinic.id, 0), make_case(clinic.id, 1)]
    store.upsert_cases(clinic.id, cases)
    ids = {r["external_id"]: r["id"] for r in store.list_cases(clinic.id)}
    human, synced = ids[cases[0].external_id], ids[cases[1].external_id]
    _sql(
        database_url,
        "update cases set status = 'completed', metadata = metadata || '{\"notes\": \"kept\"}' where id = %s",
        (human,),
    )
    _sql(
        database_url,
        'update cases set metadata = metadata || \'{"notes": "also kept"}\' where id = %s',
        (synced,),
    )
    moved = [with_pims_status(c, "arrived") for c in cases]
    assert store.upsert_cases(clinic.id, moved).updated == 2
    rows = {r["id"]: r for r in store.list_cases(clinic.id)}
    assert (rows[human]["status"], rows[human]["pims_status"]) == ("completed", "arrived")  # the human wins
    assert (rows[synced]["status"], rows[synced]["pims_status"]) == ("ongoing", "arrived")
    assert rows[human]["metadata"]["notes"] == "kept" and rows[synced]["metadata"]["notes"] == "also kept"
    assert rows[synced]["metadata"]["pimsAppointment"] == cases[1].metadata["pimsAppointment"]


def test_phase_runs_reach_the_products_audit_table_in_its_vocabulary(database_url, store, clinic):
    parent = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api")
    phase = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api", parent_id=parent.id)
    mirrored = "select status, cases_created from case_sync_audits where id = %s"
    assert _sql(database_url, mirrored, (phase.id,)) == []  # queued: not shown yet
    store.start_audit(phase.id)
    assert _sql(database_url, mirrored, (phase.id,)) == [("in_progress", 0)]
    store.finish_audit(phase.id, status="partial", stats={"casesCreated": 3})
    assert _sql(database_url, mirrored, (phase.id,)) == [("completed", 3)]
    store.finish_audit(parent.id, status="partial")
    assert _sql(database_url, mirrored, (parent.id,)) == []  # full-sync rows are ours alone
    assert store.get_audit(phase.id).status == "partial"  # our vocabulary, in pims_sync_runs
