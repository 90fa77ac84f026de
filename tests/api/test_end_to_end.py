"""Every endpoint end to end: the API, a real Celery worker process, Chromium and the simulator.

Every answer is also checked against the app's /openapi.json (status documented, body valid).
"""

from __future__ import annotations

import pytest

from api.app import create_app, redis_for_api
from tests.workers.helpers import clinic_from_sim, wait_until

from .openapi_check import CheckedClient

SEED_KEYS = ["success", "syncId", "inboundResult", "casesResult", "reconciliationResult", "durationMs", "timestamp"]
SMALL = {"daysAhead": 1, "lookbackDays": 1}

pytestmark = pytest.mark.slow


@pytest.fixture
def live(workers, simulator, store, make_key):
    """An API wired to the workers' broker, a clinic whose credentials log into the simulator, its key."""
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 3)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    workers.start("api-e2e")
    client_redis = redis_for_api(workers.redis_url)
    app = create_app(workers.settings, store=store, celery_app=workers.app, redis_client=client_redis)
    yield CheckedClient(app.test_client()), clinic, make_key(clinic.id)
    app.extensions["pims_sync"].close()
    client_redis.close()


def test_every_endpoint_against_a_real_worker(live):
    client, clinic, key = live
    h = key.headers

    full = client.post("/api/sync/full?wait=90", headers=h, json=SMALL)
    assert full.status_code == 200, full.get_json()
    body = full.get_json()
    assert list(body) == SEED_KEYS, body
    assert body["success"] is True and body["inboundResult"]["stats"]["appointmentsFound"] > 0
    assert set(body["casesResult"]["stats"]) == {"casesFound", "casesEnriched", "casesSkipped"}

    for kind, payload in (("inbound", {"daysAhead": 1}), ("cases", {"lookbackDays": 1}),
                          ("reconcile", {"lookbackDays": 1})):
        resp = client.post(f"/api/sync/{kind}", headers=h, json={**payload, "wait": True})
        assert resp.status_code == 200, (kind, resp.get_json())
        assert resp.get_json()["success"] is True

    queued = client.post("/api/sync/inbound", headers=h, json={"daysAhead": 1})
    assert queued.status_code == 202
    sync_id = queued.get_json()["syncId"]
    status = client.get(f"/api/sync/{sync_id}", headers=h).get_json()
    assert status["syncId"] == sync_id and status["phases"]["inbound"]["status"] in ("queued", "in_progress",
                                                                                      "completed")
    # wait for it through the status endpoint, as a caller would
    done = wait_until(lambda: (s := client.get(f"/api/sync/{sync_id}", headers=h).get_json())["status"]
                      not in ("queued", "in_progress") and s, 60, "the inbound sync to finish")
    assert done["status"] == "completed" and done["result"]["inboundResult"]["success"] is True

    scrape = client.post("/api/idexx/scrape", headers=h, json={"type": "schedule", "clinicId": clinic.id})
    assert scrape.status_code == 202, scrape.get_json()
    scrape_id = scrape.get_json()["syncId"]
    wait_until(lambda: client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=h).get_json()
               ["lastSync"]["status"] not in ("queued", "in_progress"), 60, "the legacy scrape to finish")
    last = client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=h).get_json()["lastSync"]
    assert last["syncId"] == scrape_id and last["status"] == "completed", last

    history = client.get("/api/sync/history?limit=10", headers=h).get_json()
    assert len(history["syncs"]) == 6 and history["summary"]["successRate"] == 1.0


def test_a_pims_login_failure_in_wait_mode_is_502(live, store, workers):
    client, clinic, key = live
    store.save_credentials(workers.cipher.encrypt_credentials("nobody", "S3cret-Wrong-Pw", "0", clinic_id=clinic.id))
    resp = client.post("/api/sync/full?wait=90", headers=key.headers, json=SMALL)
    assert resp.status_code == 502, resp.get_json()
    body = resp.get_json()
    assert body["success"] is False and body["inboundResult"]["success"] is False
    assert body["errors"] and body["errors"][0]["phase"] == "inbound"
    assert "S3cret-Wrong-Pw" not in resp.get_data(as_text=True)  # the password never comes back


