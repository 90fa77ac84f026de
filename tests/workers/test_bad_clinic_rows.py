"""A clinic row someone wrote badly fails its own sync, fast and clearly, and frees the clinic.

Real worker process, Postgres and Redis. The bad values are written with SQL, as a person using
the product's screens or psql would; our own writes refuse them (tests/store).
"""

from __future__ import annotations

import psycopg
import pytest

from pims_sync.errors import SyncInProgress

from .helpers import clinic_from_sim, enqueue, wait_done

pytestmark = pytest.mark.slow  # a real worker process


def test_a_bad_timezone_fails_the_sync_naming_the_field_and_the_next_one_is_accepted(
    workers, simulator, store, database_url
):
    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    workers.start("badrow")
    for bad_zone in ("Mars/Olympus", "", "../../etc/localtime"):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("update clinics set timezone = %s where id = %s", (bad_zone, clinic.id))

        try:  # the previous round's failure released the claim: never a 409 here
            enqueued = enqueue(workers, store, clinic.id)
        except SyncInProgress as e:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"the clinic stayed claimed after a failed sync: {e}")
        status = wait_done(store, enqueued.sync_id, clinic.id, timeout_s=60)

        assert status["status"] == "failed", (bad_zone, status)
        errors = " ".join(str(e) for e in status["errors"])
        assert "clinics.timezone" in errors and "pims-sync clinics set" in errors, (bad_zone, errors)
        assert {a.status for a in store.child_audits(enqueued.sync_id)} <= {"failed", "not_run"}
