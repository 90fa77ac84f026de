"""Helpers for worker tests: clinics with simulator credentials, enqueueing, waiting."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import redis

from pims_sync.sync.options import SyncOptions
from workers.enqueue import Enqueued, InFlight, enqueue_sync, wait_for_sync

SMALL = {"days_ahead": 1, "lookback_days": 1}  # a few appointments per day, two days each way


def clinic_from_sim(store, cipher, sim_clinic: dict):
    """A database clinic whose stored (encrypted) credentials log into this simulator clinic."""
    clinic = store.create_clinic(name=f"W {sim_clinic['name']} {secrets.token_hex(2)}",
                                 timezone=sim_clinic["timezone"])
    store.save_credentials(cipher.encrypt_credentials(
        sim_clinic["username"], sim_clinic["password"], sim_clinic["company_id"], clinic_id=clinic.id))
    return clinic


def enqueue(cluster, store, clinic_id: str, sync_type: str = "full", **options: Any) -> Enqueued:
    inflight = InFlight(redis.Redis.from_url(cluster.redis_url))
    return enqueue_sync(cluster.app, store, inflight, clinic_id=clinic_id, sync_type=sync_type,
                        options=SyncOptions.from_dict({**SMALL, **options}), trigger="api", ttl_s=600)


def wait_done(store, sync_id: str, clinic_id: str, timeout_s: float = 45.0) -> dict:
    status = wait_for_sync(store, sync_id, clinic_id=clinic_id, timeout_s=timeout_s, poll_s=0.2)
    assert status["status"] not in ("queued", "in_progress"), f"sync did not finish in {timeout_s} s: {status}"
    return status


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def duplicate_external_ids(store, clinic_id: str) -> list[str]:
    seen, dupes = set(), []
    for row in store.list_cases(clinic_id, include_deleted=True):
        key = (row["source"], row["external_id"])
        if key in seen:
            dupes.append(row["external_id"])
        seen.add(key)
    return dupes
