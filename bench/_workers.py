"""Real Celery worker subprocesses for the scale-out and memory benchmarks.

The same command an operator runs (``celery -A workers.app worker``), pointed at the bench's
scratch database, its Redis db and a simulator. Each worker runs in a session of its own, and
``stop()`` also kills whatever it left behind (Chromium runs in its own process group).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from pims_sync.config import Settings
from pims_sync.crypto import CredentialCipher
from pims_sync.sync.options import SyncOptions
from workers.app import create_celery_app
from workers.enqueue import InFlight, enqueue_sync

from . import _env

BENCH_ENCRYPTION_KEY = "bench-encryption-key-0123456789abcdef-not-a-secret"
TERMINAL = ("completed", "failed", "partial", "not_run", "cancelled")


def environment(*, database_url: str, simulator_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEXX_", "CELERY_", "DATABASE", "SUPABASE"))}
    env.update({
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": _env.bench_redis_url(),
        "IDEXX_ENCRYPTION_KEY": BENCH_ENCRYPTION_KEY,
        "IDEXX_BASE_URL": simulator_url,
        "CHROMIUM_PATH": _env.chromium_path(),
        "SYNC_TIMEOUT_MS": "60000",
        "CELERY_VISIBILITY_TIMEOUT_S": "600",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(_env.ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class Worker:
    hostname: str
    popen: subprocess.Popen
    log_path: Path
    seen: set[int] = field(default_factory=set)

    def tree(self) -> list[psutil.Process]:
        """The worker and every descendant (pool children, the Playwright driver, Chromium)."""
        try:
            root = psutil.Process(self.popen.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        self.seen.update(p.pid for p in found)
        return found

    def stop(self, timeout_s: float = 20.0) -> None:
        self.tree()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        for pid in self.seen:  # only processes this worker started
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """Workers plus what the benchmark enqueues with (app, store, cipher)."""

    def __init__(self, *, database_url: str, simulator_url: str, store, **env: str):
        self.env = environment(database_url=database_url, simulator_url=simulator_url, **env)
        self.settings = Settings.from_env(self.env)
        self.app = create_celery_app(self.settings)
        self.cipher = CredentialCipher.from_settings(self.settings)
        self.store = store
        self.inflight = InFlight(redis.Redis.from_url(_env.bench_redis_url()))
        self.workers: list[Worker] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="pims-bench-"))

    def start(self, name: str, *, concurrency: int, wait_s: float = 60.0) -> Worker:
        return self.start_many([name], concurrency=concurrency, wait_s=wait_s)[0]

    def start_many(self, names: list[str], *, concurrency: int, wait_s: float = 60.0) -> list[Worker]:
        """Launch the workers at once, then wait until every one answers ping."""
        started = [self._launch(name, concurrency) for name in names]
        deadline = time.monotonic() + wait_s
        waiting = list(started)
        while waiting:
            for worker in list(waiting):
                if worker.popen.poll() is not None:
                    raise RuntimeError(f"worker {worker.hostname} exited at start-up:\n{worker.log()[-3000:]}")
                if self.app.control.ping(destination=[worker.hostname], timeout=0.3):
                    waiting.remove(worker)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"worker {waiting[0].hostname} did not answer ping within {wait_s} s:\n"
                                   f"{waiting[0].log()[-3000:]}")
        return started

    def _launch(self, name: str, concurrency: int) -> Worker:
        hostname = f"{name}-{secrets.token_hex(3)}@bench"
        log_path = self.log_dir / f"{name}.log"
        argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "prefork",
                "--concurrency", str(concurrency), "--queues", "sync,default", "--hostname", hostname,
                "--loglevel", "WARNING", "--without-mingle", "--without-gossip"]
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(argv, cwd=_env.ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        worker = Worker(hostname, popen, log_path)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        """Stop every worker and drop their logs (a failure quotes the log's tail in its error)."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def add_clinic(self, sim_clinic: dict, label: str):
        """A store clinic whose encrypted credentials log into this simulator clinic."""
        clinic = self.store.create_clinic(name=f"bench {label}", timezone=sim_clinic["timezone"])
        self.store.save_credentials(self.cipher.encrypt_credentials(
            sim_clinic["username"], sim_clinic["password"], sim_clinic["company_id"], clinic_id=clinic.id))
        return clinic

    def enqueue(self, clinic_id: str, options: dict, sync_type: str = "full"):
        return enqueue_sync(self.app, self.store, self.inflight, clinic_id=clinic_id, sync_type=sync_type,
                            options=SyncOptions.from_dict(options), trigger="api", ttl_s=900)

    def wait_all(self, sync_ids: list[str], *, timeout_s: float, poll_s: float = 0.1) -> dict[str, str]:
        """sync id -> final status of its full audit row; raises if any is still running at the deadline."""
        pending, done = set(sync_ids), {}
        deadline = time.monotonic() + timeout_s
        while pending:
            for sync_id in list(pending):
                status = self.store.get_audit(sync_id).status
                if status in TERMINAL:
                    done[sync_id] = status
                    pending.discard(sync_id)
            if not pending:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(w.log()[-1500:] for w in self.workers)
                raise RuntimeError(f"{len(pending)} syncs still running after {timeout_s} s\n{logs}")
            time.sleep(poll_s)
        return done


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
