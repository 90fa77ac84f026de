"""SupabaseStore's webhooks, request by request, against the recording PostgREST stand-in (this folder's `postgrest` and `sb`).

The contract suite (test_store_contract.py) runs SupabaseStore only on a real project; these
check here what it sends: the filters that make a claim and a failure count compare-and-set,
the insert that ignores a second delivery for a sync, and the rows it reads back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.webhooks.models import Delivery

from .fake_postgrest import expect

CLINIC = "0f3c2b9e-8c0a-4a57-b3a4-6f1f1e2d3c4b"
HOOK = "6a1d1c3e-0b5e-4c36-9d59-2f7c3f3b1a10"
DELIVERY = "7c2e2d4f-1c6f-4d47-8e6a-3a8d4a4c2b21"
SYNC = "5b0c6f7e-2a41-4c43-9a53-0d6c7a1f2b11"
SEALED = b"\x00sealed\xff"


def hook_row(**over) -> dict:
    return {"id": HOOK, "clinic_id": CLINIC, "url": "https://hooks.example.com/x", "events": ["sync.failed"],
            "secret_encrypted": "\\x" + SEALED.hex(), "encryption_key_id": "default", "enabled": True,
            "disabled_reason": None, "consecutive_failures": 0, "last_success_at": None,
            "created_at": "2026-12-01T10:00:00+00:00", **over}


def delivery_row(**over) -> dict:
    return {"id": DELIVERY, "webhook_id": HOOK, "sync_id": SYNC, "event": "sync.failed", "payload": {"a": 1},
            "status": "pending", "attempts": 1, "next_attempt_at": "2026-12-01T10:00:00+00:00",
            "last_status_code": 500, "created_at": "2026-12-01T09:59:00+00:00", **over}


def test_the_sealed_secret_goes_and_comes_back_as_bytea_hex(sb, postgrest):
    postgrest.reply("POST", "pims_sync_webhooks", [hook_row()], status=201)
    made = sb.create_webhook(clinic_id=CLINIC, url="https://hooks.example.com/x", events=["sync.failed"],
                             secret_encrypted=SEALED)
    assert made.secret_encrypted == SEALED and made.created_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    (req,) = postgrest.take()
    expect(req, "POST", "pims_sync_webhooks", prefer={"return=representation"},
           body={"clinic_id": CLINIC, "url": "https://hooks.example.com/x", "events": ["sync.failed"],
                 "secret_encrypted": "\\x" + SEALED.hex(), "encryption_key_id": "default"})


def test_queueing_asks_for_subscribed_endpoints_and_ignores_a_second_delivery(sb, postgrest):
    postgrest.reply("GET", "pims_sync_webhooks", [{"id": HOOK}])
    postgrest.reply("POST", "pims_sync_webhook_deliveries", [{"id": DELIVERY}], status=201)
    stamp = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert sb.queue_webhook_deliveries(clinic_id=CLINIC, sync_id=SYNC, event="sync.failed",
                                       payload={"at": stamp}) == [DELIVERY]
    postgrest.reply("GET", "pims_sync_webhooks", [])
    assert sb.queue_webhook_deliveries(clinic_id=CLINIC, sync_id=SYNC, event="sync.failed", payload={}) == []
    read, insert, none = postgrest.take()
    expect(read, "GET", "pims_sync_webhooks", [("select", "id"), ("clinic_id", f"eq.{CLINIC}"),
                                                ("enabled", "eq.true"), ("events", "cs.{sync.failed}")])
    assert (insert.method, insert.path) == ("POST", "/rest/v1/pims_sync_webhook_deliveries")
    assert insert.prefer == {"return=representation", "resolution=ignore-duplicates"}
    params = dict(insert.query)  # a bulk insert names its columns (in no fixed order)
    assert params["on_conflict"] == "webhook_id,sync_id"
    assert set(params["columns"].replace('"', "").split(",")) == {"webhook_id", "sync_id", "event", "payload"}
    assert insert.body == [{"webhook_id": HOOK, "sync_id": SYNC, "event": "sync.failed",
                            "payload": {"at": "2026-12-01T10:00:00+00:00"}}]
    assert none.method == "GET"  # no endpoint wants it: nothing inserted


def test_a_claim_is_a_compare_and_set_on_the_attempt_count(sb, postgrest):
    due = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    postgrest.reply("GET", "pims_sync_webhook_deliveries", [delivery_row(next_attempt_at=due,
                                                                    pims_sync_webhooks=hook_row())])
    postgrest.reply("PATCH", "pims_sync_webhook_deliveries", [delivery_row(status="delivering", attempts=2)])
    claimed = sb.claim_webhook_delivery(DELIVERY, lease_s=120)
    assert claimed is not None
    delivery, endpoint = claimed
    assert (delivery.attempts, delivery.status, endpoint.id) == (2, "delivering", HOOK)
    read, write = postgrest.take()
    expect(read, "GET", "pims_sync_webhook_deliveries", [("select", "*,pims_sync_webhooks(*)"),
                                                          ("id", f"eq.{DELIVERY}")])
    expect(write, "PATCH", "pims_sync_webhook_deliveries",
           [("id", f"eq.{DELIVERY}"), ("attempts", "eq.1"), ("status", "in.(pending,delivering)")],
           prefer={"return=representation"})
    assert write.body["attempts"] == 2 and write.body["status"] == "delivering"
    lease_end = datetime.fromisoformat(write.body["next_attempt_at"])
    assert timedelta(seconds=100) < lease_end - datetime.now(UTC) <= timedelta(seconds=120)

    # another worker won the race: the PATCH matches no row, and nothing is sent
    postgrest.reply("GET", "pims_sync_webhook_deliveries", [delivery_row(next_attempt_at=due,
                                                                    pims_sync_webhooks=hook_row())])
    postgrest.reply("PATCH", "pims_sync_webhook_deliveries", [])
    assert sb.claim_webhook_delivery(DELIVERY, lease_s=120) is None


@pytest.mark.parametrize("row", [
    delivery_row(next_attempt_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                 pims_sync_webhooks=hook_row()),                                   # not due yet
    delivery_row(status="delivered", pims_sync_webhooks=hook_row()),               # done
    delivery_row(pims_sync_webhooks=hook_row(enabled=False)),                      # endpoint disabled
], ids=["not-due", "delivered", "disabled"])
def test_nothing_to_claim_writes_nothing(sb, postgrest, row):
    postgrest.reply("GET", "pims_sync_webhook_deliveries", [row])
    assert sb.claim_webhook_delivery(DELIVERY, lease_s=120) is None
    assert [r.method for r in postgrest.take()] == ["GET"]


def test_a_failure_is_counted_by_compare_and_set_and_can_disable(sb, postgrest):
    delivery = Delivery(id=DELIVERY, webhook_id=HOOK, sync_id=SYNC, event="sync.failed", status="delivering",
                        attempts=3)
    retry_at = datetime(2026, 12, 1, 11, tzinfo=UTC)
    postgrest.reply("GET", "pims_sync_webhooks", [{"enabled": True, "consecutive_failures": 1}])
    postgrest.reply("PATCH", "pims_sync_webhooks", [])  # another worker counted one meanwhile
    postgrest.reply("GET", "pims_sync_webhooks", [{"enabled": True, "consecutive_failures": 2}])
    postgrest.reply("PATCH", "pims_sync_webhooks", [hook_row(enabled=False)])
    assert sb.record_webhook_attempt(delivery, status_code=None, error="timed out", latency_ms=5000,
                                     next_attempt_at=retry_at, disable_after=3) is True
    attempt, settle, read1, cas1, read2, cas2 = postgrest.take()
    expect(attempt, "POST", "pims_sync_webhook_attempts", prefer={"return=minimal"},
           body={"delivery_id": DELIVERY, "attempt": 3, "status_code": None, "error": "timed out",
                 "latency_ms": 5000})
    expect(settle, "PATCH", "pims_sync_webhook_deliveries", [("id", f"eq.{DELIVERY}")], prefer={"return=minimal"},
           body={"status": "pending", "last_status_code": None, "next_attempt_at": retry_at.isoformat()})
    expect(cas1, "PATCH", "pims_sync_webhooks", [("id", f"eq.{HOOK}"), ("consecutive_failures", "eq.1")],
           prefer={"return=representation"}, body={"consecutive_failures": 2})
    expect(cas2, "PATCH", "pims_sync_webhooks", [("id", f"eq.{HOOK}"), ("consecutive_failures", "eq.2")],
           prefer={"return=representation"},
           body={"consecutive_failures": 3, "enabled": False, "disabled_reason": "3 failed attempts in a row"})
    assert read1.method == read2.method == "GET"


def test_a_success_resets_the_count_and_settles_the_delivery(sb, postgrest):
    delivery = Delivery(id=DELIVERY, webhook_id=HOOK, sync_id=SYNC, event="sync.failed", status="delivering",
                        attempts=1)
    assert sb.record_webhook_attempt(delivery, status_code=204, error=None, latency_ms=9, next_attempt_at=None,
                                     disable_after=3) is False
    _, settle, reset = postgrest.take()
    assert settle.body == {"status": "delivered", "last_status_code": 204}
    expect(reset, "PATCH", "pims_sync_webhooks", [("id", f"eq.{HOOK}")], prefer={"return=minimal"})
    assert reset.body["consecutive_failures"] == 0 and reset.body["last_success_at"]


def test_due_deliveries_join_enabled_endpoints_and_the_log_reads_attempts(sb, postgrest):
    postgrest.reply("GET", "pims_sync_webhook_deliveries", [{"id": DELIVERY, "pims_sync_webhooks": {"enabled": True}}])
    assert sb.due_webhook_deliveries(limit=5) == [DELIVERY]
    (due,) = postgrest.take()
    params = dict(due.query)
    assert params["select"] == "id,pims_sync_webhooks!inner(enabled)"
    assert params["status"] == "in.(pending,delivering)" and params["pims_sync_webhooks.enabled"] == "eq.true"
    assert params["next_attempt_at"].startswith("lte.") and params["limit"] == "5"

    postgrest.reply("GET", "pims_sync_webhook_deliveries", [delivery_row(attempts=2)])
    postgrest.reply("GET", "pims_sync_webhook_attempts", [
        {"delivery_id": DELIVERY, "attempt": 1, "status_code": 500, "error": "HTTP 500", "latency_ms": 7,
         "attempted_at": "2026-12-01T10:00:00+00:00"},
        {"delivery_id": DELIVERY, "attempt": 2, "status_code": 200, "error": None, "latency_ms": 4,
         "attempted_at": "2026-12-01T10:00:05+00:00"}])
    (logged,) = sb.webhook_deliveries(HOOK)
    assert [a["statusCode"] for a in logged.attempt_log] == [500, 200]
    assert logged.attempt_log[1]["at"] == "2026-12-01T10:00:05+00:00"
    _, attempts = postgrest.take()
    assert dict(attempts.query)["delivery_id"] == f"in.({DELIVERY})"


def test_swept_syncs_read_top_level_failures_with_the_reason(sb, postgrest):
    assert sb.swept_syncs(reason="worker lost", within_s=60) == []
    (req,) = postgrest.take()
    params = dict(req.query)
    assert params["parent_id"] == "is.null" and params["status"] == "eq.failed"
    assert params["error_message"] == "eq.worker lost" and params["finished_at"].startswith("gte.")
    since = datetime.fromisoformat(params["finished_at"].removeprefix("gte."))
    assert timedelta(seconds=55) < datetime.now(UTC) - since < timedelta(seconds=65)
