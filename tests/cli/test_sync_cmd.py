"""`pims-sync sync` through the queue with a real worker, and in-process with --local."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pims_sync.cli.main import cli

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded_clinic(store, simulator, workers):
    sim = simulator.clinic(0)
    clinic = store.create_clinic(name="CLI Sync Clinic", timezone=sim["timezone"])
    store.save_credentials(workers.cipher.encrypt_credentials(
        sim["username"], sim["password"], sim["company_id"], clinic_id=clinic.id))
    return clinic


def test_sync_full_through_the_worker_shows_every_phase(workers, seeded_clinic):
    workers.start("cli")
    result = CliRunner().invoke(cli, ["sync", "full", "--clinic", seeded_clinic.id, "--days-ahead", "2"],
                                env=workers.environment(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for phase in ("inbound", "cases", "reconcile"):
        assert phase in result.output
    assert result.output.count("completed") >= 4  # three phase bars and the summary row
    assert "queued for clinic" in result.output

    again = CliRunner().invoke(cli, ["sync", "inbound", "--clinic", seeded_clinic.id, "--days-ahead", "2", "--json"],
                               env=workers.environment(), catch_exceptions=False)
    assert again.exit_code == 0, again.output
    body = json.loads(again.stdout)
    assert body["status"] == "completed"
    assert body["phases"]["inbound"]["stats"]["casesCreated"] == 0  # idempotent second run


def test_sync_local_runs_in_process(store, simulator, workers, seeded_clinic):
    # a subprocess: Playwright's sync API cannot start inside a test process that already runs it
    result = subprocess.run(
        [sys.executable, "-m", "pims_sync.cli.main", "sync", "inbound", "--clinic", seeded_clinic.id, "--local",
         "--json"], env=workers.environment(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "completed"
    assert body["inboundResult"]["stats"]["appointmentsFound"] > 0
    assert len(store.list_cases(seeded_clinic.id)) == body["inboundResult"]["stats"]["casesCreated"]
