"""Adopting the product's database in place: dry run, migrate twice, nothing lost, the way back.

The database comes from tests/fixtures/product_db.py (the product's tables from the schema facts,
with ENUM statuses, duplicates, a product table referencing cases, shared keys, old audits). The
CLI runs as a subprocess, as an operator would run it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pims_sync.models import PIMS_STATUSES, case_status_for
from pims_sync.store.dedupe import UNIQUE_KEY_INDEX, UNIQUE_KEY_MIGRATION
from pims_sync.store.migrate import apply_migrations
from tests.fixtures.db import create_database, drop_database
from tests.fixtures.product_db import (
    PRODUCT_TABLES,
    ProductFixture,
    build_product_database,
    scratch_product_database,
)

# The seed's SQL (shared/seed/pims-sync-README.md), verbatim but for its placeholders.
SEED_INSERT_KEY = """-- Create an API key for a clinic
INSERT INTO clinic_api_keys (clinic_id, key_prefix, key_hash, permissions)
VALUES (
  'your-clinic-uuid',
  'abcd1234', -- First 8 chars of your key
  'sha256-hash-of-full-key',
  ARRAY['sync:inbound', 'sync:cases', 'sync:reconcile'] -- Or NULL for full access
);"""
SEED_SELECT_CREDENTIALS = """-- Check IDEXX credentials exist
SELECT * FROM idexx_credentials WHERE clinic_id = 'your-clinic-id' AND is_active = true;"""
SEED_SELECT_KEYS = """-- Check API key exists
SELECT * FROM clinic_api_keys WHERE clinic_id = 'your-clinic-id';"""
SEED_UPDATE_SCHEDULES = """-- Configure sync schedules for a clinic
UPDATE clinic_schedule_configs
SET sync_schedules = '[
  {"type": "inbound", "cron": "0 6 * * *", "enabled": true},
  {"type": "cases", "cron": "0 8,14,20 * * *", "enabled": true},
  {"type": "reconciliation", "cron": "0 2 * * *", "enabled": true}
]'::jsonb
WHERE clinic_id = 'your-clinic-uuid';"""


@pytest.fixture
def product_database() -> Iterator[ProductFixture]:
    with scratch_product_database() as fx:
        yield fx


def _db(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SUPABASE_"))}
    env.update(DATABASE_URL=url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "pims_sync.cli.main", "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _dump(url: str) -> str:
    """Schema and data, as pg_dump sees them (the dry run must leave both identical)."""
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    # pg_dump's \restrict and \unrestrict lines carry a random token per run
    return "\n".join(
        line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def _columns(conn, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            """select attname from pg_attribute where attrelid = %s::regclass and attnum > 0
                and not attisdropped order by attnum""",
            (table,),
        )
    ]


def _rows(conn, table: str, columns: list[str]) -> dict[str, dict]:
    """Rows keyed by their first column, restricted to ``columns`` (the product's, before adoption)."""
    out = {}
    for (doc,) in conn.execute(f"select to_jsonb(t) from {table} t"):
        row = {c: doc.get(c) for c in columns}
        out[str(row[columns[0]])] = row
    return out


def _snapshot(url: str, columns: dict[str, list[str]] | None = None) -> dict:
    """The product's tables: rows (in ``columns``, default: all of today's), RLS, policies, types."""
    with psycopg.connect(url) as conn:
        all_columns = {t: _columns(conn, t) for t in PRODUCT_TABLES}
        columns = columns or all_columns
        return {
            "columns": all_columns,
            "rows": {t: _rows(conn, t, columns[t]) for t in PRODUCT_TABLES},
            "rls": conn.execute(
                "select relname, relrowsecurity from pg_class where relname = any(%s)"
                " and relnamespace = 'public'::regnamespace order by 1",
                (list(PRODUCT_TABLES),),
            ).fetchall(),
            "policies": conn.execute(
                "select polrelid::regclass::text, polname, pg_get_expr(polqual, polrelid) from pg_policy order by 1, 2"
            ).fetchall(),
            "publication": conn.execute(
                "select tablename from pg_publication_tables where pubname = 'supabase_realtime'"
            ).fetchall(),
            "types": conn.execute(
                """select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute
                    where attrelid = 'cases'::regclass and attname in ('status', 'type', 'visibility', 'user_id')
                    order by 1"""
            ).fetchall(),
            "key_columns": conn.execute(
                """select attname, attnotnull from pg_attribute where attrelid = 'clinic_api_keys'::regclass
                    and attname in ('user_id', 'name') order by 1"""
            ).fetchall(),
            "checks": conn.execute(
                """select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
                    where conrelid = any(%s::regclass[]) order by 1, 2""",
                (list(PRODUCT_TABLES),),
            ).fetchall(),
        }


def test_dry_run_prints_the_plan_and_changes_nothing(product_database: ProductFixture):
    url = product_database.url
    before = _dump(url)

    result = _db("migrate", "--dry-run", url=url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dry run: nothing was changed" in out
    assert (
        "tables to create:" in out
        and "public.pims_sync_runs" in out
        and "public.pims_sync_archived_cases" in out
    )
    assert "existing tables to adopt" in out and "public.cases" in out and "public.clinic_api_keys" in out
    assert "public.cases.pims_status text" in out and "public.cases.deleted_at" in out
    assert "public.clinic_api_keys.clinic_id uuid" not in out  # present (nullable) in this variant
    assert "public.upsert_cases(p_clinic_id uuid, p_cases jsonb) (new)" in out
    assert "create unique index concurrently if not exists cases_clinic_source_external_key" in out
    assert "duplicate cases found: 3 row(s) in 2 group(s)" in out
    assert "WARNING:" in out and "cases.user_id is NOT NULL" in out and product_database.clinic_id in out
    assert "copied 1 schedule row(s)" in out
    assert (
        "row-level security enabled on (new tables)" in out
        and "public.cases\n" not in out.split("row-level")[1]
    )

    as_json = _db("migrate", "--dry-run", "--json", url=url)
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert plan["dry_run"] is True and plan["duplicate_rows"] == 3 and plan["duplicate_groups"] == 2
    assert plan["constraints_dropped"] == [] and plan["policies_changed"] == []
    assert set(plan["rls_enabled"]) <= set(plan["tables_created"])

    assert _dump(url) == before  # schema and data exactly as they were
    assert _db("status", "--json", url=url).returncode == 0


@pytest.mark.parametrize(
    "keys_without_clinic_column", [False, True], ids=["clinic_id-null", "clinic_id-dropped"]
)
def test_migrate_twice_adopts_in_place_and_loses_nothing(keys_without_clinic_column):
    url = create_database("pims_test_product")
    try:
        fx = build_product_database(url, keys_without_clinic_column=keys_without_clinic_column)
        before = _snapshot(url)

        first = _db("migrate", url=url)
        assert first.returncode == 0, first.stderr
        assert "merged 3 duplicate case(s)" in first.stdout
        assert "copied 1 schedule row(s)" in first.stdout
        assert "3 existing clinic(s) keep sync_owner = 'legacy'" in first.stdout
        second = _db("migrate", url=url)
        assert second.returncode == 0, second.stderr
        assert "is up to date" in second.stdout
        assert "nothing to do" in _db("migrate", "--dry-run", url=url).stdout

        after = _snapshot(url, before["columns"])
        for key in ("rls", "policies", "publication", "types", "key_columns"):
            assert after[key] == before[key], key
        # constraints: only additions (a new FK when the product had dropped clinic_id)
        assert set(before["checks"]) <= set(after["checks"])
        for table in PRODUCT_TABLES:
            assert after["columns"][table][: len(before["columns"][table])] == before["columns"][table], table

        rows_before, rows_after = before["rows"], after["rows"]
        for table in PRODUCT_TABLES:
            if table in ("cases", "case_notes", "clinic_schedule_configs"):
                continue
            assert rows_after[table] == rows_before[table], table  # every product column, every row
        # cases: every row but the merged-away copies, every product column untouched
        expected_cases = {k: v for k, v in rows_before["cases"].items() if k not in fx.merged_away}
        assert rows_after["cases"] == expected_cases
        # notes that pointed at a merged-away copy now point at its survivor; nothing else moved
        for note_id, case_id in fx.note_ids.items():
            row = rows_after["case_notes"][note_id]
            assert row["case_id"] == fx.merged_away.get(case_id, case_id)
            assert {k: v for k, v in row.items() if k != "case_id"} == {
                k: v for k, v in rows_before["case_notes"][note_id].items() if k != "case_id"
            }
        # schedules: the plural row kept; the clinic with only a singular row got it carried over
        for key, row in rows_before["clinic_schedule_configs"].items():
            assert rows_after["clinic_schedule_configs"][key] == row

        with psycopg.connect(url) as conn:
            archived = conn.execute(
                "select case_id::text, survivor_id::text, row_data from pims_sync_archived_cases order by archive_id"
            ).fetchall()
            assert {a[0]: a[1] for a in archived} == fx.merged_away
            for case_id, _survivor, row_data in archived:
                assert {c: row_data.get(c) for c in before["columns"]["cases"]} == rows_before["cases"][
                    case_id
                ]
            carried = conn.execute(
                "select sync_schedules from clinic_schedule_configs where clinic_id = %s",
                (fx.other_clinic_id,),
            ).fetchone()[0]
            assert carried == [{"type": "reconciliation", "cron": "0 2 * * *", "enabled": True}]
            assert conn.execute(
                "select indisvalid and indisunique from pg_index where indexrelid = %s::regclass",
                (UNIQUE_KEY_INDEX,),
            ).fetchone() == (True,)
            owners = dict(conn.execute("select id::text, sync_owner from clinics").fetchall())
            assert set(owners.values()) == {"legacy"}
            new_owner = conn.execute(
                "insert into clinics (name) values ('Opened after the switch') returning sync_owner, timezone"
            ).fetchone()
            assert new_owner == ("pims-sync", "America/Los_Angeles")
            key_cols = dict(
                conn.execute(
                    """select attname, attnotnull from pg_attribute where attrelid = 'clinic_api_keys'::regclass
                        and attname in ('clinic_id', 'user_id', 'name')"""
                ).fetchall()
            )
            assert key_cols == {"clinic_id": False, "user_id": True, "name": True}
            shared = conn.execute(
                "select clinic_id from clinic_api_keys where id = %s", (fx.keys["shared"].id,)
            ).fetchone()
            assert shared == (None,)
            # the product's own ledger is untouched; ours is in our schema
            assert conn.execute("select count(*) from schema_migrations").fetchone()[0] == 2
            assert conn.execute("select count(*) from pims_sync.schema_migrations").fetchone()[0] >= 7
            # old audits keep their values; the product's CHECKs were not widened
            assert conn.execute("select count(*) from case_sync_audits").fetchone()[0] == 3
    finally:
        drop_database(url)


def test_restore_duplicates_puts_archived_rows_back(product_database: ProductFixture):
    fx, url = product_database, product_database.url
    before = _snapshot(url)
    assert _db("migrate", url=url).returncode == 0

    result = _db("restore-duplicates", url=url)
    assert result.returncode == 0, result.stderr
    assert f"dropped the unique index {UNIQUE_KEY_INDEX}" in result.stdout
    assert "restored 3 archived duplicate case(s)" in result.stdout
    assert "pims-sync db migrate" in result.stdout

    with psycopg.connect(url) as conn:
        columns = before["columns"]["cases"]
        rows = _rows(conn, "cases", columns)
        assert rows == before["rows"]["cases"]  # every case back, as it was
        notes = dict(conn.execute("select id::text, case_id::text from case_notes").fetchall())
        assert notes == fx.note_ids  # the product's rows point at the restored copies again
        assert conn.execute("select to_regclass(%s)", (UNIQUE_KEY_INDEX,)).fetchone() == (None,)
        ledger = {r[0] for r in conn.execute("select filename from pims_sync.schema_migrations")}
        assert UNIQUE_KEY_MIGRATION not in ledger

    again = _db("restore-duplicates", "--json", url=url)
    assert json.loads(again.stdout) == {
        "ok": True,
        "database": url,
        "restored": 0,
        "index_dropped": False,
    }

    remigrate = _db("migrate", url=url)
    assert remigrate.returncode == 0, remigrate.stderr
    assert (
        f"applied {UNIQUE_KEY_MIGRATION}" in remigrate.stdout
        and "merged 3 duplicate case(s)" in remigrate.stdout
    )
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from pims_sync_archived_cases where restored_at is null"
        ).fetchone() == (3,)


def test_an_invalid_index_left_by_an_interrupted_build_is_rebuilt(product_database: ProductFixture):
    url = product_database.url
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):  # the duplicates make the build fail
            conn.execute(
                f"create unique index concurrently {UNIQUE_KEY_INDEX} on cases (clinic_id, source, external_id)"
            )
        assert conn.execute(
            "select indisvalid from pg_index where indexrelid = %s::regclass", (UNIQUE_KEY_INDEX,)
        ).fetchone() == (False,)
    notices: list[str] = []
    apply_migrations(url, on_notice=notices.append)
    assert any(f"dropping index {UNIQUE_KEY_INDEX} left INVALID" in n for n in notices)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select indisvalid from pg_index where indexrelid = %s::regclass", (UNIQUE_KEY_INDEX,)
        ).fetchone() == (True,)


