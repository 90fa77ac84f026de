"""PostgresStore's webhooks: endpoints, deliveries and their attempt log (``pims_sync_webhook*``).

Deliveries are claimed with a conditional UPDATE (status pending and due, or a lease that ran
out), so a task delivered twice — Redis redelivery, two sweeps — sends one attempt, not two.
``next_attempt_at`` is the retry time while pending and the lease end while delivering. Mixed into
:class:`~pims_sync.store.postgres.PostgresStore`, which provides ``_conn``, ``_one``, ``_all`` and
``_count``. The Supabase REST store does the same over PostgREST (:mod:`._supabase_webhooks`),
with these row mappers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..errors import NotFound
from ..models import Audit
from ..webhooks.models import Delivery, WebhookEndpoint
from . import _rows as rows
from ._host import PostgresHost
from ._pg_sync import jsonb


def endpoint_row(row: Mapping[str, Any]) -> WebhookEndpoint:
    """An endpoint from a row of psycopg (datetimes, bytes) or PostgREST (ISO text, ``\\x`` hex)."""
    return WebhookEndpoint(
        id=str(row["id"]), clinic_id=str(row["clinic_id"]), url=str(row["url"]), events=tuple(row["events"]),
        enabled=bool(row["enabled"]), disabled_reason=row.get("disabled_reason"),
        consecutive_failures=int(row.get("consecutive_failures") or 0),
        last_success_at=rows._ts(row.get("last_success_at")), created_at=rows._ts(row.get("created_at")),
        secret_encrypted=rows._bytes(row["secret_encrypted"]),
        encryption_key_id=row.get("encryption_key_id") or "default",
    )


def delivery_row(row: Mapping[str, Any], log: Sequence[Mapping[str, Any]] = ()) -> Delivery:
    """A delivery (with its attempt rows, oldest first) from either store's rows."""
    attempted = (rows._ts(a["attempted_at"]) for a in log)
    return Delivery(
        id=str(row["id"]), webhook_id=str(row["webhook_id"]), sync_id=str(row["sync_id"]), event=str(row["event"]),
        status=str(row["status"]), attempts=int(row["attempts"]), payload=dict(row.get("payload") or {}),
        next_attempt_at=rows._ts(row.get("next_attempt_at")), last_status_code=row.get("last_status_code"),
        created_at=rows._ts(row.get("created_at")),
        attempt_log=tuple({"attempt": a["attempt"], "statusCode": a["status_code"], "error": a["error"],
                           "latencyMs": a["latency_ms"], "at": at.isoformat() if at else None}
                          for a, at in zip(log, attempted, strict=True)),
    )


def attempt_outcome(status_code: int | None, next_attempt_at: datetime | None) -> tuple[bool, str]:
    """(ok, the delivery's status after this attempt): one rule for both stores."""
    ok = status_code is not None and 200 <= status_code < 300
    return ok, "delivered" if ok else ("pending" if next_attempt_at is not None else "failed")


def disabled_reason(failures: int) -> str:
    return f"{failures} failed attempts in a row"


