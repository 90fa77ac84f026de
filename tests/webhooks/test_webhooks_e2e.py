"""Completion webhooks end to end: a real worker, real syncs, a receiver on 127.0.0.1.

The signatures are checked with the Standard Webhooks Python package (an implementation
independent of ours). A dead receiver is retried from the stored next_attempt_at (the sweep task
is sent here as beat would), then disabled, while the clinic's syncs carry on.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import standardwebhooks

from pims_sync import metrics
from pims_sync.webhooks import SWEEP_TASK
from tests.fixtures.api_process import REPO, free_port
from tests.metrics.test_metrics_e2e import sample
from tests.webhooks.receiver import receiver
from tests.workers.helpers import clinic_from_sim, enqueue, wait_done, wait_until


def cli(workers, *args: str) -> dict | list:
    out = subprocess.run([sys.executable, "-m", "pims_sync.cli.main", "webhooks", *args, "--json"],
                         env=workers.environment(), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_signed_webhooks_retries_and_a_dead_receiver(workers, simulator, store, database_url, tmp_path):
    samples = tmp_path / "prom"
    samples.mkdir()
    workers.configure(WEBHOOK_ALLOW_PRIVATE_URLS="true", WEBHOOK_RETRY_DELAYS_S="0,0",
                      WEBHOOK_DISABLE_AFTER="3", PROMETHEUS_MULTIPROC_DIR=str(samples), LOG_FORMAT="json")
    worker = workers.start("hooks")
    sim_a, sim_b = simulator.clinic(0), simulator.clinic(1)
    for sim in (sim_a, sim_b):
        simulator.set_appointments_per_day(sim["id"], 2)
    clinic = clinic_from_sim(store, workers.cipher, sim_a)
    other = clinic_from_sim(store, workers.cipher, sim_b)

    def sweep_until(predicate, what: str):
        def tick():
            value = predicate()
            if not value:
                workers.app.send_task(SWEEP_TASK, queue="default")
            return value
        return wait_until(tick, 60, what, poll_s=0.5)

    with receiver(statuses=(204, 500)) as rx:  # the test message, then a 500: one retry, the same message id
        added = cli(workers, "add", "--clinic", clinic.id, "--url", rx.url)
        secret = added["secret"]
        assert secret.startswith("whsec_") and added["events"] == ["sync.completed", "sync.failed", "sync.partial"]
        listed = cli(workers, "list", "--clinic", clinic.id)
        assert [e["id"] for e in listed] == [added["id"]] and "secret" not in listed[0]
        tested = cli(workers, "test", added["id"])
        assert tested["ok"] is True and tested["statusCode"] == 204
        test_headers, test_body = rx.received.pop(0)
        assert standardwebhooks.Webhook(secret).verify(test_body, test_headers)["type"] == "webhook.test"

        done = wait_done(store, enqueue(workers, store, clinic.id).sync_id, clinic.id)
        assert done["status"] == "completed"
        sweep_until(lambda: len(rx.received) >= 2, "the retried delivery of the completed sync")

        # a clinic whose login the PIMS refuses: its sync fails, and its own endpoint hears it
        refused = clinic_from_sim(store, workers.cipher, sim_a)
        store.save_credentials(workers.cipher.encrypt_credentials("nobody", "Wr0ng-Pa55word", "0",
                                                                  clinic_id=refused.id))
        refused_secret = cli(workers, "add", "--clinic", refused.id, "--url", rx.url,
                             "--events", "sync.failed")["secret"]
        failed = wait_done(store, enqueue(workers, store, refused.id).sync_id, refused.id)
        assert failed["status"] == "failed"
        wait_until(lambda: len(rx.received) >= 3, 30, "the failed sync's webhook")

    verifier = standardwebhooks.Webhook(secret)
    (h1, b1), (h2, b2), (h3, b3) = rx.received
    assert h1["webhook-id"] == h2["webhook-id"] != h3["webhook-id"]  # receivers can deduplicate
    first, again = verifier.verify(b1, h1), verifier.verify(b2, h2)
    bad = standardwebhooks.Webhook(refused_secret).verify(b3, h3)
    assert first == again
    assert first["type"] == "sync.completed" and first["data"]["syncId"] == done["syncId"]
    assert first["data"]["clinicId"] == clinic.id and first["data"]["syncType"] == "full"
    assert first["data"]["status"] == "completed" and first["data"]["success"] is True
    assert first["data"]["inboundResult"]["stats"]["casesCreated"] == done["result"]["inboundResult"]["stats"]["casesCreated"]
    assert bad["type"] == "sync.failed" and bad["data"]["syncId"] == failed["syncId"]
    assert bad["data"]["status"] == "failed" and bad["data"]["errors"] and bad["data"]["clinicId"] == refused.id
    try:
        verifier.verify(b3, h3)  # another endpoint's secret does not verify it
        raise AssertionError("a message verified with another endpoint's secret")
    except standardwebhooks.webhooks.WebhookVerificationError:
        pass
    tampered = b3.replace(b'"failed"', b'"completed"', 1)
    try:
        standardwebhooks.Webhook(refused_secret).verify(tampered, h3)
        raise AssertionError("a tampered body passed verification")
    except standardwebhooks.webhooks.WebhookVerificationError:
        pass

    log = cli(workers, "deliveries", added["id"])
    by_sync = {d["syncId"]: d for d in log}
    assert by_sync[done["syncId"]]["status"] == "delivered" and by_sync[done["syncId"]]["attempts"] == 2
    assert [a["statusCode"] for a in by_sync[done["syncId"]]["log"]] == [500, 200]
    assert all(a["latencyMs"] >= 0 for a in by_sync[done["syncId"]]["log"])
    assert by_sync[done["syncId"]]["msgId"] == h1["webhook-id"]

    # a dead receiver: three attempts (two retries), then the endpoint is disabled; syncs go on
    dead_url = f"http://127.0.0.1:{free_port()}/gone"
    dead = cli(workers, "add", "--clinic", other.id, "--url", dead_url, "--events", "sync.completed")
    first_sync = wait_done(store, enqueue(workers, store, other.id).sync_id, other.id)
    assert first_sync["status"] == "completed"
    sweep_until(lambda: not store.get_webhook(dead["id"]).enabled, "the dead endpoint to be disabled")
    endpoint = store.get_webhook(dead["id"])
    assert endpoint.consecutive_failures == 3 and "3 failed attempts" in endpoint.disabled_reason
    attempts = cli(workers, "deliveries", dead["id"])[0]
    assert attempts["status"] == "failed" and [a["statusCode"] for a in attempts["log"]] == [None] * 3
    assert {a["error"] for a in attempts["log"]} == {"connection failed"}
    assert wait_done(store, enqueue(workers, store, other.id).sync_id, other.id)["status"] == "completed"
    assert len(cli(workers, "deliveries", dead["id"])) == 1  # a disabled endpoint gets no new deliveries

    text = metrics.render(path=str(samples)).decode()
    assert sample(text, "pims_sync_webhook_endpoints_disabled_total") == 1
    assert sample(text, "pims_sync_webhook_deliveries_total", event="sync.completed", outcome="delivered") == 1
    assert sample(text, "pims_sync_webhook_deliveries_total", event="sync.completed", outcome="failed") == 1
    assert "disabled after 3 failed attempts" in worker.log()
    # LOG_FORMAT=json: one object per line; a sync task's lines carry its sync id, clinic and phase
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert lines and all(set(line) >= {"time", "level", "logger", "syncId", "clinicId", "phase", "message"}
                         for line in lines)
    assert any(line["syncId"] == failed["syncId"] and line["clinicId"] == refused.id and line["phase"] == "inbound"
               and line["level"] == "WARNING" for line in lines)

    # nothing secret at rest or in the logs: the sealed secret, no password, no credentials
    with psycopg.connect(database_url) as conn:
        tables = " ".join(str(conn.execute(f"select * from {t}").fetchall()) for t in
                          ("pims_sync_webhooks", "pims_sync_webhook_deliveries", "pims_sync_webhook_attempts"))
    for secret_text in (secret, secret.removeprefix("whsec_"), refused_secret, sim_a["password"], "Wr0ng-Pa55word"):
        assert secret_text not in tables and secret_text not in text and secret_text not in worker.log()
