"""`pims-sync api` runs gunicorn on api.wsgi:app: a real server process answering over HTTP."""

from __future__ import annotations

import os

import requests

from tests.fixtures.api_process import API_ARGV, REPO, api_process, free_port


def test_pims_sync_api_serves_with_gunicorn(database_url, api_redis_url, api_redis, key, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": api_redis_url, "APP_ENV": "test",
           "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "api.log"
    argv = (*API_ARGV, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--threads", "2")
    with api_process(env, port=port, log_path=log_path, argv=argv) as base:
        assert requests.get(f"{base}/health", timeout=30).status_code == 200
        assert requests.get(f"{base}/ready", timeout=30).json()["ready"] is True
        resp = requests.post(f"{base}/api/sync/inbound", headers=key.headers, json={"daysAhead": 1}, timeout=30)
        assert resp.status_code == 202, resp.text
        status = requests.get(f"{base}{resp.json()['statusUrl']}", headers=key.headers, timeout=30)
        assert status.json()["status"] == "queued"
        assert b"gunicorn" in log_path.read_bytes().lower()
