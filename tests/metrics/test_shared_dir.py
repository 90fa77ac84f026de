"""One samples directory shared by containers: processes with the same pid on two hosts both count.

In docker compose the api, worker and beat containers share one metrics volume, and each
container has its own pid namespace, so two processes there can have the same pid at the same
time. Reproduced for real with Linux namespaces (`unshare`, as root like CI): two "hosts" whose
Python processes are both pid 1 count one sync each, at the same time, into one directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pims_sync import metrics
from tests.fixtures.api_process import REPO
from tests.metrics.test_metrics_e2e import sample

# builds its value (reading the file) first, waits, then counts: the two overlap as in production
CHILD = ("import os, sys, pims_sync.metrics as m; c = m.SYNCS.labels('idexx-neo', 'full', 'completed'); "
         "print(os.getpid(), flush=True); sys.stdin.readline(); c.inc(); print('done', flush=True)")


def test_two_hosts_with_the_same_pid_count_apart(tmp_path):
    unshare = shutil.which("unshare")
    assert unshare and os.geteuid() == 0, "this test needs util-linux's unshare and root (as CI runs)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    children = []
    for host in ("container-a", "container-b"):
        argv = [unshare, "--pid", "--fork", "--uts", "--mount-proc", "sh", "-c",
                f'hostname {host} && exec "$0" -c "$1"', sys.executable, CHILD]
        children.append(subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
    try:
        pids = [child.stdout.readline().strip() for child in children]
        assert pids == ["1", "1"], (pids, [c.stderr.read() for c in children if c.poll() is not None])
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        assert [child.stdout.readline().strip() for child in children] == ["done", "done"]
    finally:
        for child in children:
            child.wait(timeout=30)
    names = sorted(os.listdir(tmp_path))
    assert names == ["counter_container-a-1.db", "counter_container-b-1.db"], names
    text = metrics.render(path=str(tmp_path)).decode()
    assert sample(text, "pims_sync_syncs_total", type="full", outcome="completed") == 2


def test_a_dead_process_is_dropped_by_its_own_host_and_pid(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = "import os, pims_sync.metrics as m; m.record_worker_memory(); print(os.getpid(), m.process_identifier())"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    pid, ident = out
    assert ident.endswith(f"-{pid}") and f"gauge_liveall_{ident}.db" in os.listdir(tmp_path)
    assert sample(metrics.render(path=str(tmp_path)).decode(), "pims_sync_worker_memory_bytes", pid=ident) > 0
    old = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    try:
        metrics.process_exited(int(pid))
    finally:
        if old is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = old
    assert sample(metrics.render(path=str(tmp_path)).decode(), "pims_sync_worker_memory_bytes") is None
