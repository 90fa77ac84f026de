"""A sync whose worker was lost is failed by housekeeping, and that sweep sends its sync.failed webhook.

No worker reports such a sync (it died), so the real housekeeping task, run by a real worker,
queues the webhook that ``task_postrun`` would have: the same payload shape, signed, once.
"""

from __future__ import annotations

import psycopg
import standardwebhooks

from celeryconfig import HOUSEKEEPING_TASK
from pims_sync import metrics
from pims_sync.sync.runner import create_sync_audits
from pims_sync.webhooks import register_endpoint
from tests.metrics.test_metrics_e2e import sample
from tests.webhooks.receiver import receiver
from tests.workers.helpers import clinic_from_sim, wait_until

# the seed's full-sync shape, plus what the webhook payload adds
FULL_SYNC_KEYS = {"success", "syncId", "inboundResult", "casesResult", "reconciliationResult", "durationMs",
                  "timestamp", "status", "clinicId", "errors", "syncType"}


def lost_full_sync(store, database_url: str, clinic_id: str) -> str:
    """A full sync whose worker died in its inbound phase: parent and phase in progress, long silent."""
    audits = create_sync_audits(store, clinic_id=clinic_id, sync_type="full", trigger="api")
    store.start_audit(audits.sync_id)
    store.start_audit(audits.phases["inbound"])
    with psycopg.connect(database_url) as conn:  # age the rows past the hard limit, bypassing the trigger
        conn.execute("set local session_replication_role = replica")
        conn.execute("update pims_sync_runs set updated_at = now() - interval '2 hours' "
                     "where id = %s or parent_id = %s", (audits.sync_id, audits.sync_id))
    return audits.sync_id


def test_a_swept_sync_sends_its_failed_webhook_once(workers, simulator, store, database_url, tmp_path):
    samples = tmp_path / "prom"
    samples.mkdir()
    workers.configure(WEBHOOK_ALLOW_PRIVATE_URLS="true", PROMETHEUS_MULTIPROC_DIR=str(samples))
    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    quiet = clinic_from_sim(store, workers.cipher, simulator.clinic(1))
    with receiver() as rx:
        endpoint, secret = register_endpoint(store, workers.cipher, workers.settings, clinic_id=clinic.id,
                                             url=rx.url, events=["sync.failed"])
        # the other clinic only wants completions: its swept sync sends nothing
        register_endpoint(store, workers.cipher, workers.settings, clinic_id=quiet.id, url=rx.url,
                          events=["sync.completed"])
        lost = lost_full_sync(store, database_url, clinic.id)
        workers.start("sweeper")

        first = workers.app.send_task(HOUSEKEEPING_TASK, queue="default").get(timeout=60)
        assert first["failed"] >= 2 and first["webhookDeliveries"] == 1, first
        wait_until(lambda: rx.received, 30, "the swept sync's webhook")
        assert store.get_audit(lost).status == "failed"

        # a second sweep (another lost sync) finds the first one again inside its window: not resent
        lost_quiet = lost_full_sync(store, database_url, quiet.id)
        second = workers.app.send_task(HOUSEKEEPING_TASK, queue="default").get(timeout=60)
        assert second["failed"] >= 2 and second["webhookDeliveries"] == 0, second
        assert store.get_audit(lost_quiet).status == "failed"
        delivered = wait_until(lambda: [d for d in store.webhook_deliveries(endpoint.id) if d.status == "delivered"],
                               30, "the delivery to be recorded")

    assert len(rx.received) == 1
    headers, body = rx.received[0]
    message = standardwebhooks.Webhook(secret).verify(body, headers)
    assert message["type"] == "sync.failed"
    data = message["data"]
    assert set(data) == FULL_SYNC_KEYS, set(data) ^ FULL_SYNC_KEYS
    assert data["syncId"] == lost and data["clinicId"] == clinic.id and data["syncType"] == "full"
    assert data["status"] == "failed" and data["success"] is False
    assert data["inboundResult"]["status"] == "failed"
    # the phases that never started read as after any failed phase: not run, never left "queued"
    assert data["casesResult"]["status"] == data["reconciliationResult"]["status"] == "not_run"
    assert {"phase": "inbound", "code": "sync_error", "message": "worker lost"} in data["errors"]
    assert [d.sync_id for d in delivered] == [lost] and delivered[0].msg_id == headers["webhook-id"]
    assert [d.sync_id for d in store.webhook_deliveries(endpoint.id)] == [lost]  # once

    # the lost syncs count as failed syncs, each once, though the second sweep saw the first again
    text = metrics.render(path=str(samples)).decode()
    assert sample(text, "pims_sync_syncs_total", type="full", outcome="failed") == 2
    assert secret not in text
