"""`pims-sync api` runs gunicorn on api.wsgi:app: a real server process answering over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pims_sync_api_serves_with_gunicorn(database_url, api_redis_url, api_redis, key, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": api_redis_url, "APP_ENV": "test",
           "PYTHONPATH": str(REPO)}
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pims_sync.cli.main", "api", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--threads", "2"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        assert requests.get(f"{base}/ready", timeout=10).json()["ready"] is True
        resp = requests.post(f"{base}/api/sync/inbound", headers=key.headers, json={"daysAhead": 1}, timeout=10)
        assert resp.status_code == 202, resp.text
        status = requests.get(f"{base}{resp.json()['statusUrl']}", headers=key.headers, timeout=10)
        assert status.json()["status"] == "queued"
        assert b"gunicorn" in (tmp_path / "api.log").read_bytes().lower()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
