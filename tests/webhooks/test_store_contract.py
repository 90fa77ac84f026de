"""The webhook store contract, run against every Store (tests/fixtures/db.py: ``store_contract``).

PostgresStore runs here on the real database; SupabaseStore runs the same tests when
SUPABASE_TEST_URL and SUPABASE_TEST_SERVICE_ROLE_KEY name a project with the migrations applied
(no PostgREST server runs on CI machines, so it skips there; its requests are checked in
test_supabase_requests.py).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import NotFound

pytestmark = pytest.mark.store_contract

SEALED = b"\x00\x01sealed-secret\xff" + secrets.token_bytes(8)
PAYLOAD = {"type": "sync.failed", "data": {"syncId": "x", "errors": [{"message": "worker lost"}]}}


def new_sync(store, clinic_id: str, *, status: str = "failed", error: str | None = "worker lost"):
    audit = store.create_audit(clinic_id=clinic_id, sync_type="inbound", trigger="api")
    store.start_audit(audit.id)
    return store.finish_audit(audit.id, status=status, error=error)


def test_endpoints_are_created_read_listed_switched_and_removed(store, clinic):
    made = store.create_webhook(clinic_id=clinic.id, url="https://hooks.example.com/a",
                                events=["sync.failed"], secret_encrypted=SEALED)
    other = store.create_webhook(clinic_id=clinic.id, url="https://hooks.example.com/b",
                                 events=["sync.completed", "sync.partial"], secret_encrypted=SEALED)
    got = store.get_webhook(made.id)
    assert got.secret_encrypted == SEALED and got.events == ("sync.failed",) and got.enabled
    assert got.clinic_id == clinic.id and got.created_at is not None and got.consecutive_failures == 0
    assert [w.id for w in store.list_webhooks(clinic.id)] == [made.id, other.id]
    assert {made.id, other.id} <= {w.id for w in store.list_webhooks()}
    store.set_webhook_enabled(made.id, False, reason="paused by hand")
    paused = store.get_webhook(made.id)
    assert not paused.enabled and paused.disabled_reason == "paused by hand"
    store.set_webhook_enabled(made.id, True)
    assert store.get_webhook(made.id).enabled and store.get_webhook(made.id).disabled_reason is None
    assert store.delete_webhook(other.id) is True and store.delete_webhook(other.id) is False
    with pytest.raises(NotFound):
        store.get_webhook(other.id)


def test_deliveries_are_queued_once_claimed_once_retried_then_disable_the_endpoint(store, clinic):
    wants = store.create_webhook(clinic_id=clinic.id, url="https://hooks.example.com/f", events=["sync.failed"],
                                 secret_encrypted=SEALED)
    store.create_webhook(clinic_id=clinic.id, url="https://hooks.example.com/c", events=["sync.completed"],
                         secret_encrypted=SEALED)
    sync = new_sync(store, clinic.id)
    queued = store.queue_webhook_deliveries(clinic_id=clinic.id, sync_id=sync.id, event="sync.failed",
                                            payload=PAYLOAD)
    assert len(queued) == 1  # only the endpoint that wants sync.failed
    assert store.queue_webhook_deliveries(clinic_id=clinic.id, sync_id=sync.id, event="sync.failed",
                                          payload=PAYLOAD) == []  # a second call adds nothing
    (delivery_id,) = queued
    assert delivery_id in store.due_webhook_deliveries()

    claimed = store.claim_webhook_delivery(delivery_id, lease_s=120)
    assert claimed is not None
    delivery, endpoint = claimed
    assert (delivery.attempts, delivery.status, delivery.event) == (1, "delivering", "sync.failed")
    assert delivery.payload == PAYLOAD and endpoint.id == wants.id and endpoint.secret_encrypted == SEALED
    assert store.claim_webhook_delivery(delivery_id, lease_s=120) is None  # leased: nobody else sends it
    assert delivery_id not in store.due_webhook_deliveries()

    past = datetime.now(UTC) - timedelta(seconds=5)
    assert store.record_webhook_attempt(delivery, status_code=500, error="HTTP 500", latency_ms=12,
                                        next_attempt_at=past, disable_after=2) is False
    assert delivery_id in store.due_webhook_deliveries()
    again, _ = store.claim_webhook_delivery(delivery_id, lease_s=120)
    assert again.attempts == 2
    assert store.record_webhook_attempt(again, status_code=None, error="connection failed", latency_ms=3,
                                        next_attempt_at=past, disable_after=2) is True
    off = store.get_webhook(wants.id)
    assert not off.enabled and off.consecutive_failures == 2 and off.disabled_reason == "2 failed attempts in a row"
    assert delivery_id not in store.due_webhook_deliveries()  # a disabled endpoint's deliveries wait
    assert store.claim_webhook_delivery(delivery_id, lease_s=120) is None

    (logged,) = store.webhook_deliveries(wants.id)
    assert logged.id == delivery_id and logged.status == "pending" and logged.attempts == 2
    assert [(a["attempt"], a["statusCode"], a["error"]) for a in logged.attempt_log] == [
        (1, 500, "HTTP 500"), (2, None, "connection failed")]
    assert all(a["latencyMs"] >= 0 and a["at"] for a in logged.attempt_log)

    store.set_webhook_enabled(wants.id, True)  # re-enabled: the counter starts again, the delivery is due
    assert store.get_webhook(wants.id).consecutive_failures == 0
    third, _ = store.claim_webhook_delivery(delivery_id, lease_s=120)
    assert store.record_webhook_attempt(third, status_code=204, error=None, latency_ms=5,
                                        next_attempt_at=None, disable_after=2) is False
    done = store.get_webhook(wants.id)
    assert done.last_success_at is not None and done.consecutive_failures == 0
    assert store.webhook_deliveries(wants.id)[0].status == "delivered"
    assert delivery_id not in store.due_webhook_deliveries()


def test_retries_over_leave_a_failed_delivery(store, clinic):
    hook = store.create_webhook(clinic_id=clinic.id, url="https://hooks.example.com/x", events=["sync.failed"],
                                secret_encrypted=SEALED)
    sync = new_sync(store, clinic.id)
    (delivery_id,) = store.queue_webhook_deliveries(clinic_id=clinic.id, sync_id=sync.id, event="sync.failed",
                                                    payload=PAYLOAD)
    delivery, _ = store.claim_webhook_delivery(delivery_id, lease_s=120)
    store.record_webhook_attempt(delivery, status_code=410, error="HTTP 410", latency_ms=1, next_attempt_at=None,
                                 disable_after=10)
    assert store.webhook_deliveries(hook.id)[0].status == "failed"
    assert delivery_id not in store.due_webhook_deliveries()
    assert store.get_webhook(hook.id).enabled  # one failure of ten


def test_swept_syncs_are_top_level_failures_with_that_reason_just_now(store, clinic):
    lost = new_sync(store, clinic.id)
    other_reason = new_sync(store, clinic.id, error="login refused")
    completed = new_sync(store, clinic.id, status="completed", error=None)
    parent = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api")
    child = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api", parent_id=parent.id)
    store.start_audit(child.id)
    store.finish_audit(child.id, status="failed", error="worker lost")
    found = [a.id for a in store.swept_syncs(reason="worker lost", within_s=300)]
    assert lost.id in found
    assert not {other_reason.id, completed.id, child.id} & set(found)
    assert store.swept_syncs(reason=f"no such reason {secrets.token_hex(3)}", within_s=300) == []
