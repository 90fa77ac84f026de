"""gunicorn's own refusals (414, 431, 400) reach clients as the API's JSON error, not HTML."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from gunicorn.workers.gthread import ThreadWorker

from api.gunicorn_worker import JsonErrorWorker

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "api.log"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:6379/15",
           "APP_ENV": "test", "PYTHONPATH": str(REPO)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pims_sync.cli.main", "api", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--threads", "2"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            try:
                requests.get(f"{base}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def assert_json_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert "<html" not in resp.text.lower()


def test_the_worker_class_is_gthread():
    assert issubclass(JsonErrorWorker, ThreadWorker)


def test_a_long_url_is_a_json_414_that_does_not_echo_it(server):
    secret_looking = "k" * 9000
    resp = requests.get(f"{server}/api/sync/history?key={secret_looking}", timeout=10)
    assert_json_error(resp, 414, "uri_too_long")
    assert secret_looking[:100] not in resp.text


def test_a_huge_header_is_a_json_431(server):
    resp = requests.get(f"{server}/api/sync/history", headers={"X-API-Key": "p" * 10_000}, timeout=10)
    assert_json_error(resp, 431, "headers_too_large")
    assert "ppppp" not in resp.text


def test_a_malformed_request_line_is_a_json_400(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in head and b'"code": "bad_request"' in body
