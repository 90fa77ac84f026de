"""The auth matrix, the failed-key rate limit, and last_used_at bookkeeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest


def _error(resp, status: int, code: str, words: str):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert words in body["error"]["message"]
    assert body["timestamp"].endswith("Z")
    return body


def test_missing_key_is_401(client):
    _error(client.post("/api/sync/inbound"), 401, "unauthorized", "missing API key")


def test_unknown_key_is_401(client):
    _error(client.post("/api/sync/inbound", headers={"X-API-Key": "pims_test_00000000_nope"}), 401,
           "unauthorized", "unknown API key")


def test_revoked_key_is_401(client, store, key):
    assert store.revoke_api_key(key.id)
    _error(client.post("/api/sync/inbound", headers=key.headers), 401, "unauthorized", "revoked")


def test_expired_key_is_401(client, make_key, clinic):
    expired = make_key(clinic.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    _error(client.post("/api/sync/inbound", headers=expired.headers), 401, "unauthorized", "expired")


def test_key_not_yet_expired_works(client, make_key, clinic):
    later = make_key(clinic.id, expires_at=datetime.now(UTC) + timedelta(days=1))
    assert client.post("/api/sync/inbound", headers=later.headers).status_code == 202


@pytest.mark.parametrize(
    ("granted", "endpoint", "ok"),
    [
        (["sync:inbound"], "inbound", True),
        (["sync:inbound"], "cases", False),
        (["sync:cases"], "reconcile", False),
        (["sync:reconciliation"], "reconcile", True),  # the alias counts
        (["sync:inbound", "sync:cases"], "full", False),  # full needs all three
        (["sync:inbound", "sync:cases", "sync:reconcile"], "full", True),
        (None, "full", True),  # NULL permissions = all
    ],
)
def test_permissions_per_endpoint(client, make_key, clinic, granted, endpoint, ok):
    k = make_key(clinic.id, permissions=granted)
    resp = client.post(f"/api/sync/{endpoint}", headers=k.headers)
    if ok:
        assert resp.status_code == 202, resp.get_json()
    else:
        body = _error(resp, 403, "forbidden", "lacks permission")
        assert body["error"]["details"]["missing"]


def test_auth_comes_before_validation(client):
    """An anonymous caller learns nothing about the inputs an endpoint takes."""
    resp = client.post("/api/sync/inbound", data="{not json", content_type="application/json")
    assert resp.status_code == 401


def test_another_clinics_sync_id_is_404(client, store, make_key, clinic):
    other = store.create_clinic(name="Other", timezone="Europe/London")
    other_key = make_key(other.id)
    sync_id = client.post("/api/sync/inbound", headers=other_key.headers).get_json()["syncId"]
    assert client.get(f"/api/sync/{sync_id}", headers=other_key.headers).status_code == 200
    mine = make_key(clinic.id)
    _error(client.get(f"/api/sync/{sync_id}", headers=mine.headers), 404, "not_found", "no sync")


def test_another_clinics_id_on_legacy_endpoints_is_403(client, store, key):
    other = store.create_clinic(name="Other", timezone="Europe/London")
    _error(client.get(f"/api/idexx/status?clinicId={other.id}", headers=key.headers), 403, "forbidden",
           "not this API key's clinic")
    resp = client.post("/api/idexx/scrape", headers=key.headers,
                       json={"type": "schedule", "clinicId": other.id, "date": "2026-01-17"})
    _error(resp, 403, "forbidden", "not this API key's clinic")


def test_failed_keys_are_rate_limited_then_recover(client, key, api_redis):
    bad = {"X-API-Key": "pims_test_00000000_wrong"}
    for _ in range(5):  # the app fixture allows 5 failures per 2 s window
        assert client.post("/api/sync/inbound", headers=bad).status_code == 401
    limited = client.post("/api/sync/inbound", headers=bad)
    body = _error(limited, 429, "too_many_requests", "too many failed API keys")
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert body["error"]["details"]["retryAfterSeconds"] >= 1
    # the block is per address, for valid keys too, until the window ends
    assert client.post("/api/sync/inbound", headers=key.headers).status_code == 429
    assert api_redis.keys("pims:authfail:*"), "the count lives in Redis, shared by every API process"
    deadline = time.monotonic() + 5
    while client.get("/api/sync/history", headers=key.headers).status_code == 429:
        assert time.monotonic() < deadline, "the rate limit never recovered"
        time.sleep(0.2)
    assert client.get("/api/sync/history", headers=key.headers).status_code == 200


def test_rate_limit_is_shared_between_apps(app, api_settings, store, broker_app, api_redis):
    """Two API processes (two apps on one Redis) see one count."""
    from api.app import create_app

    second = create_app(api_settings, store=store, celery_app=broker_app, redis_client=api_redis,
                        auth_max_failures=5, auth_window_s=2)
    bad = {"X-API-Key": "pims_test_00000000_wrong"}
    for c in (app.test_client(), second.test_client()) * 3:
        c.get("/api/sync/history", headers=bad)
    assert app.test_client().get("/api/sync/history", headers=bad).status_code == 429


def test_last_used_at_is_recorded_in_the_background(client, store, key, clinic):
    assert client.get("/api/sync/history", headers=key.headers).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        (record,) = [k for k in store.list_api_keys(clinic.id) if k.id == key.id]
        if record.last_used_at is not None:
            break
        assert time.monotonic() < deadline, "last_used_at was never written"
        time.sleep(0.1)
    assert datetime.now(UTC) - record.last_used_at < timedelta(minutes=1)


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(api_settings, store, broker_app, api_redis, key):
    from api.app import create_app

    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=api_redis,
                     auth_max_failures=2, auth_window_s=30, proxy_hops=1)
    c = app.test_client()
    bad = {"X-API-Key": "pims_test_00000000_wrong", "X-Forwarded-For": "203.0.113.7"}
    for _ in range(2):
        c.get("/api/sync/history", headers=bad)
    assert c.get("/api/sync/history", headers=bad).status_code == 429
    other_client = {**key.headers, "X-Forwarded-For": "198.51.100.9"}
    assert c.get("/api/sync/history", headers=other_client).status_code == 200
    app.extensions["pims_sync"].close()


def test_trusted_proxy_hops_come_from_the_setting(api_settings, store, broker_app, api_redis):
    from api.app import create_app

    bad = {"X-API-Key": "pims_test_00000000_wrong", "X-Forwarded-For": "203.0.113.8"}
    for hops, forged_header_dodges_limit in ((1, True), (0, False)):
        api_redis.flushdb()
        settings = api_settings.replace(trust_proxy_hops=hops)
        app = create_app(settings, store=store, celery_app=broker_app, redis_client=api_redis,
                         auth_max_failures=1, auth_window_s=30)
        c = app.test_client()
        c.get("/api/sync/history", headers=bad)
        # a new forwarded address: a fresh client only when the proxy header is trusted
        again = c.get("/api/sync/history", headers={**bad, "X-Forwarded-For": "203.0.113.99"})
        assert (again.status_code == 401) is forged_header_dodges_limit, (hops, again.status_code)
        app.extensions["pims_sync"].close()
