"""Strict input: every refusal is the JSON error shape with the right status, never a 500."""

from __future__ import annotations

import pytest


def _err(resp, status: int, code: str):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["success"] is False and body["error"]["code"] == code
    assert set(body) >= {"success", "error", "timestamp"} and set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in resp.get_data(as_text=True)
    return body


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("inbound", {"daysAhead": 91}, "daysAhead"),
        ("inbound", {"daysAhead": -1}, "daysAhead"),
        ("inbound", {"daysAhead": "7"}, "daysAhead"),
        ("inbound", {"daysAhead": True}, "daysAhead"),
        ("inbound", {"daysAhead": None}, "daysAhead"),
        ("cases", {"lookbackDays": 0}, "lookbackDays"),
        ("cases", {"parallelBatchSize": 21}, "parallelBatchSize"),
        ("cases", {"parallelBatchSize": 2.5}, "parallelBatchSize"),
        ("inbound", {"startDate": "17/01/2026"}, "startDate"),
        ("inbound", {"startDate": "2026-02-30"}, "startDate"),
        ("inbound", {"startDate": "2026-1-7"}, "startDate"),
        ("inbound", {"startDate": "1066-10-14"}, "startDate"),
        ("inbound", {"clinicId": "not-a-uuid"}, "clinicId"),  # another clinic's id is 403: test_shared_keys
        ("inbound", {"force": True}, "force"),  # only reconciliation takes force
        ("reconcile", {"force": "yes"}, "force"),
        ("full", {"wait": "true"}, "wait"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client, key, path, payload, field):
    body = _err(client.post(f"/api/sync/{path}", headers=key.headers, json=payload), 400, "validation_error")
    assert field in body["error"]["message"]
    assert any(e["field"] == field for e in body["error"]["details"]["errors"])


def test_every_problem_is_listed_at_once(client, key):
    body = _err(client.post("/api/sync/cases", headers=key.headers,
                            json={"lookbackDays": 0, "parallelBatchSize": 99, "extra": 1}), 400, "validation_error")
    assert {e["field"] for e in body["error"]["details"]["errors"]} == {"lookbackDays", "parallelBatchSize", "extra"}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"startDate": "2026-01-20", "endDate": "2026-01-19"}, "endDate must not be before startDate"),
        ({"startDate": "2026-01-01", "endDate": "2026-04-01"}, "at most 90 days"),
        ({"endDate": "2026-01-19"}, "endDate needs startDate"),
    ],
)
def test_date_ranges(client, key, payload, words):
    body = _err(client.post("/api/sync/inbound", headers=key.headers, json=payload), 400, "validation_error")
    assert words in body["error"]["message"]


def test_a_90_day_range_is_accepted(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, json={"startDate": "2026-01-01", "endDate": "2026-03-31"})
    assert resp.status_code == 202


def test_malformed_json_is_400(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, data='{"daysAhead": 7,', content_type="application/json")
    assert "not valid JSON" in _err(resp, 400, "malformed_json")["error"]["message"]


def test_non_object_body_is_400(client, key):
    _err(client.post("/api/sync/inbound", headers=key.headers, json=[1, 2]), 400, "validation_error")


def test_wrong_content_type_is_415(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, data="daysAhead=7",
                       content_type="application/x-www-form-urlencoded")
    assert "application/json" in _err(resp, 415, "unsupported_media_type")["error"]["message"]


def test_empty_body_means_defaults(client, key):
    assert client.post("/api/sync/inbound", headers=key.headers).status_code == 202


@pytest.mark.parametrize("query", ["wait=abc", "wait=-1", "wait=1&wait=2", "bogus=1"])
def test_bad_query_is_400(client, key, query):
    _err(client.post(f"/api/sync/inbound?{query}", headers=key.headers), 400, "validation_error")


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "type=weekly", "limit=1e3"])
def test_bad_history_query_is_400(client, key, query):
    _err(client.get(f"/api/sync/history?{query}", headers=key.headers), 400, "validation_error")


def test_unknown_route_is_json_404(client):
    _err(client.get("/api/nope"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    resp = client.get("/api/idexx/scrape")
    _err(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


def test_huge_body_is_refused_without_a_500(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, data="x" * (2 * 1024 * 1024),
                       content_type="application/json")
    assert resp.status_code in (400, 413)
    assert resp.get_json()["success"] is False
