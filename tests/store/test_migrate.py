"""Migrations: from zero, idempotent, a failing file rolls back and is named; the run mirror."""

from __future__ import annotations

import json
import shutil
import threading
import uuid

import psycopg
import pytest

from pims_sync.errors import StoreError
from pims_sync.models import AUDIT_STATUSES, CASE_STATUSES, CASE_TYPES, SYNC_TYPES, TRIGGERS
from pims_sync.store.migrate import (
    applied_migrations,
    apply_migrations,
    default_migrations_dir,
    migration_files,
    split_statements,
)

EXPECTED_TABLES = {
    "clinics",
    "idexx_credentials",
    "clinic_api_keys",
    "pims_sync_key_clinics",
    "clinic_schedule_configs",
    "cases",
    "case_sync_audits",
    "pims_sync_runs",
    "clinic_schedule_snapshots",
    "pims_sync_archived_cases",
}


def _tables(url: str, schema: str = "public") -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select tablename from pg_tables where schemaname = %s", (schema,)).fetchall()
    return {r[0] for r in rows}


def test_packaged_dir_is_the_supabase_migrations():
    files = migration_files()
    assert files, "no migration files found"
    assert default_migrations_dir().resolve().parts[-2:] == ("supabase", "migrations")
    assert [f.name for f in files] == sorted(f.name for f in files)


def test_from_zero_then_rerun_is_a_noop(empty_database_url):
    seen: list[tuple[str, str]] = []
    applied = apply_migrations(empty_database_url, on_progress=lambda name, state: seen.append((name, state)))
    names = [f.name for f in migration_files()]
    assert applied == names
    assert seen == [(n, s) for n in names for s in ("applying", "applied")]
    assert EXPECTED_TABLES <= _tables(empty_database_url)
    # our ledger lives in our own schema: the product may have a schema_migrations of its own
    assert "schema_migrations" in _tables(empty_database_url, "pims_sync")
    assert "schema_migrations" not in _tables(empty_database_url)
    assert applied_migrations(empty_database_url) == names

    assert apply_migrations(empty_database_url) == []
    assert applied_migrations(empty_database_url) == names


def test_failed_migration_rolls_back_and_names_the_file(empty_database_url, tmp_path):
    (tmp_path / "20260101000001_ok.sql").write_text("create table mig_ok (id int);")
    (tmp_path / "20260101000002_broken.sql").write_text(
        "create table mig_half (id int);\ninsert into mig_half values (1);\nselect * from no_such_table;"
    )
    with pytest.raises(StoreError) as err:
        apply_migrations(empty_database_url, directory=tmp_path)
    message = str(err.value)
    assert "20260101000002_broken.sql (line 3)" in message
    assert 'relation "no_such_table" does not exist' in message
    tables = _tables(empty_database_url)
    assert "mig_ok" in tables  # the good file before it stays applied
    assert "mig_half" not in tables  # the broken file left nothing behind
    assert applied_migrations(empty_database_url) == ["20260101000001_ok.sql"]

    # fixing the file lets the next run apply exactly that file
    (tmp_path / "20260101000002_broken.sql").write_text("create table mig_half (id int);")
    assert apply_migrations(empty_database_url, directory=tmp_path) == ["20260101000002_broken.sql"]


def test_two_processes_migrating_at_once_apply_each_file_once(empty_database_url, tmp_path):
    for f in migration_files():
        shutil.copy(f, tmp_path / f.name)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(apply_migrations(empty_database_url, directory=tmp_path))
        except BaseException as e:  # surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(len(r) for r in results) == [0, len(migration_files())]


def test_unreachable_database_is_a_store_error_without_the_password():
    url = "postgresql://someone:hunter2-secret@127.0.0.1:1/nothing"
    with pytest.raises(StoreError) as err:
        apply_migrations(url)
    assert "hunter2-secret" not in str(err.value)
    assert "cannot connect" in str(err.value)


def _check_values(url: str, table: str, column: str) -> set[str]:
    with psycopg.connect(url) as conn:
        defs = conn.execute(
            """
            select pg_get_constraintdef(c.oid) from pg_constraint c
             where c.conrelid = %s::regclass and c.contype = 'c'
            """,
            (table,),
        ).fetchall()
    import re

    for (d,) in defs:
        if f"({column} = ANY" in d or f"(({column} = ANY" in d:
            return set(re.findall(r"'([^']+)'::text", d))
    raise AssertionError(f"no CHECK on {table}.{column}: {defs}")


