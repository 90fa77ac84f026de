"""`pims-sync simulator` starts, prints the URL and the demo credentials, serves, and stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from pims_sync.simulator import SimulatorProcess

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_runs_the_simulator(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pims_sync.cli.main", "simulator", "--port", str(port), "--seed", "42",
         "--clinics", "3", "--latency-ms", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl+C" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output, output
        clinics = requests.get(f"http://127.0.0.1:{port}/__sim/clinics", timeout=5).json()["clinics"]
        assert len(clinics) == 3
        for clinic in clinics:
            assert clinic["company_id"] in output and clinic["username"] in output and clinic["timezone"] in output
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
    assert process.returncode is not None


def test_simulator_process_helper():
    sim = SimulatorProcess(port=_free_port(), clinics=2, appointments_per_day=200)
    try:
        assert [c["appointments_per_day"] for c in sim.clinics] == [200, 200]
        assert requests.get(sim.url + "/login", timeout=5).status_code == 200
    finally:
        sim.stop()
    assert sim.process.poll() is not None
