"""`pims-sync webhooks` refusals and the endpoint lifecycle, as an operator runs them (real database)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures.api_process import REPO
from tests.workers.helpers import clinic_from_sim


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pims_sync.cli.main", "webhooks", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_refusals_name_the_problem_and_the_lifecycle_works(workers, simulator, store):
    clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(0))
    strict = workers.environment(WEBHOOK_ALLOW_PRIVATE_URLS="false")
    loopback = run(strict, "add", "--clinic", clinic.id, "--url", "https://localhost:8443/hooks")
    assert loopback.returncode != 0 and "Traceback" not in loopback.stderr
    assert "loopback" in loopback.stderr and "WEBHOOK_ALLOW_PRIVATE_URLS" in loopback.stderr
    bad_event = run(strict, "add", "--clinic", clinic.id, "--url", "https://93.184.216.34/x", "--events",
               "sync.done")
    assert bad_event.returncode != 0 and "sync.done" in bad_event.stderr
    assert store.list_webhooks(clinic.id) == []  # nothing stored by a refused add

    env = workers.environment(WEBHOOK_ALLOW_PRIVATE_URLS="true")
    added = run(env, "add", "--clinic", clinic.id, "--url", "http://127.0.0.1:9/hooks", "--events",
                "sync.failed", "--json")
    assert added.returncode == 0, added.stderr
    hook = json.loads(added.stdout)
    assert run(env, "enable", hook["id"], "--disable").returncode == 0
    (listed,) = json.loads(run(env, "list", "--clinic", clinic.id, "--json").stdout)
    assert listed["enabled"] is False and listed["disabledReason"] == "disabled by an operator"
    assert "secret" not in listed
    assert run(env, "enable", hook["id"]).returncode == 0
    assert store.get_webhook(hook["id"]).enabled
    removed = run(env, "remove", hook["id"], "--json")
    assert removed.returncode == 0 and json.loads(removed.stdout) == {"id": hook["id"], "removed": True}
    again = run(env, "remove", hook["id"])
    assert again.returncode != 0 and "not found" in again.stderr and "Traceback" not in again.stderr
    assert store.list_webhooks(clinic.id) == []