class WebhookQueries(PostgresHost):
    supports_webhooks = True

    def create_webhook(self, *, clinic_id: str, url: str, events: Sequence[str], secret_encrypted: bytes,
                       encryption_key_id: str = "default") -> WebhookEndpoint:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "create webhook",
            """insert into pims_sync_webhooks (clinic_id, url, events, secret_encrypted, encryption_key_id)
               values (%s, %s, %s, %s, %s) returning *""",
            (cid, url, list(events), secret_encrypted, encryption_key_id),
        )
        assert row is not None  # insert ... returning answers its row
        return endpoint_row(row)

    def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        row = self._one("read webhook", "select * from pims_sync_webhooks where id = %s",
                        (rows.parse_uuid(webhook_id, "webhook"),))
        if row is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return endpoint_row(row)

    def list_webhooks(self, clinic_id: str | None = None) -> list[WebhookEndpoint]:
        if clinic_id is None:
            found = self._all("list webhooks", "select * from pims_sync_webhooks order by created_at")
        else:
            found = self._all("list webhooks", "select * from pims_sync_webhooks where clinic_id = %s "
                              "order by created_at", (rows.parse_uuid(clinic_id, "clinic"),))
        return [endpoint_row(r) for r in found]

    def delete_webhook(self, webhook_id: str) -> bool:
        return self._count("delete webhook", "delete from pims_sync_webhooks where id = %s",
                           (rows.parse_uuid(webhook_id, "webhook"),)) > 0

    def set_webhook_enabled(self, webhook_id: str, enabled: bool, *, reason: str | None = None) -> None:
        self._count("update webhook", """update pims_sync_webhooks set enabled = %s, disabled_reason = %s,
                    consecutive_failures = case when %s then 0 else consecutive_failures end where id = %s""",
                    (enabled, None if enabled else reason, enabled, rows.parse_uuid(webhook_id, "webhook")))

    def queue_webhook_deliveries(self, *, clinic_id: str, sync_id: str, event: str,
                                 payload: dict[str, Any]) -> list[str]:
        """One pending delivery per enabled endpoint of the clinic that wants ``event``; ids of new ones.

        A second call for the same sync (a redelivered task) adds nothing.
        """
        found = self._all(
            "queue webhook deliveries",
            """insert into pims_sync_webhook_deliveries (webhook_id, sync_id, event, payload)
               select w.id, %s, %s, %s from pims_sync_webhooks w
                where w.clinic_id = %s and w.enabled and %s = any (w.events)
               on conflict (webhook_id, sync_id) do nothing
               returning id""",
            (rows.parse_uuid(sync_id, "sync"), event, jsonb(payload), rows.parse_uuid(clinic_id, "clinic"), event),
        )
        return [str(r["id"]) for r in found]

    def claim_webhook_delivery(self, delivery_id: str, *, lease_s: int) -> tuple[Delivery, WebhookEndpoint] | None:
        """Take a due delivery for one attempt (attempts + 1), or None if it is not ours to send."""
        with self._conn("claim webhook delivery") as conn:
            row = conn.execute(
                """update pims_sync_webhook_deliveries d
                      set status = 'delivering', attempts = d.attempts + 1,
                          next_attempt_at = now() + make_interval(secs => %s)
                     from pims_sync_webhooks w
                    where d.id = %s and w.id = d.webhook_id and w.enabled
                      and d.status in ('pending', 'delivering') and d.next_attempt_at <= now()
                returning d.*""",
                (lease_s, rows.parse_uuid(delivery_id, "delivery")),
            ).fetchone()
            if row is None:
                return None
            endpoint = conn.execute("select * from pims_sync_webhooks where id = %s", (row["webhook_id"],)).fetchone()
            if endpoint is None:  # removed since the claim's join read it: nothing to deliver to
                return None
        return delivery_row(row), endpoint_row(endpoint)

    def record_webhook_attempt(self, delivery: Delivery, *, status_code: int | None, error: str | None,
                               latency_ms: int, next_attempt_at: datetime | None, disable_after: int) -> bool:
        """Log the attempt and settle the delivery; True when this failure disabled the endpoint.

        ``next_attempt_at`` None after a failure means the retries are over (status failed).
        """
        ok, status = attempt_outcome(status_code, next_attempt_at)
        with self._conn("record webhook attempt") as conn:
            conn.execute(
                """insert into pims_sync_webhook_attempts (delivery_id, attempt, status_code, error, latency_ms)
                   values (%s, %s, %s, %s, %s)""",
                (delivery.id, delivery.attempts, status_code, error, latency_ms),
            )
            conn.execute(
                """update pims_sync_webhook_deliveries set status = %s, last_status_code = %s,
                          next_attempt_at = coalesce(%s, next_attempt_at) where id = %s""",
                (status, status_code, next_attempt_at, delivery.id),
            )
            if ok:
                conn.execute("""update pims_sync_webhooks set consecutive_failures = 0, last_success_at = now()
                                 where id = %s""", (delivery.webhook_id,))
                return False
            before = conn.execute("select enabled, consecutive_failures from pims_sync_webhooks where id = %s "
                                  "for update", (delivery.webhook_id,)).fetchone()
            if before is None:  # the endpoint was removed meanwhile: nothing left to disable
                return False
            failures = int(before["consecutive_failures"]) + 1
            disable = bool(before["enabled"]) and failures >= disable_after
            conn.execute(
                """update pims_sync_webhooks set consecutive_failures = %s,
                          enabled = enabled and not %s,
                          disabled_reason = case when %s then %s else disabled_reason end
                    where id = %s""",
                (failures, disable, disable, disabled_reason(failures), delivery.webhook_id),
            )
            return disable

    def swept_syncs(self, *, reason: str, within_s: float) -> list[Audit]:
        """Top-level syncs the stale-audit sweep failed with ``reason`` in the last ``within_s`` seconds.

        Measured on the database's clock (the sweep stamped ``finished_at`` with it), so a worker
        whose clock is off still finds the syncs its own sweep just failed.
        """
        found = self._all(
            "list swept syncs",
            """select * from pims_sync_runs
                where parent_id is null and status = 'failed' and error_message = %s
                  and finished_at >= clock_timestamp() - make_interval(secs => %s)
                order by finished_at, id""",
            (reason, within_s),
        )
        return [rows.audit(r) for r in found]

    def due_webhook_deliveries(self, *, limit: int = 100) -> list[str]:
        """Ids of deliveries whose next attempt is due (or whose lease ran out), oldest first."""
        found = self._all(
            "list due webhook deliveries",
            """select d.id from pims_sync_webhook_deliveries d join pims_sync_webhooks w on w.id = d.webhook_id
                where d.status in ('pending', 'delivering') and d.next_attempt_at <= now() and w.enabled
                order by d.next_attempt_at limit %s""",
            (limit,),
        )
        return [str(r["id"]) for r in found]

    def webhook_deliveries(self, webhook_id: str, *, limit: int = 20) -> list[Delivery]:
        """The newest deliveries of an endpoint, each with its attempt log (for the CLI)."""
        wid = rows.parse_uuid(webhook_id, "webhook")
        with self._conn("read webhook deliveries") as conn:
            found = conn.execute("""select * from pims_sync_webhook_deliveries where webhook_id = %s
                                     order by created_at desc limit %s""", (wid, limit)).fetchall()
            logs = conn.execute(
                """select * from pims_sync_webhook_attempts where delivery_id = any (%s)
                    order by attempted_at, attempt""", ([r["id"] for r in found],)).fetchall()
        by_delivery: dict[str, list[Mapping[str, Any]]] = {}
        for a in logs:
            by_delivery.setdefault(str(a["delivery_id"]), []).append(a)
        return [delivery_row(r, by_delivery.get(str(r["id"]), ())) for r in found]
