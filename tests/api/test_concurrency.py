"""Simultaneous requests for one clinic over real HTTP: exactly one sync, the rest 409 naming it."""

from __future__ import annotations

import threading

import pytest
import requests


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_requests_make_one_sync(server, key, store, clinic, n):
    barrier = threading.Barrier(n)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def fire():
        with requests.Session() as s:
            barrier.wait()
            r = s.post(f"{server}/api/sync/full", headers=key.headers, json={}, timeout=30)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [202] + [409] * (n - 1), [r.text for r in results]
    (winner,) = [r.json()["syncId"] for r in results if r.status_code == 202]
    assert {r.json()["syncId"] for r in results if r.status_code == 409} == {winner}
    history = store.sync_history(clinic.id, limit=50)
    assert [a.id for a in history.audits] == [winner], "exactly one sync was recorded"
