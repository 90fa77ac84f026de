"""One Chromium per worker process, launched lazily, given back when idle.

Playwright is only used to log in, and logins are rare (sessions are shared through Redis), so
the browser is launched on the first login after the fork — never in the parent process (a
forked browser connection is unusable) and never inside ``worker_process_init`` (which must
return quickly or the pool kills the child). Each login gets its own context, closed right
after by the caller, so no cookies leak from one clinic to another.

Playwright's sync API belongs to the thread that started it, so the idle timer cannot call
``browser.close()``: it kills the Chromium processes instead, and the next ``browser()`` call,
back on the task thread, sees the disconnected browser and launches a fresh one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

import psutil

from pims_sync.providers.idexx.chromium import CHROMIUM_ARGS

log = logging.getLogger(__name__)

_BROWSER_NAMES = ("chrom", "headless_shell")


class BrowserPool:
    """The process's browser: ``pool.browser`` is the provider's ``browser_source``."""

    def __init__(
        self,
        *,
        executable_path: str | None = None,
        headless: bool = True,
        launch_timeout_ms: int = 30_000,
        idle_close_s: float = 600.0,
        args: tuple[str, ...] = CHROMIUM_ARGS,
    ):
        self.executable_path, self.headless = executable_path, headless
        self.launch_timeout_ms, self.idle_close_s, self.args = launch_timeout_ms, idle_close_s, args
        self._pid = os.getpid()
        self._playwright: Any = None
        self._browser: Any = None
        self._reaped = threading.Event()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._browser_pids: set[int] = set()
        self.launches = 0

    def __repr__(self) -> str:
        return f"BrowserPool(pid={self._pid}, running={self._browser is not None}, launches={self.launches})"

    def browser(self) -> Any:
        """The live browser, launching (or relaunching after a crash or idle close) as needed."""
        if os.getpid() != self._pid:
            raise RuntimeError("BrowserPool used across a fork: create one per worker process")
        self._cancel_idle_timer()
        if self._browser is not None and (self._reaped.is_set() or not self._browser.is_connected()):
            log.info("browser disconnected or closed for idleness; relaunching")
            self._close_browser()
        if self._browser is None:
            self._launch()
        return self._browser

    __call__ = browser

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright  # only worker processes load Playwright

        if self._playwright is None:
            self._playwright = sync_playwright().start()
        options: dict[str, Any] = {
            "headless": self.headless,
            "args": list(self.args),
            "timeout": self.launch_timeout_ms,
        }
        if self.executable_path:
            options["executable_path"] = self.executable_path
        self._reaped.clear()
        before = {p.pid for p in browser_processes(os.getpid())}
        self._browser = self._playwright.chromium.launch(**options)
        # remember which Chromium is ours, so reaping never touches another browser of this process
        self._browser_pids = {p.pid for p in browser_processes(os.getpid())} - before
        self.launches += 1
        log.info("launched Chromium for worker process %s", os.getpid())

    # --- idleness ------------------------------------------------------------------------------

    def idle(self) -> None:
        """Called when a task ends: close the browser if no login needs it for a while."""
        if self._browser is None or self.idle_close_s <= 0:
            return
        self._cancel_idle_timer()
        timer = threading.Timer(self.idle_close_s, self._reap)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _cancel_idle_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _reap(self) -> None:
        with self._lock:
            if self._browser is None:
                return
            self._reaped.set()
            n = kill_processes(self._browser_pids)
            log.info("closed the idle browser (%d processes) to give memory back", n)

    # --- shutdown ------------------------------------------------------------------------------

    def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        if browser is None:
            return
        try:
            browser.close()
        except Exception as e:  # already dead: nothing to close
            log.debug("browser.close failed: %s", e.__class__.__name__)

    def close(self) -> None:
        """Close browser and driver; kill whatever Chromium is left (worker shutdown, atexit)."""
        if os.getpid() != self._pid:
            return  # a forked copy: the parent's browser is not ours to close
        self._cancel_idle_timer()
        self._close_browser()
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            try:
                playwright.stop()
            except Exception as e:
                log.debug("playwright.stop failed: %s", e.__class__.__name__)
        kill_processes(self._browser_pids)
        self._browser_pids = set()


def browser_processes(pid: int) -> list[psutil.Process]:
    """Chromium processes started (directly or not) by process ``pid``."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for child in children:
        try:
            if any(n in child.name().lower() for n in _BROWSER_NAMES):
                found.append(child)
        except psutil.Error:
            continue
    return found


def kill_processes(pids: set[int], *, grace_s: float = 3.0) -> int:
    """SIGTERM these processes and everything under them; SIGKILL what is left after grace_s."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs[pid] = root
            procs.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.Error:
            continue
    procs = list(procs.values())
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    if alive:
        time.sleep(0.1)
    return len(procs)
