"""upsert_staged_cases' plain INSERT for a batch whose keys are all new (migration
*_upsert_new_cases_fast.sql), on a real PostgreSQL.

It must store exactly what the general INSERT ... ON CONFLICT stores, and a concurrent upsert that
stores one of the keys first must send it to the general path instead of failing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pims_sync.models import UpsertResult
from pims_sync.store import _rows as rows

from .factories import make_case, make_cases

_SKIP = {"id", "clinic_id", "created_at", "updated_at"}


def _stored(store, clinic_id: str) -> dict[str, dict]:
    return {r["external_id"]: {k: v for k, v in r.items() if k not in _SKIP} for r in store.list_cases(clinic_id)}


def _batch(clinic_id: str) -> list:
    """Repeated keys, metadata that must lose the keys enrichment and reconciliation own, types."""
    cases = make_cases(clinic_id, 12)
    cases[1] = replace(cases[1], metadata={**cases[1].metadata, "pimsConsultation": {"id": 1},
                                           "reconciliation": {"at": "x"}})
    cases[2] = replace(cases[2], metadata={})
    cases[3] = replace(cases[3], type="vaccination", status="completed", pims_status="completed")
    cases.append(replace(cases[5], patient_name="Renamed in the same batch"))  # the last one wins
    return cases


def test_a_new_batch_stores_what_the_general_path_stores(store):
    fast = store.create_clinic(name="fast path", timezone="America/New_York")
    general = store.create_clinic(name="general path", timezone="America/New_York")
    batch = _batch(fast.id)
    # one key of the batch already stored: the whole batch takes INSERT ... ON CONFLICT
    store.upsert_cases(general.id, [replace(batch[0], clinic_id=general.id)])

    assert store.upsert_cases(fast.id, batch) == UpsertResult(created=12, updated=0, unchanged=1)
    assert store.upsert_cases(general.id, [replace(c, clinic_id=general.id) for c in batch]) == UpsertResult(
        created=11, updated=0, unchanged=2)

    assert _stored(store, fast.id) == _stored(store, general.id)
    stored = _stored(store, fast.id)
    assert set(stored[batch[1].external_id]["metadata"]) == {"pimsAppointment"}
    assert stored[batch[5].external_id]["patient_name"] == "Renamed in the same batch"
    assert store.upsert_cases(fast.id, batch) == UpsertResult(created=0, updated=0, unchanged=13)


def test_a_new_batch_through_the_json_entry_point(store, clinic, database_url):
    """upsert_cases(jsonb), as SupabaseStore calls it: a null metadata and a missing source too."""
    docs = [rows.case_to_json(c) for c in make_cases(clinic.id, 3)]
    docs[0]["metadata"] = None
    del docs[1]["source"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        result = conn.execute("select upsert_cases(%s, %s)", (clinic.id, Jsonb(docs, dumps=rows.dumps))).fetchone()[0]
    assert (result["created"], result["updated"], result["unchanged"]) == (3, 0, 0)
    stored = {r["external_id"]: r for r in store.list_cases(clinic.id)}
    assert stored[docs[0]["external_id"]]["metadata"] == {}
    assert stored[docs[1]["external_id"]]["source"] == "pims:idexx-neo"


def _wait_until_blocked(conn: psycopg.Connection, pid: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = conn.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
        if waiting and waiting[0] == "Lock":
            return
        time.sleep(0.02)
    pytest.fail("the second upsert never waited for the first one's uncommitted key")


def test_a_key_stored_concurrently_sends_the_batch_to_the_general_path(store, clinic, database_url):
    first = make_case(clinic.id, 1)
    second = replace(first, patient_name="Second writer")
    result: dict = {}

    with psycopg.connect(database_url) as holder, psycopg.connect(database_url, autocommit=True) as watcher:
        # the first upsert stores the key and keeps its transaction open
        holder.execute("select upsert_cases(%s, %s)",
                       (clinic.id, Jsonb([rows.case_to_json(first)], dumps=rows.dumps)))
        other = psycopg.connect(database_url)
        pid = other.info.backend_pid

        def second_upsert():
            try:
                result["value"] = other.execute(
                    "select upsert_cases(%s, %s)", (clinic.id, Jsonb([rows.case_to_json(second)], dumps=rows.dumps))
                ).fetchone()[0]
                other.commit()
            except psycopg.Error as e:  # pragma: no cover - what the test exists to catch
                result["error"] = e

        thread = threading.Thread(target=second_upsert)
        thread.start()
        try:
            # it saw no stored key, took the plain INSERT, and now waits on the first one's key
            _wait_until_blocked(watcher, pid)
            holder.commit()
            thread.join(20)
        finally:
            other.close()

    assert "error" not in result, result.get("error")
    assert (result["value"]["created"], result["value"]["updated"]) == (0, 1)
    (row,) = store.list_cases(clinic.id)
    assert row["patient_name"] == "Second writer"
