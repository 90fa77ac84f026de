"""/metrics after a real sync: a Celery worker process and the API under gunicorn share a samples dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import requests

from pims_sync.apikeys import generate_api_key
from tests.fixtures.api_process import API_ARGV, REPO, api_process, free_port
from tests.workers.helpers import clinic_from_sim, wait_until

TOKEN = "metrics-token-for-tests-0123456789"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in the exposition text (labels in any order), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if series.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def test_a_sync_shows_in_the_api_and_worker_metrics(workers, simulator, store, tmp_path):
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 3)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    generated = generate_api_key(env="test")
    store.create_api_key(clinic_id=clinic.id, name="metrics", key_prefix=generated.key_prefix,
                         key_hash=generated.key_hash)
    samples = tmp_path / "prom"
    samples.mkdir()
    worker_port = free_port()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(samples), "METRICS_TOKEN": TOKEN}
    workers.configure(**shared)
    workers.start("metrics", env={"METRICS_PORT": str(worker_port)})

    port = free_port()
    env = {**workers.environment(), **shared, "LOG_FORMAT": "json"}
    argv = (*API_ARGV, "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "2")
    with api_process(env, port=port, log_path=tmp_path / "api.log", argv=argv) as base:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        refused = requests.get(f"{base}/metrics", timeout=30)
        assert refused.status_code == 401 and "METRICS_TOKEN" in refused.json()["error"]["message"]
        assert requests.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"},
                            timeout=30).status_code == 401
        bad_key = "pims_test_0123abcd_" + "S" * 43  # shaped like a key: logs show its prefix only
        assert requests.get(f"{base}/api/sync/history", headers={"X-API-Key": bad_key},
                            timeout=30).status_code == 401

        resp = requests.post(f"{base}/api/sync/full", headers={"X-API-Key": generated.key},
                             json={"daysAhead": 1, "lookbackDays": 1}, timeout=30)
        assert resp.status_code == 202, resp.text
        sync_id = resp.json()["syncId"]
        status = wait_until(lambda: (s := requests.get(f"{base}/api/sync/{sync_id}", timeout=30,
                                                        headers={"X-API-Key": generated.key}).json())
                            ["status"] not in ("queued", "in_progress") and s, 90, "the sync to end")
        assert status["status"] == "completed", status
        created = status["result"]["inboundResult"]["stats"]["casesCreated"]
        assert created > 0

        # the worker records after its task returns: wait for the sample, not for a fixed time
        def scraped() -> str | None:
            t = requests.get(f"{base}/metrics", headers=auth, timeout=30).text
            return t if sample(t, "pims_sync_syncs_total", type="full", outcome="completed") else None

        text = wait_until(scraped, 30, "the sync's metrics")
        basic = requests.get(f"{base}/metrics", auth=("prometheus", TOKEN), timeout=30)
        assert basic.status_code == 200 and basic.headers["Content-Type"].startswith("text/plain")

    provider = clinic.pims_provider
    assert sample(text, "pims_sync_syncs_total", provider=provider, type="full", outcome="completed") == 1
    assert sample(text, "pims_sync_sync_duration_seconds_count", type="full", outcome="completed") == 1
    seconds = sample(text, "pims_sync_sync_duration_seconds_sum", type="full", outcome="completed")
    assert abs(seconds - status["durationMs"] / 1000) < 0.01, (seconds, status["durationMs"])
    for phase in ("inbound", "cases", "reconcile"):
        assert sample(text, "pims_sync_phase_duration_seconds_count", phase=phase, outcome="completed") == 1
    assert sample(text, "pims_sync_cases_total", provider=provider, action="created") == created
    assert sample(text, "pims_sync_logins_total", provider=provider, kind="login", outcome="succeeded") == 1
    pims_calls = [line for line in text.splitlines()
                  if line.startswith("pims_sync_pims_request_duration_seconds_count{") and 'status="200"' in line]
    assert pims_calls and all(float(line.rpartition(" ")[2]) >= 1 for line in pims_calls)
    assert sample(text, "pims_sync_api_requests_total", route="/api/sync/full", method="POST", status="202") == 1
    assert sample(text, "pims_sync_auth_rejections_total", reason="api_key") == 1
    assert sample(text, "pims_sync_auth_rejections_total", reason="metrics_token") == 2  # none, then a wrong one
    assert sample(text, "pims_sync_queue_depth", queue="sync") == 0
    assert sample(text, "pims_sync_syncs_in_flight") == 0
    assert sample(text, "pims_sync_worker_memory_bytes", role="worker") > 10_000_000  # the pool child, by pid
    assert sample(text, "pims_sync_browser_launches_total") == 1
    assert sample(text, "pims_sync_queue_depth", queue="default") == 0
    # this clinic synced just now: not counted stale; every active clinic counts in "never" or not
    assert sample(text, "pims_sync_active_clinics_without_success", older_than="1h") is not None
    never = sample(text, "pims_sync_active_clinics_without_success", older_than="never")
    assert never == store.clinics_by_success_age()["never"]
    for secret in (clinic.id, sim_clinic["password"], sim_clinic["username"], generated.key, TOKEN):
        assert secret not in text

    # the gunicorn API logs JSON lines (LOG_FORMAT=json), redacted
    api_lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines() if line.startswith("{")]
    refused = [line for line in api_lines if line["logger"] == "api.auth"]
    assert refused and "(0123abcd)" in refused[0]["message"]
    assert bad_key not in (tmp_path / "api.log").read_text()

    # the worker's own exporter serves the same directory, behind the same token
    assert requests.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=30).status_code == 401
    own = requests.get(f"http://127.0.0.1:{worker_port}/metrics", headers=auth, timeout=30).text
    assert sample(own, "pims_sync_syncs_total", type="full", outcome="completed") == 1


def test_a_process_with_no_samples_dir_makes_one():
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    code = ("import os, pims_sync.metrics as m; d = os.environ['PROMETHEUS_MULTIPROC_DIR']; "
            "m.SYNCS.labels('p', 'full', 'completed').inc(); print(d, m.MULTIPROC_DIR == d, os.path.isdir(d))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[1:] == ["True", "True"] and "pims-sync-metrics-" in out[0]
    assert any(name.startswith("counter_") for name in os.listdir(out[0]))
