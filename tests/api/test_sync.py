"""Sync endpoints against a real store and broker, no worker: enqueue, status, history, wait mode.

Wait mode is exercised by finishing the audit rows through the store while the request waits,
which is exactly what a worker does from the API's point of view.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from workers.enqueue import SYNC_QUEUE

SEED_KEYS = ["success", "syncId", "inboundResult", "casesResult", "reconciliationResult", "durationMs", "timestamp"]


def test_enqueue_answers_202_and_queues_the_chain(client, key, api_redis):
    resp = client.post("/api/sync/full", headers=key.headers, json={"daysAhead": 3, "lookbackDays": 5})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["success"] is True and body["status"] == "queued"
    assert body["statusUrl"] == f"/api/sync/{body['syncId']}" == resp.headers["Location"]
    queued = api_redis.lrange(SYNC_QUEUE, 0, -1)
    assert len(queued) == 1
    message = json.loads(queued[0])
    assert message["headers"]["task"] == "pims_sync.inbound"
    assert "password" not in queued[0].decode().lower()


def test_second_sync_for_the_clinic_is_409_with_the_running_id(client, key):
    first = client.post("/api/sync/inbound", headers=key.headers).get_json()["syncId"]
    resp = client.post("/api/sync/cases", headers=key.headers)
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"]["code"] == "sync_in_progress"
    assert body["error"]["details"]["syncId"] == first == body["syncId"]


def test_other_clinics_are_not_blocked(client, store, key, make_key):
    other = store.create_clinic(name="Other", timezone="America/Chicago")
    assert client.post("/api/sync/inbound", headers=key.headers).status_code == 202
    assert client.post("/api/sync/inbound", headers=make_key(other.id).headers).status_code == 202


def test_status_shows_phases(client, key, clinic):
    sync_id = client.post("/api/sync/full", headers=key.headers).get_json()["syncId"]
    body = client.get(f"/api/sync/{sync_id}", headers=key.headers).get_json()
    assert body["syncId"] == sync_id and body["clinicId"] == clinic.id
    assert body["type"] == "full" and body["status"] == "queued"
    assert set(body["phases"]) == {"inbound", "cases", "reconcile"}
    assert body["currentPhase"] == "inbound"
    assert body["phases"]["inbound"]["progress"] == {"processed": 0, "total": 0}


@pytest.mark.parametrize("sync_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_sync_is_404(client, key, sync_id):
    resp = client.get(f"/api/sync/{sync_id}", headers=key.headers)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_history_pages_filters_and_success_rate(client, store, key, clinic, api_redis):
    ids = []
    for kind in ("inbound", "cases", "inbound"):
        ids.append(client.post(f"/api/sync/{kind}", headers=key.headers).get_json()["syncId"])
        api_redis.flushdb()  # release the single-flight claim between enqueues
    store.start_audit(ids[0])
    store.finish_audit(ids[0], status="completed", stats={"appointmentsFound": 2})
    store.start_audit(ids[1])
    store.finish_audit(ids[1], status="failed", error="PIMS unavailable")
    body = client.get("/api/sync/history?limit=2", headers=key.headers).get_json()
    assert [s["syncId"] for s in body["syncs"]] == [ids[2], ids[1]]
    assert body["summary"] == {"total": 3, "succeeded": 1, "failed": 1, "successRate": 0.5}
    rest = client.get(f"/api/sync/history?limit=2&cursor={body['nextCursor']}", headers=key.headers).get_json()
    assert [s["syncId"] for s in rest["syncs"]] == [ids[0]] and rest["nextCursor"] is None
    assert rest["syncs"][0]["durationMs"] is not None
    only = client.get("/api/sync/history?type=cases", headers=key.headers).get_json()
    assert [s["syncId"] for s in only["syncs"]] == [ids[1]]
    bad = client.get("/api/sync/history?cursor=garbage", headers=key.headers)
    assert bad.status_code == 400


def _wait_in_thread(client, key, path, **kw):
    box = {}
    thread = threading.Thread(target=lambda: box.update(resp=client.post(path, headers=key.headers, **kw)))
    thread.start()
    return thread, box


def _claimed(app, store, clinic_id, timeout=5.0) -> str:
    """The id of the sync the waiting request enqueued, once its audit rows exist."""
    inflight = app.extensions["pims_sync"].inflight
    deadline = time.monotonic() + timeout
    while (sync_id := inflight.current(clinic_id)) is None or len(store.child_audits(sync_id)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return sync_id


def _finish(store, sync_id, statuses: dict[str, tuple[str, dict, str | None]]):
    phases = {"inbound": "inbound", "cases": "cases", "reconciliation": "reconcile"}
    children = {phases[a.sync_type]: a.id for a in store.child_audits(sync_id)}
    for phase, (status, stats, error) in statuses.items():
        store.start_audit(children[phase])
        store.finish_audit(children[phase], status=status, stats=stats, error=error)
    store.finish_audit(sync_id, status="completed" if all(s[0] == "completed" for s in statuses.values())
                       else "partial" if any(s[0] == "completed" for s in statuses.values()) else "failed")


def test_wait_returns_exactly_the_seed_shape(app, client, store, key, clinic):
    thread, box = _wait_in_thread(client, key, "/api/sync/full?wait=10")
    sync_id = _claimed(app, store, clinic.id)
    _finish(store, sync_id, {
        "inbound": ("completed", {"appointmentsFound": 25, "casesCreated": 18, "casesUpdated": 7}, None),
        "cases": ("completed", {"casesFound": 25, "casesEnriched": 22, "casesSkipped": 3}, None),
        "reconcile": ("completed", {"casesChecked": 120, "casesDeleted": 3}, None),
    })
    thread.join(15)
    resp = box["resp"]
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert list(body) == SEED_KEYS
    assert body["success"] is True and body["syncId"] == sync_id
    assert body["inboundResult"] == {"success": True, "stats": {
        "appointmentsFound": 25, "casesCreated": 18, "casesUpdated": 7, "casesSkipped": 0}}
    assert body["casesResult"]["stats"] == {"casesFound": 25, "casesEnriched": 22, "casesSkipped": 3}
    assert body["reconciliationResult"]["stats"] == {"casesChecked": 120, "casesDeleted": 3}


def test_wait_with_a_failed_later_phase_is_207(app, client, store, key, clinic):
    thread, box = _wait_in_thread(client, key, "/api/sync/full", json={"wait": True})
    sync_id = _claimed(app, store, clinic.id)
    _finish(store, sync_id, {
        "inbound": ("completed", {"appointmentsFound": 3}, None),
        "cases": ("failed", {}, "PIMS unavailable after 3 retries"),
        "reconcile": ("not_run", {}, "an earlier phase failed"),
    })
    thread.join(15)
    resp = box["resp"]
    assert resp.status_code == 207, resp.get_json()
    body = resp.get_json()
    assert body["success"] is False and body["inboundResult"]["success"] is True
    assert body["casesResult"]["error"]["message"] == "PIMS unavailable after 3 retries"
    assert {"phase": "cases", "code": "sync_error", "message": "PIMS unavailable after 3 retries"} in body["errors"]


def test_wait_with_a_failed_first_phase_is_502(app, client, store, key, clinic):
    thread, box = _wait_in_thread(client, key, "/api/sync/full?wait=10")
    sync_id = _claimed(app, store, clinic.id)
    _finish(store, sync_id, {
        "inbound": ("failed", {}, "login failed: invalid credentials"),
        "cases": ("not_run", {}, "an earlier phase failed"),
        "reconcile": ("not_run", {}, "an earlier phase failed"),
    })
    thread.join(15)
    assert box["resp"].status_code == 502
    assert box["resp"].get_json()["inboundResult"]["error"]["message"] == "login failed: invalid credentials"


def test_wait_that_times_out_is_202_with_status(client, key):
    started = time.monotonic()
    resp = client.post("/api/sync/inbound?wait=1", headers=key.headers)
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["status"] == "queued" and body["phases"]["inbound"]["status"] == "queued"
    assert time.monotonic() - started >= 0.9


def test_wait_is_capped_by_sync_timeout(client, key):
    """SYNC_TIMEOUT_MS is 2 s in these tests: wait=3600 must not hold the request for an hour."""
    started = time.monotonic()
    assert client.post("/api/sync/inbound?wait=3600", headers=key.headers).status_code == 202
    assert time.monotonic() - started < 30
