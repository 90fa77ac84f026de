"""The in-process key cache (revocation still reaches every API process) and a limiter that asks
Redis nothing for a good key. Real Postgres, real Redis, the real CLI in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg
import redis

from api.app import create_app
from api.auth import KEYS_VERSION_KEY, KeyCache
from api.fail_fast import redis_for_api

HISTORY = "/api/sync/history"


def _app_with_cache(api_settings, store, broker_app, redis_client, *, ttl_s: float, check_s: float):
    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=redis_client,
                     auth_max_failures=5, auth_window_s=30)
    auth = app.extensions["pims_sync"].authenticator
    auth.cache = KeyCache(store, redis_client, ttl_s=ttl_s, check_s=check_s)
    return app


def _revoke_behind_the_apis_back(database_url: str, key_id: str) -> None:
    """What the product's screens or an operator's SQL do: no pims-sync code, no version bump."""
    with psycopg.connect(database_url) as conn:
        conn.execute("update clinic_api_keys set is_active = false where id = %s", (key_id,))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pims_sync.cli.main", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_a_key_revoked_with_the_cli_in_another_process_is_refused_by_the_running_api(
    api_settings, store, broker_app, api_redis, api_redis_url, database_url, make_key, clinic
):
    # a cache that would hold keys for 5 minutes: only the version bump can end it here
    app = _app_with_cache(api_settings, store, broker_app, api_redis, ttl_s=300, check_s=0.2)
    client = app.test_client()
    quiet, revoked = make_key(clinic.id), make_key(clinic.id)
    try:
        for k in (quiet, revoked):
            assert client.get(HISTORY, headers=k.headers).status_code == 200
        # the lookups are cached: a change nothing announces is not seen yet
        _revoke_behind_the_apis_back(database_url, quiet.id)
        assert client.get(HISTORY, headers=quiet.headers).status_code == 200

        done = _cli({"DATABASE_URL": database_url, "REDIS_URL": api_redis_url, "APP_ENV": "test"},
                    "keys", "revoke", revoked.id)
        assert done.returncode == 0, done.stdout + done.stderr
        assert api_redis.get(KEYS_VERSION_KEY) is not None, "keys revoke bumps the version in Redis"

        deadline = time.monotonic() + 30  # generous: the bound is check_s (0.2 s) on an idle machine
        while (resp := client.get(HISTORY, headers=revoked.headers)).status_code == 200:
            assert time.monotonic() < deadline, "the API never saw the CLI's revocation"
            time.sleep(0.05)
        assert resp.status_code == 401 and "revoked" in resp.get_json()["error"]["message"]
        # the bump dropped the whole cache: the change nobody announced is seen too
        assert client.get(HISTORY, headers=quiet.headers).status_code == 401
    finally:
        app.extensions["pims_sync"].close()


def test_a_change_nobody_announces_is_seen_when_the_entry_expires(
    api_settings, store, broker_app, api_redis, database_url, make_key, clinic
):
    app = _app_with_cache(api_settings, store, broker_app, api_redis, ttl_s=0.5, check_s=60)
    client = app.test_client()
    k = make_key(clinic.id)
    try:
        assert client.get(HISTORY, headers=k.headers).status_code == 200
        _revoke_behind_the_apis_back(database_url, k.id)
        deadline = time.monotonic() + 30
        while client.get(HISTORY, headers=k.headers).status_code == 200:
            assert time.monotonic() < deadline, "a cached key outlived its time to live"
            time.sleep(0.05)
        assert client.get(HISTORY, headers=k.headers).status_code == 401
    finally:
        app.extensions["pims_sync"].close()


def test_while_redis_cannot_be_read_nothing_is_cached(
    api_settings, store, broker_app, database_url, make_key, clinic
):
    dead = redis_for_api("redis://127.0.0.1:1/0")  # nothing listens on port 1
    app = _app_with_cache(api_settings, store, broker_app, dead, ttl_s=300, check_s=300)
    client = app.test_client()
    k = make_key(clinic.id)
    try:
        assert client.get(HISTORY, headers=k.headers).status_code == 200
        _revoke_behind_the_apis_back(database_url, k.id)
        assert client.get(HISTORY, headers=k.headers).status_code == 401
    finally:
        app.extensions["pims_sync"].close()
        dead.close()


def test_a_good_key_asks_redis_nothing_for_the_limiter(app, client, key, api_redis_url):
    """The failed-key limiter touches Redis on failures only; blocks are remembered in the process."""
    seen: list[str] = []
    monitor_client = redis.Redis.from_url(api_redis_url)
    started = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        with monitor_client.monitor() as m:
            started.set()
            for cmd in m.listen():
                seen.append(cmd["command"])
                if stop.is_set() and "pims-test-monitor-end" in cmd["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert started.wait(10)
    for _ in range(5):
        assert client.get(HISTORY, headers=key.headers).status_code == 200
    assert client.get(HISTORY, headers={"X-API-Key": "pims_test_00000000_wrong"}).status_code == 401
    stop.set()
    redis.Redis.from_url(api_redis_url).get("pims-test-monitor-end")  # the watcher's last line
    watcher.join(10)
    monitor_client.close()
    limiter = [c.split()[0].upper() for c in seen if "pims:authfail:" in c]
    assert limiter, f"the failed key was not counted in Redis: {seen}"
    assert sorted(limiter) == ["EXPIRE", "INCRBY", "TTL"], limiter  # the one failure, nothing for the good key