@pytest.mark.parametrize(
    "table,column,allowed",
    [
        ("cases", "status", CASE_STATUSES),
        ("cases", "type", CASE_TYPES),
        ("pims_sync_runs", "sync_type", SYNC_TYPES),
        ("pims_sync_runs", "status", AUDIT_STATUSES),
        ("pims_sync_runs", "trigger", TRIGGERS),
        # the product's table keeps the product's values only
        ("case_sync_audits", "sync_type", ("inbound", "cases", "reconciliation")),
        ("case_sync_audits", "status", ("in_progress", "completed", "failed")),
    ],
)
def test_check_constraints_match_the_models(database_url, table, column, allowed):
    assert _check_values(database_url, table, column) == set(allowed)


def test_split_statements_respects_quotes_comments_and_dollar_bodies():
    sql = (
        "-- a comment; not a statement\n"
        "create table a (x text default 'semi;colon');\n"
        "do $$ begin perform 1; perform 2; end $$;\n"
        "create function f() returns int language sql as $f$ select 1; $f$;\n"
        "/* block; comment */ select 'it''s; fine';\n"
        "-- trailing comment only\n"
    )
    parts = split_statements(sql)
    assert len(parts) == 4  # the trailing comment is no statement
    assert parts[0][1].endswith("create table a (x text default 'semi;colon');")  # its comment leads it
    assert [text.split()[0] for _, text in parts[1:]] == ["do", "create", "/*"]
    assert parts[1][1] == "do $$ begin perform 1; perform 2; end $$;"
    assert sql[parts[1][0] :].startswith("do $$")


def test_no_transaction_file_runs_statement_by_statement(empty_database_url, tmp_path):
    (tmp_path / "20260101000001_t.sql").write_text("create table t (id int);")
    (tmp_path / "20260101000002_idx.sql").write_text(
        "-- pims-sync: no-transaction\ncreate index concurrently if not exists t_id_idx on t (id);\n"
        "create index concurrently if not exists t_id2_idx on t (id);\n"
    )
    assert apply_migrations(empty_database_url, directory=tmp_path) == [
        "20260101000001_t.sql",
        "20260101000002_idx.sql",
    ]
    with psycopg.connect(empty_database_url) as conn:
        valid = conn.execute(
            "select count(*) from pg_index where indrelid = 't'::regclass and indisvalid"
        ).fetchone()[0]
    assert valid == 2


def test_lock_timeout_stops_the_migration_and_names_the_table(empty_database_url, tmp_path):
    (tmp_path / "20260101000001_t.sql").write_text("create table busy (id int);")
    apply_migrations(empty_database_url, directory=tmp_path)
    (tmp_path / "20260101000002_alter.sql").write_text("alter table busy add column if not exists extra int;")
    with psycopg.connect(empty_database_url) as holder:
        holder.execute("lock table busy in access share mode")  # a long read: the transaction stays open
        with pytest.raises(StoreError) as err:
            apply_migrations(empty_database_url, directory=tmp_path, lock_timeout_s=0.2)
        holder.rollback()
    message = str(err.value)
    assert "20260101000002_alter.sql" in message and "could not lock busy" in message
    assert "lock_timeout (0.2s)" in message
    assert applied_migrations(empty_database_url) == ["20260101000001_t.sql"]
    # once the other session is gone, the same file applies
    assert apply_migrations(empty_database_url, directory=tmp_path) == ["20260101000002_alter.sql"]


