"""/health, /ready (with real outages: a closed Redis port, a database URL that points nowhere), /openapi.json."""

from __future__ import annotations

from api.app import create_app, redis_for_api
from pims_sync.store.postgres import PostgresStore


def test_health_reports_uptime_memory_version(client):
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["version"]
    assert body["uptimeSeconds"] >= 0
    assert body["memory"]["rssBytes"] > 1024 * 1024


def test_ready_when_everything_answers(client):
    resp = client.get("/ready")
    assert resp.status_code == 200
    assert resp.get_json()["checks"]["database"]["ok"] and resp.get_json()["checks"]["redis"]["ok"]


def test_ready_is_503_naming_redis_when_redis_is_unreachable(api_settings, store, broker_app):
    dead = redis_for_api("redis://127.0.0.1:1/0")  # a closed port
    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=dead)
    resp = app.test_client().get("/ready")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["success"] is False and body["error"]["code"] == "not_ready"
    assert body["down"] == ["redis"] and "redis" in body["error"]["message"]
    assert body["checks"]["database"]["ok"] is True


def test_ready_is_503_naming_the_database_when_its_url_points_nowhere(api_settings, api_redis, broker_app):
    nowhere = PostgresStore("postgresql://postgres@127.0.0.1:1/nowhere", timeout_s=1)
    try:
        app = create_app(api_settings, store=nowhere, celery_app=broker_app, redis_client=api_redis)
        resp = app.test_client().get("/ready")
        assert resp.status_code == 503
        body = resp.get_json()
        assert body["down"] == ["database"] and "database" in body["error"]["message"]
        assert body["checks"]["redis"]["ok"] is True
    finally:
        nowhere.close()


def test_enqueue_with_redis_down_is_503_not_500(api_settings, store, broker_app, key):
    dead = redis_for_api("redis://127.0.0.1:1/0")  # a closed port
    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=dead)
    resp = app.test_client().post("/api/sync/inbound", headers=key.headers)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "queue_unavailable"
    app.extensions["pims_sync"].close()


def test_openapi_document_covers_every_route(app, client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {
        (m, str(r.rule).replace("<uuid:", "{").replace("<", "{").replace(">", "}"))
        for r in app.url_map.iter_rules()
        for m in r.methods - {"HEAD", "OPTIONS"}
        if r.endpoint not in ("static", "openapi")
    }
    assert documented == routed
    inbound = doc["components"]["schemas"]["InboundSyncRequest"]
    assert inbound["additionalProperties"] is False
    assert inbound["properties"]["daysAhead"]["maximum"] == 90
    assert doc["paths"]["/api/sync/full"]["post"]["security"] == [{"ApiKeyAuth": []}]
