"""Re-upserting unchanged cases writes nothing: no new row version, no row lock, 0 updated.

An INSERT ... ON CONFLICT DO UPDATE ... WHERE locks each conflicting row (sets its xmax, writes
WAL) before it evaluates the WHERE; upsert_cases filters unchanged rows out before it. Checked
through PostgresStore (COPY-staged) and through the upsert_cases(jsonb) function the Supabase
store calls, on a real PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pims_sync.models import UpsertResult
from pims_sync.store import _rows as rows

from .factories import make_cases


@pytest.fixture
def admin(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def _versions(admin, clinic_id: str) -> dict[str, tuple[str, str]]:
    """id -> (xmin, xmax): a new row version changes xmin, a row lock sets xmax."""
    found = admin.execute("select id::text, xmin::text, xmax::text from cases where clinic_id = %s",
                          (clinic_id,)).fetchall()
    return {r[0]: (r[1], r[2]) for r in found}


def test_store_reupsert_of_unchanged_rows_takes_no_lock(store, clinic, admin):
    cases = make_cases(clinic.id, 200)
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=200, updated=0, unchanged=0)
    before = _versions(admin, clinic.id)
    assert {xmax for _, xmax in before.values()} == {"0"}

    again = store.upsert_cases(clinic.id, cases)

    assert again == UpsertResult(created=0, updated=0, unchanged=200)
    assert _versions(admin, clinic.id) == before  # same xmin (no update) and xmax 0 (no lock)


def test_only_changed_rows_get_a_new_version(store, clinic, admin):
    cases = make_cases(clinic.id, 50)
    store.upsert_cases(clinic.id, cases)
    before = _versions(admin, clinic.id)
    changed = [replace(c, patient_name=c.patient_name + " (renamed)") if i % 10 == 0 else c
               for i, c in enumerate(cases)]

    result = store.upsert_cases(clinic.id, changed)

    assert result == UpsertResult(created=0, updated=5, unchanged=45)
    after = _versions(admin, clinic.id)
    touched = {k for k in before if after[k] != before[k]}
    assert len(touched) == 5


def test_json_entry_point_takes_no_lock_either(store, clinic, admin):
    """upsert_cases(jsonb), as SupabaseStore calls it over PostgREST, stages into the same path."""
    cases = make_cases(clinic.id, 30)
    docs = Jsonb([rows.case_to_json(c) for c in cases], dumps=rows.dumps)
    first = admin.execute("select upsert_cases(%s, %s)", (clinic.id, docs)).fetchone()[0]
    assert (first["created"], first["updated"], first["unchanged"]) == (30, 0, 0)
    before = _versions(admin, clinic.id)

    again = admin.execute("select upsert_cases(%s, %s)", (clinic.id, docs)).fetchone()[0]

    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 30)
    assert _versions(admin, clinic.id) == before
