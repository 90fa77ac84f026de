"""`pims-sync demo --once` on the embedded path: no DATABASE_URL/REDIS_URL in its environment.

It must start embedded PostgreSQL and Redis in its own data folder, sync all three IDEXX Neo
simulator clinics and the ezyVet simulator's clinic through the REST API, exit 0, and leave no
process of its tree (postgres, redis-server, Chromium, celery, the simulators, ...) running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class TreeWatcher:
    """Records every process that is ever a descendant of `pid` (postgres and Chromium included)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.seen: dict[int, tuple[float, str]] = {}  # pid -> (create_time, name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for p in psutil.Process(self.pid).children(recursive=True):
                    try:
                        self.seen.setdefault(p.pid, (p.create_time(), p.name()))
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def survivors(self) -> list[str]:
        left = []
        for pid, (created, name) in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {name}")
            except psutil.Error:
                continue
        return left

    def kill_survivors(self) -> list[str]:
        """Kill what is still alive of the tree (the test's own processes only) and say what it was,
        so a failed test cannot leave a demo's worker, beat or databases running."""
        left = self.survivors()
        for pid, (created, _name) in self.seen.items():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.create_time() == created:
                    p.kill()
        return left


@contextlib.contextmanager
def own_temp_folder() -> Iterator[Path]:
    """A folder outside pytest's basetemp for the demo's data.

    The embedded PostgreSQL runs initdb as its own system user, so pgserver opens every parent
    folder to others; a concurrent pytest session re-closes its basetemp root (mode 700) and
    initdb fails half-way. A folder of our own under the temp dir has no such neighbour.
    """
    path = Path(tempfile.mkdtemp(prefix="pims-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def demo_folder() -> Iterator[Path]:
    with own_temp_folder() as path:
        yield path


def processes_using(path: Path) -> list[str]:
    found = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if any(str(path) in part for part in (p.info["cmdline"] or [])):
                found.append(f"{p.pid} {p.info['name']}")
        except psutil.Error:
            continue
    return found


def test_demo_once_embedded_syncs_four_clinics_one_on_ezyvet_and_leaves_nothing_running(demo_folder):
    data_dir = demo_folder / "demo"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY",
                        "IDEXX_ENCRYPTION_KEY", "FLOWER_BASIC_AUTH")}
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "pims_sync.cli.main", "demo", "--once", "--data-dir", str(data_dir),
            "--port", "0", "--flower-port", "0", "--simulator-port", "0", "--ezyvet-port", "0", "--redis-port", "0",
            "--timeout", "240"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = TreeWatcher(proc.pid)
    try:
        out, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"demo did not finish:\n{out[-4000:]}")
    finally:
        watcher.stop()
        left = watcher.kill_survivors()  # a failed run leaves nothing running; a clean one had nothing left
    logs = data_dir / "logs"
    assert proc.returncode == 0, f"demo exited {proc.returncode}:\n{out[-5000:]}\nworker log:\n" + (
        (logs / "worker.log").read_text(errors="replace")[-3000:] if (logs / "worker.log").exists() else "")

    # the embedded path was used, and the syncs went through the API
    assert "embedded PostgreSQL" in out
    assert (data_dir / "pg" / "PG_VERSION").exists()
    assert "redis://127.0.0.1:" in out
    # each clinic's completion webhook reached the demo's own receiver, signature checked
    hooks = out[out.index("Webhooks received by the demo's receiver"):out.index("Demo sync (through the REST API)")]
    assert hooks.count("verified") == 4 and hooks.count("sync.completed") == 4, hooks
    summary = out[out.index("Demo sync (through the REST API)"):]
    rows = [line for line in summary.splitlines() if "completed" in line]
    assert len(rows) == 4, summary
    for row in rows:
        numbers = [int(n) for n in re.findall(r"│\s*(\d+)\s*(?=│)", row)]
        appointments, created, updated = numbers[0], numbers[1], numbers[2]
        assert appointments > 0 and created + updated > 0, row
    # the fourth clinic is the ezyVet simulator's site, synced through the same API with its own key
    assert "ezyVet simulator" in out and re.search(r"ezyVet\s+http://127\.0\.0\.1:\d+", out)
    (ezy_row,) = [row for row in rows if "ezyVet" in row]
    assert int(re.findall(r"│\s*(\d+)\s*(?=│)", ezy_row)[1]) > 0, ezy_row  # its cases were created
    assert out.count("pims_demo_") >= 5  # four keys in the table (and one in the curl line)
    assert re.search(r"curl -s -X POST http://127\.0\.0\.1:\d+/api/sync/full -H 'X-API-Key: pims_demo_", out)

    # nothing of its tree survives; nothing else uses its data folder
    assert any("postgres" in name for _, name in watcher.seen.values()), "postgres was never seen in the tree"
    assert any("redis-server" in name for _, name in watcher.seen.values())
    assert any("chrom" in name for _, name in watcher.seen.values()), "no Chromium was ever started"
    assert (logs / "ezyvet-simulator.log").exists()
    assert left == []
    assert processes_using(data_dir) == []
    assert not (data_dir / "state.json").exists(), "the state file outlived the demo"
