"""The simulator serves requests in parallel, so latency faults overlap instead of queueing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

LATENCY_S = 0.1
REQUESTS = 50


def test_fifty_parallel_requests_overlap(make_simulator):
    sim = make_simulator(latency_ms=LATENCY_S * 1000)
    cookie = sim.login_session().cookies.get("neo_session")

    def fetch(_):
        with requests.Session() as http:
            http.cookies.set("neo_session", cookie)
            return http.get(sim.url + "/schedule/getScheduleConfigs", timeout=10,
                            headers={"X-Requested-With": "XMLHttpRequest"}).status_code

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        started = time.monotonic()
        statuses = list(pool.map(fetch, range(REQUESTS)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * REQUESTS
    assert elapsed >= LATENCY_S
    # serialised they would take 5 s; overlapping they take a few latencies
    assert elapsed < REQUESTS * LATENCY_S / 2, f"{REQUESTS} requests took {elapsed:.2f}s"
