"""The simulators' HTTP server keeps connections alive (as IDEXX and ezyVet do) and stops cleanly."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.simulator import SimulatorServer
from pims_sync.wsgi_server import EmbeddedServer


def _peer_port_app(environ, start_response):
    """Answers with the client's source port: one port for two calls means one TCP connection."""
    body = environ["REMOTE_PORT"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _connections_opened(http: requests.Session, url: str) -> int:
    """How many TCP connections this session's urllib3 pools opened (their own counter)."""
    pools = http.get_adapter(url).poolmanager.pools
    return sum(pools[key].num_connections for key in pools.keys())


def test_a_session_reuses_one_connection_for_two_calls():
    with EmbeddedServer(_peer_port_app) as server, requests.Session() as http:
        first = http.get(server.url, timeout=5)
        second = http.get(server.url, timeout=5)
        opened = _connections_opened(http, server.url)
    assert first.status_code == second.status_code == 200
    assert first.headers.get("Connection", "").lower() != "close"
    assert first.text == second.text  # the same client port: the same connection
    assert opened == 1


def test_idexx_simulator_keeps_the_connection_alive_with_latency(make_simulator):
    sim = make_simulator(latency_ms=50)
    http = sim.login_session()
    opened = _connections_opened(http, sim.url)
    started = time.monotonic()
    for _ in range(2):
        response = http.get(sim.url + "/schedule/getScheduleConfigs", timeout=10)
        assert response.status_code == 200, response.text[:200]
        assert response.headers.get("Connection", "").lower() != "close"
    assert time.monotonic() - started >= 0.1  # the injected latency still applies to every call
    assert _connections_opened(http, sim.url) == opened  # no new connection for the two calls
    assert sim.stats()["requests_by_endpoint"]["schedule"] == 2


def test_ezyvet_simulator_keeps_the_connection_alive():
    with EzyvetSimulator(seed=5, sites=1) as sim, requests.Session() as http:
        for _ in range(2):
            response = http.get(sim.url + "/v1/does-not-exist", timeout=5)
            assert response.status_code in (401, 404)
            assert response.headers.get("Connection", "").lower() != "close"
        assert _connections_opened(http, sim.url) == 1


def test_stop_wakes_a_request_asleep_in_a_hang_fault(make_simulator):
    sim = make_simulator()
    sim.fault("hang", seconds=60, endpoint="schedule", count=1)
    http = sim.login_session()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(http.get(sim.url + "/schedule/getScheduleConfigs", timeout=30).status_code)
        except requests.RequestException as e:
            outcome.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)  # the request is now asleep on a server thread
    sim.server.stop()
    caller.join(timeout=30)  # well under the 60 s hang: only stop() can end the request in time
    assert not caller.is_alive() and outcome, "stop() did not wake the request asleep in the hang"


def test_a_taken_port_fails_at_construction():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            SimulatorServer(port=taken.getsockname()[1])
