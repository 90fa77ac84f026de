"""/health, /ready (with real outages: a closed Redis port, a database URL that points nowhere, an unmigrated
database), /openapi.json."""

from __future__ import annotations

import dataclasses

import psycopg

from api.app import create_app, redis_for_api
from pims_sync.store.migrate import CREATE_LEDGER_SQL, LEDGER, migration_files
from pims_sync.store.postgres import PostgresStore
from pims_sync.sync.options import MAX_RANGE_DAYS


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
        if r.endpoint not in ("static", "openapi") and not r.endpoint.startswith("docs_ui.")  # the /docs pages
    }
    assert documented == routed
    inbound = doc["components"]["schemas"]["InboundSyncRequest"]
    assert inbound["additionalProperties"] is False
    assert inbound["properties"]["daysAhead"]["maximum"] == MAX_RANGE_DAYS  # the model's bound, published
    assert doc["paths"]["/api/sync/full"]["post"]["security"] == [{"ApiKeyAuth": []}]


def test_ready_names_the_migrations_an_unmigrated_database_lacks(api_settings, api_redis, broker_app,
                                                                 empty_database_url):
    """A database that answers pings but lacks our migrations is not ready (issue 16), and says what is missing."""
    files = [p.name for p in migration_files()]
    settings = dataclasses.replace(api_settings, database_url=empty_database_url)
    bare = PostgresStore(empty_database_url, timeout_s=5)
    try:
        client = create_app(settings, store=bare, celery_app=broker_app, redis_client=api_redis).test_client()
        body = client.get("/ready").get_json()
        assert body["down"] == ["schema"] and body["checks"]["database"]["ok"] is True
        assert body["checks"]["schema"]["missing"] == files
        assert body["checks"]["schema"]["expected"] == files[-1]
        assert "pims-sync db migrate" in body["error"]["message"] and files[0] in body["error"]["message"]

        # every file but the newest recorded: the newest alone is named
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute(CREATE_LEDGER_SQL)
            for name in files[:-1]:
                conn.execute(f"insert into {LEDGER} (filename, checksum) values (%s, 'x')", (name,))
        resp = client.get("/ready")
        assert resp.status_code == 503
        assert resp.get_json()["checks"]["schema"]["missing"] == [files[-1]]
        assert files[-1] in resp.get_json()["error"]["message"]

        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute(f"insert into {LEDGER} (filename, checksum) values (%s, 'x')", (files[-1],))
        resp = client.get("/ready")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["checks"]["schema"] == {
            "ok": True, "latencyMs": resp.get_json()["checks"]["schema"]["latencyMs"],
            "expected": files[-1], "missing": []}
    finally:
        bare.close()
