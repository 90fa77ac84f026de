"""gunicorn's own refusals (414, 431, 400) reach clients as the API's JSON error, not HTML."""

from __future__ import annotations

import os
import socket

import pytest
import requests
from gunicorn.workers.gthread import ThreadWorker

from api.gunicorn_worker import JsonErrorWorker
from tests.fixtures.api_process import API_ARGV, REPO, api_process, free_port
from tests.fixtures.services import DB_GUNICORN


@pytest.fixture(scope="module")
def server(database_url, redis_server_base, tmp_path_factory):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": f"{redis_server_base}/{DB_GUNICORN}",
           "APP_ENV": "test", "PYTHONPATH": str(REPO)}
    argv = (*API_ARGV, "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "2")
    log_path = tmp_path_factory.mktemp("gunicorn") / "api.log"
    with api_process(env, port=port, log_path=log_path, argv=argv) as base:
        yield base


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
