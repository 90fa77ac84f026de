"""Every route, called for real (real Postgres, real Redis), answers what /openapi.json documents.

Each answer's status must be listed for its operation and its body must validate against the
published schema (the response models' JSON Schema). The wait-mode 200/502 shapes come from a
real worker: tests/api/test_end_to_end.py checks them with the same helper.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from flask import jsonify

from api.app import create_app, redis_for_api

from .openapi_check import DocumentedAnswers


@pytest.fixture
def answers(client) -> DocumentedAnswers:
    return DocumentedAnswers(client.get("/openapi.json").get_json())


@pytest.fixture
def clinics(store):
    """Clinics of their own, one per enqueue (each may have one sync in flight)."""
    return [store.create_clinic(name=f"Answers {secrets.token_hex(3)}", timezone="America/New_York")
            for _ in range(5)]


def test_every_route_answers_as_documented(app, client, answers, clinics, make_key, api_settings, store,
                                           broker_app):
    def call(method: str, url: str, key=None, **kwargs):
        headers = key.headers if key is not None else {}
        return answers.check(method, url, client.open(url, method=method, headers=headers, **kwargs))

    keys = [make_key(c.id) for c in clinics]
    first = keys[0]

    # probes
    call("GET", "/health")
    call("GET", "/ready")
    call("GET", "/metrics")  # no METRICS_TOKEN outside development: 401, documented

    # enqueues: 202 at once, 202 with the status when the wait ends first (no worker here), 409 while in flight
    queued = call("POST", "/api/sync/inbound", first, json={"daysAhead": 1}).get_json()
    assert queued["status"] == "queued"
    assert call("POST", "/api/sync/inbound", first, json={}).status_code == 409
    waited = call("POST", "/api/sync/full?wait=1", keys[1], json={"daysAhead": 2, "clinicId": clinics[1].id})
    assert waited.status_code == 202 and "phases" in waited.get_json()
    call("POST", "/api/sync/cases", keys[2], json={"lookbackDays": 3, "parallelBatchSize": 2})
    call("POST", "/api/sync/reconcile", keys[3], json={"startDate": "2026-01-01", "endDate": "2026-01-31"})

    # refusals: validation, content type, no key, another clinic, a missing permission
    assert call("POST", "/api/sync/inbound", first, json={"daysAhead": 10_000}).status_code == 400
    assert call("POST", "/api/sync/inbound", first, data="daysAhead=1",
                content_type="application/x-www-form-urlencoded").status_code == 415
    assert call("POST", "/api/sync/full").status_code == 401
    assert call("POST", "/api/sync/cases", first, json={"clinicId": clinics[4].id}).status_code == 403
    inbound_only = make_key(clinics[4].id, permissions=["sync:inbound"])
    assert call("POST", "/api/sync/reconcile", inbound_only, json={}).status_code == 403

    # status, history
    assert call("GET", f"/api/sync/{queued['syncId']}", first).get_json()["phases"]["inbound"]["status"] == "queued"
    assert call("GET", f"/api/sync/{waited.get_json()['syncId']}", keys[1]).status_code == 200
    assert call("GET", f"/api/sync/{uuid.uuid4()}", first).status_code == 404
    history = call("GET", "/api/sync/history?limit=5&type=reconcile", keys[3]).get_json()
    assert [row["type"] for row in history["syncs"]] == ["reconciliation"]
    assert call("GET", "/api/sync/history", keys[1]).get_json()["summary"]["total"] >= 1
    assert call("GET", "/api/sync/history?limit=0", first).status_code == 400

    # the legacy endpoints
    scrape = call("POST", "/api/idexx/scrape", keys[4], json={"type": "schedule", "clinicId": clinics[4].id,
                                                               "date": "2026-01-17"})
    assert scrape.status_code == 202 and scrape.get_json()["date"] == "2026-01-17"
    assert call("POST", "/api/idexx/scrape", first, json={"type": "consultation", "clinicId": clinics[4].id,
                                                           "date": "2026-01-17"}).status_code == 403
    assert call("GET", f"/api/idexx/status?clinicId={clinics[4].id}", keys[4]).get_json()["lastSync"] is not None
    assert call("GET", f"/api/idexx/status?clinicId={clinics[0].id}", first).get_json()["running"] == queued["syncId"]
    never = store.create_clinic(name=f"Never synced {secrets.token_hex(3)}", timezone="Europe/London")
    assert call("GET", f"/api/idexx/status?clinicId={never.id}", make_key(never.id)).get_json()["lastSync"] is None

    # a second app: /metrics with its token, /ready with Redis down
    other = create_app(api_settings.replace(metrics_token="t0ken"), store=store, celery_app=broker_app,
                       redis_client=redis_for_api("redis://127.0.0.1:1/0"))
    try:
        other_client = other.test_client()
        answers.check("GET", "/metrics", other_client.get("/metrics", headers={"Authorization": "Bearer t0ken"}))
        down = answers.check("GET", "/ready", other_client.get("/ready"))
        assert down.status_code == 503 and down.get_json()["down"] == ["redis"]
    finally:
        other.extensions["pims_sync"].close()

    # too many bad keys from one address: 429 (the app allows 5 failures per window)
    statuses = [call("GET", "/api/sync/history", type("K", (), {"headers": {"X-API-Key": "pims_bad"}})()).status_code
                for _ in range(7)]
    assert statuses[-1] == 429, statuses

    answered_2xx = {(m, p) for m, p, status in answers.seen if 200 <= status < 300}
    assert answered_2xx == answers.operations(), f"not called with success: {answers.operations() - answered_2xx}"


def test_an_answer_off_its_schema_or_status_is_caught(app, answers):
    """The check itself can fail: an extra key, a wrong type, an undocumented status."""
    with app.test_request_context():
        good = jsonify({"status": "ok", "uptimeSeconds": 1.5, "memory": {"rssBytes": 1, "rssMb": 0.0},
                        "version": "1", "timestamp": "2026-01-01T00:00:00.000Z"})
        answers.check("GET", "/health", good)
        for body in ({**good.get_json(), "extra": 1}, {**good.get_json(), "uptimeSeconds": "long"}):
            with pytest.raises(AssertionError, match="does not match"):
                answers.check("GET", "/health", jsonify(body))
        teapot = jsonify(good.get_json())
        teapot.status_code = 418
        with pytest.raises(AssertionError, match="does not document"):
            answers.check("GET", "/health", teapot)