def _seed(sql: str, **values: str) -> str:
    for placeholder, value in values.items():
        sql = sql.replace(placeholder, value)
    return sql


def test_seed_sql_runs_verbatim_on_a_fresh_database(empty_database_url):
    from pims_sync.apikeys import hash_api_key
    from pims_sync.store.postgres import PostgresStore

    url = empty_database_url
    apply_migrations(url)
    key = "abcd1234" + uuid.uuid4().hex + uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        clinic = str(conn.execute("insert into clinics (name) values ('Seeded') returning id").fetchone()[0])
        conn.execute(
            _seed(
                SEED_INSERT_KEY,
                **{
                    "your-clinic-uuid": clinic,
                    "abcd1234": key[:8],
                    "sha256-hash-of-full-key": hash_api_key(key),
                },
            )
        )
        found = conn.execute(_seed(SEED_SELECT_KEYS, **{"your-clinic-id": clinic})).fetchall()
        assert len(found) == 1
        conn.execute(
            """insert into idexx_credentials (clinic_id, username_encrypted, password_encrypted, company_id_encrypted)
               values (%s, '\\x00', '\\x00', '\\x00')""",
            (clinic,),
        )
        assert len(conn.execute(_seed(SEED_SELECT_CREDENTIALS, **{"your-clinic-id": clinic})).fetchall()) == 1
        conn.execute("insert into clinic_schedule_configs (clinic_id) values (%s)", (clinic,))
        conn.execute(_seed(SEED_UPDATE_SCHEDULES, **{"your-clinic-uuid": clinic}))
        schedules, version = conn.execute(
            "select sync_schedules, version from clinic_schedule_configs where clinic_id = %s", (clinic,)
        ).fetchone()
        assert [s["type"] for s in schedules] == ["inbound", "cases", "reconciliation"] and version == 2

    store = PostgresStore(url, min_size=1, max_size=1)
    try:  # the seeded key authenticates
        record = store.find_api_key(hash_api_key(key))
    finally:
        store.close()
    assert record is not None and record.clinic_id == clinic and record.is_active


