"""Migrations: from zero, idempotent, a failing file rolls back and is named."""

from __future__ import annotations

import shutil
import threading

import psycopg
import pytest

from pims_sync.errors import StoreError
from pims_sync.models import AUDIT_STATUSES, CASE_STATUSES, CASE_TYPES, SYNC_TYPES, TRIGGERS
from pims_sync.store.migrate import (
    applied_migrations,
    apply_migrations,
    default_migrations_dir,
    migration_files,
)

EXPECTED_TABLES = {
    "clinics",
    "pims_credentials",
    "clinic_api_keys",
    "clinic_schedule_configs",
    "cases",
    "case_sync_audits",
    "clinic_schedule_snapshots",
    "schema_migrations",
}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall()
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
        ("case_sync_audits", "sync_type", SYNC_TYPES),
        ("case_sync_audits", "status", AUDIT_STATUSES),
        ("case_sync_audits", "trigger", TRIGGERS),
    ],
)
def test_check_constraints_match_the_models(database_url, table, column, allowed):
    assert _check_values(database_url, table, column) == set(allowed)
