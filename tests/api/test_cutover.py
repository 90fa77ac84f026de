"""The cut-over gate: pims-sync syncs a clinic only when it is active, owned by pims-sync
(clinics.sync_owner) and its credentials allow it (idexx_credentials.sync_enabled).

The API answers 409 ``sync_disabled`` naming the flag and the command that changes it, and
enqueues nothing; a worker that meets a flag flipped after the enqueue runs nothing.
"""

from __future__ import annotations

import pytest
import redis

from pims_sync.crypto import CredentialCipher
from tests.workers.helpers import clinic_from_sim, enqueue, wait_until
from workers.enqueue import InFlight


@pytest.fixture
def cipher(base_settings):
    return CredentialCipher.from_settings(base_settings)


def _inactive(store, clinic, cipher):
    store.update_clinic(clinic.id, is_active=False)


def _legacy_owned(store, clinic, cipher):
    store.update_clinic(clinic.id, sync_owner="legacy")


def _sync_disabled(store, clinic, cipher):
    store.save_credentials(cipher.encrypt_credentials("user", "pw-not-shown", "1234", clinic_id=clinic.id))
    store.set_sync_enabled(clinic.id, False)


FLIPS = [
    (_inactive, "is_active", "pims-sync clinics set {id} --active"),
    (_legacy_owned, "sync_owner", "pims-sync clinics set {id} --sync-owner pims-sync"),
    (_sync_disabled, "sync_enabled", "pims-sync clinics set {id} --sync-enabled"),
]


@pytest.mark.parametrize(("flip", "flag", "command"), FLIPS, ids=[f[1] for f in FLIPS])
def test_a_clinic_not_ours_to_sync_is_refused_naming_the_flag(client, store, key, clinic, api_redis, cipher,
                                                               flip, flag, command):
    """409 while the other service owns it or syncing is paused; 403 for an inactive clinic's keys."""
    flip(store, clinic, cipher)
    requests = [("/api/sync/full", None), ("/api/sync/inbound", {"daysAhead": 1}), ("/api/sync/reconcile", None),
                ("/api/idexx/scrape", {"type": "schedule", "clinicId": clinic.id})]
    for path, body in requests:
        resp = client.post(path, headers=key.headers, json=body)
        assert resp.status_code == (403 if flag == "is_active" else 409), (path, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == "sync_disabled"
        assert error["details"] == {"clinicId": clinic.id, "flag": flag, "value": error["details"]["value"]}
        assert flag in error["message"] and command.format(id=clinic.id) in error["message"]
        assert "Traceback" not in resp.get_data(as_text=True) and "pw-not-shown" not in resp.get_data(as_text=True)
    assert api_redis.llen("sync") == 0, "nothing was enqueued"
    assert InFlight(api_redis).current(clinic.id) is None, "the clinic was not claimed"
    assert store.sync_history(clinic.id).total == 0, "no audit rows were written"


def test_flipping_the_flags_back_lets_the_clinic_sync(client, store, key, clinic, cipher):
    _legacy_owned(store, clinic, cipher)
    assert client.post("/api/sync/inbound", headers=key.headers).status_code == 409
    store.update_clinic(clinic.id, sync_owner="pims-sync")
    _sync_disabled(store, clinic, cipher)
    assert client.post("/api/sync/inbound", headers=key.headers).status_code == 409
    store.set_sync_enabled(clinic.id, True)
    resp = client.post("/api/sync/inbound", headers=key.headers)
    assert resp.status_code == 202, resp.get_json()


def test_reads_still_work_for_a_clinic_that_is_not_synced(client, store, key, clinic, cipher):
    """History and status are not syncs: an operator still sees a legacy-owned clinic's past runs."""
    _legacy_owned(store, clinic, cipher)
    assert client.get("/api/sync/history", headers=key.headers).status_code == 200
    assert client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=key.headers).status_code == 200


@pytest.mark.slow
def test_a_worker_runs_nothing_when_the_flag_flips_after_the_enqueue(workers, simulator, store):
    """Defence in depth: the sync was queued while allowed; the worker checks again and skips."""
    sim_clinic = simulator.clinic(0)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    enqueued = enqueue(workers, store, clinic.id, "full")  # no worker yet: it waits on the queue
    store.update_clinic(clinic.id, sync_owner="legacy")
    logins_before = simulator.stats()["logins_total"]
    workers.start("cutover")
    root = wait_until(lambda: (a := store.get_audit(enqueued.sync_id)).status not in ("queued", "in_progress")
                      and a, 60, "the sync to end")
    phases = store.child_audits(enqueued.sync_id)
    assert [a.status for a in phases] == ["skipped"] * 3, [(a.sync_type, a.status) for a in phases]
    assert all("sync_owner" in (a.error_message or "") for a in phases)
    assert root.status == "skipped"
    assert simulator.stats()["logins_total"] == logins_before, "the worker must not log in to the PIMS"
    assert store.list_cases(clinic.id) == []
    client = redis.Redis.from_url(workers.redis_url)
    assert InFlight(client).current(clinic.id) is None, "the sync released the clinic"
    client.close()