def test_new_tables_get_rls_on_a_fresh_database(database_url):
    with psycopg.connect(database_url) as conn:
        off = conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity"""
        ).fetchall()
    assert off == []


def _clinic(conn) -> str:
    return str(
        conn.execute(
            "insert into clinics (name, timezone) values (%s, 'America/New_York') returning id",
            (f"Mirror {uuid.uuid4().hex[:6]}",),
        ).fetchone()[0]
    )


def _mirror(conn, run_id) -> dict | None:
    row = conn.execute(
        """select sync_type, status, error_message, cases_created, total_items, processed_items,
                  progress_percentage from case_sync_audits where id = %s""",
        (run_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("sync_type", "status", "error_message", "cases_created", "total", "processed", "percent")
    return dict(zip(keys, row, strict=True))


def test_phase_runs_are_mirrored_into_case_sync_audits_in_the_products_vocabulary(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        clinic = _clinic(conn)
        parent = conn.execute(
            "insert into pims_sync_runs (clinic_id, sync_type, trigger) values (%s, 'full', 'api') returning id",
            (clinic,),
        ).fetchone()[0]
        phase = conn.execute(
            """insert into pims_sync_runs (clinic_id, sync_type, trigger, parent_id, phase)
               values (%s, 'inbound', 'api', %s, 'inbound') returning id""",
            (clinic, parent),
        ).fetchone()[0]
        assert _mirror(conn, phase) is None  # queued: nothing to show yet
        conn.execute("select start_audit(%s, 'task-1')", (phase,))
        conn.execute("select start_audit(%s, 'task-1')", (parent,))
        assert _mirror(conn, phase)["status"] == "in_progress"
        conn.execute("select audit_progress(%s, 5, 20, '{}'::jsonb, 'inbound')", (phase,))
        assert (
            _mirror(conn, phase)["processed"],
            _mirror(conn, phase)["total"],
            _mirror(conn, phase)["percent"],
        ) == (
            5,
            20,
            25,
        )
        conn.execute(
            "select finish_audit(%s, 'partial', %s::jsonb, 'appointment 42 could not be read')",
            (phase, '{"casesCreated": 3}'),
        )
        mirrored = _mirror(conn, phase)
        assert mirrored["status"] == "completed" and mirrored["cases_created"] == 3
        assert mirrored["error_message"] == "partial: appointment 42 could not be read"
        conn.execute("select finish_audit(%s, 'completed', '{}'::jsonb, null)", (parent,))
        assert _mirror(conn, parent) is None  # a full sync's parent row never appears

        skipped = conn.execute(
            """insert into pims_sync_runs (clinic_id, sync_type, trigger, status)
               values (%s, 'reconciliation', 'schedule', 'skipped') returning id""",
            (clinic,),
        ).fetchone()[0]
        assert _mirror(conn, skipped) is None
        failed = conn.execute(
            "insert into pims_sync_runs (clinic_id, sync_type, trigger) values (%s, 'cases', 'cli') returning id",
            (clinic,),
        ).fetchone()[0]
        conn.execute("select start_audit(%s)", (failed,))
        conn.execute("select finish_audit(%s, 'aborted', null, 'worker lost')", (failed,))
        assert _mirror(conn, failed)["status"] == "failed"
        assert _mirror(conn, failed)["error_message"] == "aborted: worker lost"
        statuses = {
            r[0]
            for r in conn.execute(
                "select distinct status from case_sync_audits where clinic_id = %s", (clinic,)
            )
        }
        assert statuses <= {"in_progress", "completed", "failed"}


def test_a_role_that_is_not_the_owner_can_use_the_functions_but_not_merge(database_url):
    """Supabase's service_role (or a dedicated login role) is not the owner of our schema."""
    role = f"pims_store_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {role} bypassrls")  # as Supabase's service_role
        conn.execute(f"grant select, insert, update, delete on all tables in schema public to {role}")
        try:
            clinic = _clinic(conn)
            conn.execute(f"set role {role}")
            cases = [
                {
                    "external_id": f"pims-appt-idexx-neo-{uuid.uuid4().hex[:6]}",
                    "status": "draft",
                    "pims_status": "scheduled",
                    "type": "checkup",
                    "scheduled_at": "2026-12-01T17:00:00+00:00",
                }
            ]
            result = conn.execute(
                "select upsert_cases(%s, %s::jsonb)", (clinic, json.dumps(cases))
            ).fetchone()[0]
            assert result["created"] == 1
            case_id = conn.execute("select id from cases where clinic_id = %s", (clinic,)).fetchone()[0]
            assert conn.execute("select soft_delete_cases(%s, %s)", (clinic, [case_id])).fetchone()[0] == 1
            assert conn.execute("select restore_cases(%s, %s)", (clinic, [case_id])).fetchone()[0] == 1
            run = conn.execute(
                "insert into pims_sync_runs (clinic_id, sync_type, trigger) values (%s, 'inbound', 'api') returning id",
                (clinic,),
            ).fetchone()[0]
            conn.execute("select start_audit(%s)", (run,))
            assert _mirror(conn, run)["status"] == "in_progress"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select pims_sync.merge_duplicate_cases()")
        finally:
            conn.execute("reset role")
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")
