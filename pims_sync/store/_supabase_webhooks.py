"""SupabaseStore's webhooks: the ``pims_sync_webhook*`` tables over the REST API.

The same tables, rows and rules as :mod:`._webhooks` (PostgresStore), whose row mappers it
shares. PostgREST cannot write ``attempts = attempts + 1`` or read-and-update in one statement,
so the two conditional writes are compare-and-set PATCHes: a delivery is claimed only while its
``attempts`` is still the count read (two workers racing for it: one wins, the other sees no row
and sends nothing), and a failure is added to an endpoint only while ``consecutive_failures`` is
still the count read (retried on a race). Queueing is an insert that ignores duplicates on
(webhook_id, sync_id), so a second call for a sync adds nothing. "Now" (due times, the lease,
``last_success_at``, the swept-sync window) is this machine's clock; PostgresStore uses the
database's. Mixed into :class:`~pims_sync.store.supabase.SupabaseStore`, which provides ``table``
and ``_read``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from postgrest.types import ReturnMethod

from ..errors import NotFound, StoreError
from ..models import Audit
from ..webhooks.models import Delivery, WebhookEndpoint
from . import _rows as rows
from ._host import SupabaseHost
from ._webhooks import attempt_outcome, delivery_row, disabled_reason, endpoint_row

WEBHOOKS = "pims_sync_webhooks"
DELIVERIES = "pims_sync_webhook_deliveries"
ATTEMPTS = "pims_sync_webhook_attempts"
RUNS = "pims_sync_runs"
OPEN = ("pending", "delivering")  # a delivery still to send (or whose lease may run out)
CAS_TRIES = 8  # compare-and-set retries when another worker changed the endpoint meanwhile


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class SupabaseWebhooks(SupabaseHost):
    supports_webhooks = True

    def create_webhook(self, *, clinic_id: str, url: str, events: Sequence[str], secret_encrypted: bytes,
                       encryption_key_id: str = "default") -> WebhookEndpoint:
        row = {"clinic_id": rows.parse_uuid(clinic_id, "clinic"), "url": url, "events": list(events),
               "secret_encrypted": "\\x" + secret_encrypted.hex(), "encryption_key_id": encryption_key_id}
        (made,) = self._read("create webhook", WEBHOOKS, self.table(WEBHOOKS).insert(row))
        return endpoint_row(made)

    def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        wid = rows.parse_uuid(webhook_id, "webhook")
        found = self._read("read webhook", WEBHOOKS, self.table(WEBHOOKS).select("*").eq("id", wid))
        if not found:
            raise NotFound(f"webhook {webhook_id} not found")
        return endpoint_row(found[0])

    def list_webhooks(self, clinic_id: str | None = None) -> list[WebhookEndpoint]:
        query = self.table(WEBHOOKS).select("*")
        if clinic_id is not None:
            query = query.eq("clinic_id", rows.parse_uuid(clinic_id, "clinic"))
        return [endpoint_row(r) for r in self._read("list webhooks", WEBHOOKS, query.order("created_at").order("id"))]

    def delete_webhook(self, webhook_id: str) -> bool:
        wid = rows.parse_uuid(webhook_id, "webhook")
        return bool(self._read("delete webhook", WEBHOOKS, self.table(WEBHOOKS).delete().eq("id", wid)))

    def set_webhook_enabled(self, webhook_id: str, enabled: bool, *, reason: str | None = None) -> None:
        values: dict[str, Any] = {"enabled": enabled, "disabled_reason": None if enabled else reason}
        if enabled:
            values["consecutive_failures"] = 0
        query = self.table(WEBHOOKS).update(values, returning=ReturnMethod.minimal)
        self._read("update webhook", WEBHOOKS, query.eq("id", rows.parse_uuid(webhook_id, "webhook")))

    def queue_webhook_deliveries(self, *, clinic_id: str, sync_id: str, event: str,
                                 payload: dict[str, Any]) -> list[str]:
        """One pending delivery per enabled endpoint of the clinic that wants ``event``; ids of new ones."""
        sid = rows.parse_uuid(sync_id, "sync")
        query = (self.table(WEBHOOKS).select("id").eq("clinic_id", rows.parse_uuid(clinic_id, "clinic"))
                 .eq("enabled", True).contains("events", [event]))
        endpoints = self._read("queue webhook deliveries", WEBHOOKS, query)
        if not endpoints:
            return []
        body = json.loads(rows.dumps(payload))  # plain JSON values, as PostgresStore writes them
        new = [{"webhook_id": e["id"], "sync_id": sid, "event": event, "payload": body} for e in endpoints]
        insert = self.table(DELIVERIES).upsert(new, on_conflict="webhook_id,sync_id", ignore_duplicates=True)
        return [str(r["id"]) for r in self._read("queue webhook deliveries", DELIVERIES, insert)]

    def claim_webhook_delivery(self, delivery_id: str, *, lease_s: int) -> tuple[Delivery, WebhookEndpoint] | None:
        """Take a due delivery for one attempt (attempts + 1), or None if it is not ours to send."""
        did = rows.parse_uuid(delivery_id, "delivery")
        query = self.table(DELIVERIES).select(f"*,{WEBHOOKS}(*)").eq("id", did)
        found = self._read("claim webhook delivery", DELIVERIES, query)
        if not found:
            return None
        row, now = found[0], _now()
        endpoint = row.pop(WEBHOOKS, None)
        due = rows._ts(row["next_attempt_at"])
        if endpoint is None or not endpoint["enabled"] or row["status"] not in OPEN or due is None or due > now:
            return None
        update = (self.table(DELIVERIES)
                  .update({"status": "delivering", "attempts": int(row["attempts"]) + 1,
                           "next_attempt_at": _iso(now + timedelta(seconds=lease_s))})
                  .eq("id", did).eq("attempts", row["attempts"]).in_("status", list(OPEN)))
        claimed = self._read("claim webhook delivery", DELIVERIES, update)
        if not claimed:
            return None  # another worker claimed it between the read and the write
        return delivery_row(claimed[0]), endpoint_row(endpoint)

    def record_webhook_attempt(self, delivery: Delivery, *, status_code: int | None, error: str | None,
                               latency_ms: int, next_attempt_at: datetime | None, disable_after: int) -> bool:
        """Log the attempt and settle the delivery; True when this failure disabled the endpoint."""
        ok, status = attempt_outcome(status_code, next_attempt_at)
        attempt = {"delivery_id": delivery.id, "attempt": delivery.attempts, "status_code": status_code,
                   "error": error, "latency_ms": latency_ms}
        self._read("record webhook attempt", ATTEMPTS,
                   self.table(ATTEMPTS).insert(attempt, returning=ReturnMethod.minimal))
        settled: dict[str, Any] = {"status": status, "last_status_code": status_code}
        if next_attempt_at is not None:
            settled["next_attempt_at"] = _iso(next_attempt_at)
        self._read("record webhook attempt", DELIVERIES, self.table(DELIVERIES)
                   .update(settled, returning=ReturnMethod.minimal).eq("id", delivery.id))
        if ok:
            self._read("record webhook attempt", WEBHOOKS, self.table(WEBHOOKS)
                       .update({"consecutive_failures": 0, "last_success_at": _iso(_now())},
                               returning=ReturnMethod.minimal).eq("id", delivery.webhook_id))
            return False
        for _ in range(CAS_TRIES):
            found = self._read("record webhook attempt", WEBHOOKS, self.table(WEBHOOKS)
                               .select("enabled,consecutive_failures").eq("id", delivery.webhook_id))
            if not found:
                return False  # the endpoint was removed meanwhile
            before = int(found[0]["consecutive_failures"] or 0)
            failures = before + 1
            disable = bool(found[0]["enabled"]) and failures >= disable_after
            values: dict[str, Any] = {"consecutive_failures": failures}
            if disable:
                values |= {"enabled": False, "disabled_reason": disabled_reason(failures)}
            written = self._read("record webhook attempt", WEBHOOKS, self.table(WEBHOOKS).update(values)
                                 .eq("id", delivery.webhook_id).eq("consecutive_failures", before))
            if written:
                return disable
        raise StoreError(f"webhook {delivery.webhook_id}: its failure count kept changing; attempt not counted")

    def swept_syncs(self, *, reason: str, within_s: float) -> list[Audit]:
        """Top-level syncs the stale-audit sweep failed with ``reason`` in the last ``within_s`` seconds."""
        since = _now() - timedelta(seconds=within_s)
        query = (self.table(RUNS).select("*").is_("parent_id", "null").eq("status", "failed")
                 .eq("error_message", reason).gte("finished_at", _iso(since)).order("finished_at").order("id"))
        return [rows.audit(r) for r in self._read("list swept syncs", RUNS, query)]

    def due_webhook_deliveries(self, *, limit: int = 100) -> list[str]:
        """Ids of deliveries whose next attempt is due (or whose lease ran out), oldest first."""
        query = (self.table(DELIVERIES).select(f"id,{WEBHOOKS}!inner(enabled)").in_("status", list(OPEN))
                 .lte("next_attempt_at", _iso(_now())).eq(f"{WEBHOOKS}.enabled", True)
                 .order("next_attempt_at").limit(limit))
        return [str(r["id"]) for r in self._read("list due webhook deliveries", DELIVERIES, query)]

    def webhook_deliveries(self, webhook_id: str, *, limit: int = 20) -> list[Delivery]:
        """The newest deliveries of an endpoint, each with its attempt log (for the CLI)."""
        wid = rows.parse_uuid(webhook_id, "webhook")
        found = self._read("read webhook deliveries", DELIVERIES, self.table(DELIVERIES).select("*")
                           .eq("webhook_id", wid).order("created_at", desc=True).limit(limit))
        if not found:
            return []
        logs = self._read("read webhook deliveries", ATTEMPTS, self.table(ATTEMPTS).select("*")
                          .in_("delivery_id", [r["id"] for r in found]).order("attempted_at").order("attempt"))
        by_delivery: dict[str, list[dict[str, Any]]] = {}
        for a in logs:
            by_delivery.setdefault(str(a["delivery_id"]), []).append(a)
        return [delivery_row(r, by_delivery.get(str(r["id"]), [])) for r in found]
