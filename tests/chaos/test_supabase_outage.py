"""A Supabase project that accepts connections and never answers is a quick 503, not a 30 s hang.

The seed's `docker run` line runs the API on Supabase's REST API (no DATABASE_URL). A stand-in
"project" on 127.0.0.1 accepts TCP connections and says nothing, like a hung gateway; the API,
built as `pims-sync api` builds it, must answer within its bound.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from api.app import create_app
from pims_sync.config import Settings

BOUND_S = 3.0  # the API's database bound (issue 16), plus the slack below for a loaded machine
SLACK_S = 2.0


@pytest.fixture
def silent_project():
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_a_hung_supabase_project_is_a_quick_503(silent_project, redis_url):
    settings = Settings.from_env({
        "SUPABASE_URL": silent_project, "SUPABASE_SERVICE_ROLE_KEY": "service-role-key-of-the-project",
        "REDIS_URL": redis_url, "APP_ENV": "test",
    })
    app = create_app(settings)
    try:
        started = time.monotonic()
        resp = app.test_client().get("/api/sync/history", headers={"X-API-Key": "pims_test_abcd1234_" + "x" * 40})
        took = time.monotonic() - started
    finally:
        app.extensions["pims_sync"].close()
    assert resp.status_code == 503, resp.get_json()
    assert resp.get_json()["error"]["message"] == "the database is unavailable; try again shortly"
    assert took < BOUND_S + SLACK_S, f"answered after {took:.1f} s"