def test_seed_sql_on_an_adopted_database(product_database: ProductFixture):
    fx = product_database
    apply_migrations(fx.url)
    with psycopg.connect(fx.url, autocommit=True) as conn:
        creds = conn.execute(_seed(SEED_SELECT_CREDENTIALS, **{"your-clinic-id": fx.clinic_id})).fetchall()
        assert len(creds) == 1  # the active row of the two
        keys = conn.execute(_seed(SEED_SELECT_KEYS, **{"your-clinic-id": fx.clinic_id})).fetchall()
        assert len(keys) == 1  # the bound key; the shared one has no clinic
        conn.execute(_seed(SEED_UPDATE_SCHEDULES, **{"your-clinic-uuid": fx.clinic_id}))
        assert conn.execute(
            "select jsonb_array_length(sync_schedules), version from clinic_schedule_configs where clinic_id = %s",
            (fx.clinic_id,),
        ).fetchone() == (3, 2)
        # the product's own constraints on its keys table stay: a key needs a user and a name there
        key = uuid.uuid4().hex * 2
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(
                _seed(
                    SEED_INSERT_KEY,
                    **{
                        "your-clinic-uuid": fx.clinic_id,
                        "abcd1234": key[:8],
                        "sha256-hash-of-full-key": hashlib.sha256(key.encode()).hexdigest(),
                    },
                )
            )


