"""`pims-sync db migrate` / `db status` end to end, as a subprocess against fresh databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pims_sync.store.migrate import migration_files


def _run(*args: str, database_url: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SUPABASE_"))}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "pims_sync.cli.main", "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_fresh_database_then_up_to_date(empty_database_url):
    names = [f.name for f in migration_files()]
    first = _run("migrate", database_url=empty_database_url)
    assert first.returncode == 0, first.stderr
    for name in names:
        assert f"applied {name}" in first.stdout
    assert f"{len(names)} migration(s) applied" in first.stdout

    again = _run("migrate", "--json", database_url=empty_database_url)
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert body["ok"] is True and body["applied"] == []

    status = _run("status", "--json", database_url=empty_database_url)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["migrations"] == [{"file": n, "applied": True} for n in names]


def test_migrate_json_lists_applied_files(empty_database_url):
    result = _run("migrate", "--json", database_url=empty_database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["applied"] == [f.name for f in migration_files()]


def test_failing_file_exits_1_and_is_named(empty_database_url, tmp_path):
    (tmp_path / "20260101000001_broken.sql").write_text("create table t (id int);\nselect 1/0;")
    result = _run("migrate", "--directory", str(tmp_path), database_url=empty_database_url)
    assert result.returncode == 1
    assert "20260101000001_broken.sql" in result.stderr
    assert "division by zero" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_database_url_exits_2_naming_it():
    result = _run("migrate", database_url=None)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_malformed_database_url_exits_2_naming_it():
    result = _run("migrate", database_url="mysql://user:pw@host/db")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "pw@" not in result.stderr


def test_unreachable_database_exits_1_without_password():
    result = _run("migrate", database_url="postgresql://pims:topsecret@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "topsecret" not in result.stderr + result.stdout
    assert "cannot connect" in result.stderr


def test_dry_run_on_a_fresh_database_lists_the_plan_and_applies_nothing(empty_database_url):
    result = _run("migrate", "--dry-run", database_url=empty_database_url)
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing was changed" in result.stdout
    assert "public.cases" in result.stdout and "public.pims_sync_runs" in result.stdout
    assert "duplicate cases found: 0 row(s) in 0 group(s)" in result.stdout
    assert "WARNING" not in result.stdout  # a fresh cases.user_id is nullable
    status = _run("status", "--json", database_url=empty_database_url)
    assert all(not m["applied"] for m in json.loads(status.stdout)["migrations"])

    assert _run("migrate", database_url=empty_database_url).returncode == 0
    again = _run("migrate", "--dry-run", "--json", database_url=empty_database_url)
    assert json.loads(again.stdout)["pending"] == []


def test_restore_duplicates_before_any_migration_exits_1_with_a_message(empty_database_url):
    result = _run("restore-duplicates", database_url=empty_database_url)
    assert result.returncode == 1
    assert "never migrated by pims-sync" in result.stderr and "Traceback" not in result.stderr


def test_bad_lock_timeout_exits_2_naming_the_option(empty_database_url):
    result = _run("migrate", "--lock-timeout", "0", database_url=empty_database_url)
    assert result.returncode == 2
    assert "--lock-timeout" in result.stderr
