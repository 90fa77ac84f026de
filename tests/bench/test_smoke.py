"""Every benchmark at a tiny size (``--smoke``), as CI runs it, so the benchmarks cannot rot.

The benchmarks run at once as subprocesses (they share no state: the worker-based ones get a
Redis database each on this session's private redis-server, every one makes its own scratch
database), then each is checked: exit 0 and, for those that write one, a JSON report with the
keys docs/PERFORMANCE.md is built from. Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 150

# benchmark -> keys its JSON report must have (None: it writes no JSON in smoke mode)
EXPECTED: dict[str, tuple[str, ...] | None] = {
    "full_sync": ("machine", "latency_ms", "chromium_launch_s", "results"),
    "store": ("machine", "upsert_rows_per_s", "copy_rows_per_s", "upsert_over_copy", "reupsert_writes",
              "reupsert_writes_nothing"),
    "scale_out": ("machine", "one_worker_clinics_per_minute", "two_workers_clinics_per_minute", "scaling_ratio",
                  "logins_per_clinic", "repetitions"),
    "memory": ("machine", "idle", "chromium_up", "after_idle_close", "curve"),
    "scheduler": None,  # the beat engineer's benchmark prints only, in smoke mode
    "api_enqueue": ("machine", "config", "result"),
    "ezyvet_sync": ("machine", "results", "rate_limited", "tokens_per_site", "all_succeeded", "worst_over_floor"),
}
REDIS_DB = {"scale_out": 1, "memory": 2, "api_enqueue": 3, "scheduler": 4, "ezyvet_sync": 5}  # each flushes its own
PRESENT = [name for name in EXPECTED if (REPO / "bench" / f"{name}.py").exists()]


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, worker_redis_url) -> dict[str, dict]:
    results_dir = tmp_path_factory.mktemp("bench-results")
    base = worker_redis_url.rsplit("/", 1)[0]
    procs = {}
    for name in PRESENT:
        env = {**os.environ, "BENCH_RESULTS_DIR": str(results_dir), "PYTHONPATH": str(REPO)}
        if name in REDIS_DB:
            env["BENCH_REDIS_URL"] = f"{base}/{REDIS_DB[name]}"
        log = open(results_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        procs[name] = (subprocess.Popen([sys.executable, "-m", f"bench.{name}", "--smoke"], cwd=REPO, env=env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log)
    deadline = time.monotonic() + TIMEOUT_S
    runs = {}
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        output = (results_dir / f"{name}.log").read_text(errors="replace")
        report_path = results_dir / f"{name}-smoke.json"
        runs[name] = {"returncode": proc.returncode, "output": output,
                      "report": json.loads(report_path.read_text()) if report_path.exists() else None}
    return runs


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("name", PRESENT)
def test_benchmark_smoke_run(smoke_runs, name):
    run = smoke_runs[name]
    assert run["returncode"] == 0, f"bench.{name} --smoke exited {run['returncode']}:\n{run['output'][-3000:]}"
    keys = EXPECTED[name]
    if keys is None:
        return
    assert run["report"] is not None, f"bench.{name} --smoke wrote no JSON report:\n{run['output'][-2000:]}"
    missing = [k for k in keys if k not in run["report"]]
    assert not missing, f"bench.{name}'s report lacks {missing}"
    assert run["report"]["smoke"] is True
    assert run["report"]["benchmark"] == name


def test_smoke_reports_measure_what_they_claim(smoke_runs):
    """The numbers are plausible: syncs completed, one login per clinic, the re-upsert wrote nothing."""
    full = smoke_runs["full_sync"]["report"]
    assert full["results"][0]["appointments_found"] > 0
    assert full["results"][0]["logins_warm"] == [0] and full["results"][0]["logins_cold"] == [1]
    assert smoke_runs["store"]["report"]["reupsert_writes_nothing"] is True
    scale = smoke_runs["scale_out"]["report"]
    cold, warm = scale["regimes"]["cold"], scale["regimes"]["warm"]
    assert (cold["logins_per_clinic"]["min"], cold["logins_per_clinic"]["max"]) == (1, 1)
    assert warm["logins_per_clinic"]["total"] == 0  # the warm regime reuses the cached sessions
    assert scale["not_completed"] == 0
    memory = smoke_runs["memory"]["report"]
    assert memory["chromium_up"]["processes"].get("chromium", 0) > 0
    assert memory["after_idle_close"]["processes"].get("chromium", 0) == 0