def _case(fx: ProductFixture, role: str, *, pims_status: str, type_: str = "checkup", **extra) -> dict:
    return {
        "source": "pims:idexx-neo",
        "external_id": fx.external_id(role) if role in fx.appointment_ids else role,
        "status": case_status_for(pims_status),
        "pims_status": pims_status,
        "type": type_,
        "scheduled_at": datetime(2026, 12, 1, 17, tzinfo=UTC).isoformat(),
        "patient_name": "Rex",
        "client_name": "Ada Owner",
        "metadata": {"pimsAppointment": {"status": pims_status}},
        **extra,
    }


def _upsert(conn, clinic: str, cases: list[dict]) -> dict:
    return conn.execute("select upsert_cases(%s, %s)", (clinic, Jsonb(cases))).fetchone()[0]


def _row(conn, case_id: str) -> dict:
    return conn.execute("select to_jsonb(c) from cases c where id = %s", (case_id,)).fetchone()[0]


def test_sql_functions_on_the_adopted_enum_database(product_database: ProductFixture):
    fx = product_database
    apply_migrations(fx.url)
    with psycopg.connect(fx.url, autocommit=True) as conn:
        conn.execute("update clinics set owner_user_id = %s where id = %s", (fx.owner_user_id, fx.clinic_id))
        draft_before = _row(conn, fx.cases["draft"])
        count_before = conn.execute("select count(*) from cases").fetchone()[0]

        result = _upsert(
            conn,
            fx.clinic_id,
            [
                _case(fx, "draft", pims_status="arrived", type_="follow_up"),
                _case(fx, "human_completed", pims_status="in_progress"),
                _case(fx, "old_soft_deleted", pims_status="confirmed", type_="grooming"),
                _case(fx, "pims-appt-idexx-neo-9001", pims_status="scheduled", type_="grooming"),
            ],
        )
        assert result == {"created": 1, "updated": 3, "unchanged": 0, "restored": 1}
        assert conn.execute("select count(*) from cases").fetchone()[0] == count_before + 1

        draft = _row(conn, fx.cases["draft"])  # existing case updated in place, the sync owns it
        assert (draft["status"], draft["sync_status"], draft["pims_status"]) == (
            "ongoing",
            "ongoing",
            "arrived",
        )
        assert (draft["type"], draft["pims_type"]) == ("follow-up", "follow_up")  # the product's label
        assert draft["metadata"]["productFlags"] == {"reminderSent": True}  # the product's key kept
        assert draft["metadata"]["pimsAppointment"] == {"status": "arrived"}
        for column in (
            "user_id",
            "visibility",
            "is_urgent",
            "is_starred",
            "cadence_next_due_at",
            "cadence_count",
            "notes",
        ):
            assert draft[column] == draft_before[column], column

        human = _row(conn, fx.cases["human_completed"])
        assert (human["status"], human["pims_status"]) == (
            "completed",
            "in_progress",
        )  # a human's change wins
        assert human["metadata"]["dischargeSummary"] == "stable"

        revived = _row(conn, fx.cases["old_soft_deleted"])  # the old service's soft delete, reappeared
        assert (revived["status"], revived["deleted_at"]) == ("draft", None)
        assert "reconciliation" not in revived["metadata"]
        assert (revived["type"], revived["pims_type"]) == (
            "consultation",
            "grooming",
        )  # no label: type left alone

        new = conn.execute(
            "select to_jsonb(c) from cases c where clinic_id = %s and external_id = 'pims-appt-idexx-neo-9001'",
            (fx.clinic_id,),
        ).fetchone()[0]
        assert (new["status"], new["sync_status"], new["user_id"]) == ("draft", "draft", fx.owner_user_id)
        assert (new["type"], new["pims_type"], new["visibility"]) == (None, "grooming", "private")

        again = _upsert(
            conn,
            fx.clinic_id,
            [
                _case(fx, "draft", pims_status="arrived", type_="follow_up"),
                _case(fx, "human_completed", pims_status="in_progress"),
            ],
        )
        assert again == {"created": 0, "updated": 0, "unchanged": 2, "restored": 0}

        # reconciliation, the product's way
        deleted = conn.execute(
            "select soft_delete_cases(%s, %s)",
            (fx.clinic_id, [fx.cases["draft"], fx.cases["human_completed"]]),
        ).fetchone()[0]
        assert deleted == 2
        gone = _row(conn, fx.cases["draft"])
        assert (gone["status"], gone["sync_status"]) == ("reviewed", "reviewed") and gone["deleted_at"]
        marker = gone["metadata"]["reconciliation"]
        assert marker["previousStatus"] == "ongoing" and marker["deletedAt"] and marker["reason"]
        assert gone["metadata"]["productFlags"] == {"reminderSent": True}
        kept = _row(conn, fx.cases["human_completed"])
        assert kept["status"] == "completed" and kept["deleted_at"] and "reconciliation" in kept["metadata"]

        restored = conn.execute(
            "select restore_cases(%s, %s)", (fx.clinic_id, [fx.cases["draft"], fx.cases["human_completed"]])
        ).fetchone()[0]
        assert restored == 2
        back = _row(conn, fx.cases["draft"])
        assert (back["status"], back["deleted_at"]) == (
            "ongoing",
            None,
        )  # the mapping of pims_status 'arrived'
        assert "reconciliation" not in back["metadata"]
        assert _row(conn, fx.cases["human_completed"])["status"] == "completed"

        assert conn.execute(
            "select save_case_enrichment(%s, %s, %s)",
            (fx.clinic_id, fx.cases["draft"], Jsonb({"notes": "SOAP"})),
        ).fetchone()[0]
        assert _row(conn, fx.cases["draft"])["metadata"]["productFlags"] == {"reminderSent": True}


def test_sql_status_mapping_matches_python(database_url):
    values = [*PIMS_STATUSES, None, "", "unknown", "Completed"]
    with psycopg.connect(database_url) as conn:
        sql = [conn.execute("select pims_sync.case_status_for(%s)", (v,)).fetchone()[0] for v in values]
    assert sql == [case_status_for(v) for v in values]
