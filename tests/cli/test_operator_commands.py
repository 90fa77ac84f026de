"""Operator conveniences of the CLI: sync type spellings, a sync with no worker, a visible worker.

Real database and Redis; no worker process is started here, on purpose.
"""

from __future__ import annotations

import json

import pytest
import redis
import requests
from click.testing import CliRunner

from pims_sync.cli.main import cli
from tests.fixtures.services import DB_IDLE

TEST_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def idle_redis_url(redis_server_base):
    """A Redis database no worker of this test session consumes from."""
    url = f"{redis_server_base}/{DB_IDLE}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def env(database_url, idle_redis_url):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": idle_redis_url,
        "IDEXX_ENCRYPTION_KEY": TEST_KEY,
        "APP_ENV": "test",
    }


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("spelling", ["reconcile", "reconciliation"])
def test_history_accepts_both_spellings_of_reconciliation(env, store, spelling):
    clinic = store.create_clinic(name="History Spelling Clinic", timezone="America/Chicago")
    audit = store.create_audit(clinic_id=clinic.id, sync_type="reconciliation", trigger="cli")
    store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="cli")

    result = run(env, "history", "--clinic", clinic.id, "--type", spelling, "--json")

    assert result.exit_code == 0, result.output
    assert audit.id in result.output and result.output.count('"syncId"') == 1


def test_a_sync_with_no_worker_says_so_and_suggests_what_to_run(env, store):
    clinic = store.create_clinic(name="No Worker Clinic", timezone="America/Chicago")

    result = run(env, "sync", "reconciliation", "--clinic", clinic.id, "--timeout", "3")

    assert "no worker is consuming the 'sync' queue" in result.output
    assert "pims-sync worker" in result.output and "--local" in result.output
    assert result.exit_code == 1  # it did not end within --timeout; the message said why


def test_visible_worker_without_a_display_says_how_to_get_one(env):
    result = CliRunner().invoke(cli, ["worker", "--visible"], env={**env, "DISPLAY": None, "WAYLAND_DISPLAY": None})
    assert result.exit_code == 2
    assert "xvfb-run pims-sync worker --visible" in result.output


@pytest.mark.parametrize("command", ["api", "worker"])
def test_servers_without_a_database_setting_exit_2_naming_it(command):
    result = CliRunner().invoke(cli, [command], env={"DATABASE_URL": None, "SUPABASE_URL": None,
                                                     "IDEXX_ENCRYPTION_KEY": TEST_KEY})
    assert result.exit_code == 2, result.output
    assert "DATABASE_URL" in result.output and "Traceback" not in result.output


def test_a_local_sync_honours_the_cut_over_flag(env, store):
    clinic = store.create_clinic(name="Legacy Owned Clinic", timezone="America/Chicago")
    store.update_clinic(clinic.id, sync_owner="legacy")

    result = run(env, "sync", "inbound", "--clinic", clinic.id, "--local")

    assert result.exit_code == 1
    assert "sync_owner" in result.output and "--sync-owner pims-sync" in result.output


def test_health_shows_the_api_servers_memory_and_uptime_and_the_clinics(env, store, database_url, idle_redis_url):
    import threading

    from werkzeug.serving import make_server

    from api.app import create_app
    from pims_sync.config import Settings

    clinic = store.create_clinic(name="Health Listed Clinic", timezone="America/Chicago")
    app = create_app(Settings.from_env(env), store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        result = run(env, "health", "--json", "--api-url", url)
        body = json.loads(result.stdout)
        served = requests.get(f"{url}/health", timeout=30).json()
    finally:
        server.shutdown()
        app.extensions["pims_sync"].close()
    assert body["checks"]["api"]["ok"] is True
    assert body["memory"]["apiRssMb"] > 0  # the server's process, as its own /health reports it
    assert abs(body["memory"]["apiRssMb"] - served["memory"]["rssMb"]) < 50
    assert 0 <= body["memory"]["apiUptimeSeconds"] <= served["uptimeSeconds"]
    assert clinic.id in [c["id"] for c in body["clinics"]]
    assert result.exit_code == 1  # no worker consumes this Redis: unhealthy, and it says so
    assert body["workers"] == [] and body["healthy"] is False
