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


def test_sync_through_the_rest_api_with_a_clinic_key(workers, seeded_clinic, store):
    import threading

    from werkzeug.serving import make_server

    from api.app import create_app
    from pims_sync.apikeys import generate_api_key

    workers.start("cli-api")
    key = generate_api_key()
    store.create_api_key(clinic_id=seeded_clinic.id, name="cli", key_prefix=key.key_prefix, key_hash=key.key_hash)
    app = create_app(workers.settings, store=store, celery_app=workers.app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        for sync_type in ("inbound", "full"):
            result = CliRunner().invoke(
                cli, ["sync", sync_type, "--clinic", seeded_clinic.id, "--via", "api", "--api-url", url,
                      "--api-key", key.key, "--days-ahead", "1", "--json"],
                env=workers.environment(), catch_exceptions=False)
            assert result.exit_code == 0, result.output
            body = json.loads(result.stdout)
            assert body["status"] == "completed", body
        audits = store.sync_history(seeded_clinic.id, limit=5).audits
        assert [a.trigger for a in audits] == ["api", "api"], "both syncs went through the REST API"

        wrong = CliRunner().invoke(cli, ["sync", "inbound", "--clinic", seeded_clinic.id, "--via", "api",
                                         "--api-url", url, "--api-key", "pims_live_nope_nope"],
                                   env=workers.environment())
        assert wrong.exit_code == 1 and "401" in wrong.output
    finally:
        server.shutdown()
        app.extensions["pims_sync"].close()
