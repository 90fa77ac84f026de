"""The original service's IDEXX endpoints, now behind a key and bound to its clinic."""

from __future__ import annotations

import base64
import json

from workers.enqueue import LEGACY_TASK_NAMES, SYNC_QUEUE


def test_scrape_queues_the_legacy_task_with_ids_only(client, key, clinic, store, api_redis):
    resp = client.post("/api/idexx/scrape", headers=key.headers,
                       json={"type": "consultation", "clinicId": clinic.id, "date": "2026-01-17"})
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "queued" and body["date"] == "2026-01-17" and body["type"] == "consultation"
    audit = store.get_audit(body["syncId"], clinic_id=clinic.id)
    assert audit.sync_type == "consultation" and audit.trigger == "api"
    (raw,) = api_redis.lrange(SYNC_QUEUE, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == LEGACY_TASK_NAMES["consultation"]
    assert clinic.id in message["headers"]["kwargsrepr"]
    _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs["clinic_id"] == clinic.id and kwargs["options"]["start_date"] == "2026-01-17"


def test_scrape_defaults_to_today_in_the_clinic_time_zone(client, key, clinic):
    resp = client.post("/api/idexx/scrape", headers=key.headers, json={"type": "schedule", "clinicId": clinic.id})
    assert resp.status_code == 202
    assert len(resp.get_json()["date"]) == 10


def test_scrape_needs_the_permission_for_its_type(client, make_key, clinic):
    inbound_only = make_key(clinic.id, permissions=["sync:inbound"])
    ok = client.post("/api/idexx/scrape", headers=inbound_only.headers, json={"type": "schedule", "clinicId": clinic.id})
    assert ok.status_code == 202
    refused = client.post("/api/idexx/scrape", headers=inbound_only.headers,
                          json={"type": "consultation", "clinicId": clinic.id})
    assert refused.status_code == 403 and "sync:cases" in refused.get_json()["error"]["message"]


def test_scrape_validates_its_body(client, key, clinic):
    for payload in ({"type": "weekly", "clinicId": clinic.id}, {"type": "schedule"},
                    {"type": "schedule", "clinicId": "abc"}, {"type": "schedule", "clinicId": clinic.id, "date": "x"}):
        resp = client.post("/api/idexx/scrape", headers=key.headers, json=payload)
        assert resp.status_code == 400, payload


def test_status_reports_the_latest_sync(client, key, clinic):
    empty = client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=key.headers).get_json()
    assert empty["lastSync"] is None and empty["clinicId"] == clinic.id
    sync_id = client.post("/api/sync/inbound", headers=key.headers).get_json()["syncId"]
    body = client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=key.headers).get_json()
    assert body["lastSync"]["syncId"] == sync_id and body["lastSync"]["status"] == "queued"
    assert body["running"] == sync_id


def test_scrape_shares_the_clinic_single_flight(client, key, clinic):
    first = client.post("/api/sync/inbound", headers=key.headers).get_json()["syncId"]
    resp = client.post("/api/idexx/scrape", headers=key.headers, json={"type": "schedule", "clinicId": clinic.id})
    assert resp.status_code == 409 and resp.get_json()["syncId"] == first


def test_status_requires_a_key_and_a_clinic_id(client, key):
    assert client.get("/api/idexx/status?clinicId=00000000-0000-0000-0000-000000000000").status_code == 401
    assert client.get("/api/idexx/status", headers=key.headers).status_code == 400


def test_a_consultation_scrape_needs_a_date(client, key, clinic):
    resp = client.post("/api/idexx/scrape", headers=key.headers, json={"type": "consultation", "clinicId": clinic.id})
    body = resp.get_json()
    assert resp.status_code == 400 and "date is required" in body["error"]["message"]


def test_a_schedule_scrape_for_a_clinic_with_a_bad_zone_is_a_clear_400_not_a_crash(client, key, clinic, database_url):
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update clinics set timezone = 'Mars/Olympus' where id = %s", (clinic.id,))
    resp = client.post("/api/idexx/scrape", headers=key.headers, json={"type": "schedule", "clinicId": clinic.id})
    assert resp.status_code == 400 and "clinics.timezone" in resp.get_json()["error"]["message"]
    dated = client.post("/api/idexx/scrape", headers=key.headers,
                        json={"type": "schedule", "clinicId": clinic.id, "date": "2026-01-17"})
    assert dated.status_code == 202  # with a date the zone is not needed to accept the request
