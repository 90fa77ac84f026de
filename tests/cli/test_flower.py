"""Flower in a real browser: `pims-sync flower` with basic auth, a real worker, a real sync.

The dashboard must show the worker and a `pims_sync.inbound` task, refuse requests without
credentials, and show task arguments that carry ids only — never a secret.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pims_sync.sync.options import SyncOptions
from workers.enqueue import InFlight, enqueue_sync, wait_for_sync

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "ops", "flower-test-pw-4f9a"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def flower(workers, tmp_path):
    port = free_port()
    env = workers.environment(FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}")
    log = open(tmp_path / "flower.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "pims_sync.cli.main", "flower", "--port", str(port), "--data-dir", str(tmp_path / "fl")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "flower.log").read_text()
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_flower_shows_worker_and_inbound_task_with_auth_and_redacted_args(
    flower, workers, worker_redis, store, simulator, playwright_browser
):
    sim = simulator.clinic(0)
    clinic = store.create_clinic(name="Flower Clinic", timezone=sim["timezone"])
    store.save_credentials(workers.cipher.encrypt_credentials(
        sim["username"], sim["password"], sim["company_id"], clinic_id=clinic.id))
    worker = workers.start("flower")
    time.sleep(2)  # Flower enables events on workers it sees; give it a beat to see this one
    enqueued = enqueue_sync(workers.app, store, InFlight(worker_redis), clinic_id=clinic.id, sync_type="inbound",
                            options=SyncOptions(days_ahead=1), trigger="cli", ttl_s=600)
    assert wait_for_sync(store, enqueued.sync_id, clinic_id=clinic.id, timeout_s=90)["status"] == "completed"

    # no credentials, wrong credentials: 401
    assert requests.get(flower, timeout=5).status_code == 401
    assert requests.get(f"{flower}/api/tasks", auth=(USER, "wrong"), timeout=5).status_code == 401

    tasks: dict = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = requests.get(f"{flower}/api/tasks", auth=(USER, PASSWORD), timeout=5).json()
        if any(t.get("name") == "pims_sync.inbound" for t in tasks.values()):
            break
        time.sleep(0.5)
    task_id = next(tid for tid, t in tasks.items() if t.get("name") == "pims_sync.inbound")

    context = playwright_browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
    try:
        page = context.new_page()
        page.goto(f"{flower}/workers")
        page.get_by_text(worker.hostname).first.wait_for(timeout=15_000)

        page.goto(f"{flower}/tasks")
        page.get_by_text("pims_sync.inbound").first.wait_for(timeout=15_000)

        page.goto(f"{flower}/task/{task_id}")
        page.get_by_text("pims_sync.inbound").first.wait_for(timeout=15_000)
        shown = page.content()
        assert clinic.id in shown  # the ids are there: the page is the task's
        for secret in (sim["password"], sim["username"], sim["company_id"], workers.settings.encryption_key):
            assert secret not in shown
    finally:
        context.close()
