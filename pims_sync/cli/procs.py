"""Child-process supervision for the demo: start in own process groups, stop without orphans.

Playwright starts Chromium detached (its own process group), so killing a worker's group
is not enough: we make this process a child subreaper (Linux) so orphaned grandchildren are
re-parented to us, and we stop every descendant we can see, SIGTERM first, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); harmless elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    known: set[int] = field(default_factory=set)  # descendant pids seen while it ran

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Supervisor:
    """Starts children with logs in a folder and stops all of them, however they ended up."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.extra_pids: set[int] = set()  # processes we did not spawn but must stop (e.g. postgres)
        become_subreaper()

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - the child owns it after fork
        try:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=str(cwd) if cwd else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: Ctrl-C reaches us, not them
            )
        finally:
            log.close()
        child = Child(name=name, popen=popen, log_path=log_path)
        self.children.append(child)
        return child

    def remember_descendants(self) -> None:
        """Record every descendant now, so grandchildren can be stopped after their parent died."""
        for child in self.children:
            child.known.update(_descendants(child.pid))

    def check(self) -> list[Child]:
        """Children that have exited."""
        return [c for c in self.children if not c.alive()]

    def stop_all(self, *, timeout_s: float = 10.0, spare: int | None = None) -> None:
        """SIGTERM every child's group and every descendant, wait, then SIGKILL what is left.

        `spare` is a daemon we adopted but stop another way (the embedded postmaster, which
        wants `pg_ctl stop`); it and its descendants are left alone.
        """
        self.remember_descendants()
        spared = {spare, *_descendants(spare)} if spare else set()
        pids: set[int] = set(self.extra_pids)
        for child in reversed(self.children):
            pids.add(child.pid)
            pids.update(child.known)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        pids.update(_descendants(os.getpid()))
        procs = _signal_all(pids - spared, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout_s)
        for child in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        spared = {spare, *_descendants(spare)} if spare else set()
        alive += [p for p in _as_procs(_descendants(os.getpid()) - spared) if p not in alive and p.pid not in spared]
        _signal_all({p.pid for p in alive}, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=1)
        _reap_zombies()


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _as_procs(pids: set[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid))
    return out


def _signal_all(pids: set[int], sig: int) -> list[psutil.Process]:
    procs = _as_procs(pids - {os.getpid()})
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    return procs


def _reap_zombies() -> None:
    """Collect adopted orphans that exited (we are their subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_until(predicate: Callable[[], object], *, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
