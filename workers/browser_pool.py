"""One Chromium per worker process, launched lazily, driven from one thread, given back when idle.

Playwright is only used to log in, and logins are rare (sessions are shared through Redis), so
the browser is launched on the first login after the fork — never in the parent process (a
forked browser connection is unusable) and never inside ``worker_process_init`` (which must
return quickly or the pool kills the child). Each login gets its own context, closed right
after by the caller, so no cookies leak from one clinic to another.

Playwright's sync API belongs to the thread that started it, and a login may be needed on any
thread of a sync (an enrichment thread finding the session expired). So the pool's Playwright
and browser live on a :class:`~pims_sync.providers.idexx.chromium.BrowserThread` of their own and
every use goes through :meth:`BrowserPool.run`, which sends the work to that thread and waits:
one Chromium per process whatever thread asks, never a private one per helper thread. The idle
timer closes the browser the same way, and stops Playwright's driver (a node process of ~145 MB
PSS) with it, so an idle worker is back to its Python footprint; the next ``run`` starts both
again on the same thread.

Which browser is launched is :func:`~pims_sync.providers.idexx.chromium.locate_chromium`'s
choice (``executable_path`` = CHROMIUM_PATH wins; headless runs prefer Debian's
chromium-headless-shell).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil

from pims_sync import metrics
from pims_sync.providers.idexx.chromium import CHROMIUM_ARGS, BrowserThread, launch_options

log = logging.getLogger(__name__)
T = TypeVar("T")

_BROWSER_NAMES = ("chrom", "headless_shell")
_DRIVER_NAMES = ("node",)


class BrowserPool:
    """The process's browser; a ``BrowserRunner``: ``pool.run(fn)`` calls ``fn(browser)`` on its thread."""

    def __init__(
        self,
        *,
        executable_path: str | None = None,
        headless: bool = True,
        launch_timeout_ms: int = 30_000,
        idle_close_s: float = 600.0,
        args: tuple[str, ...] = CHROMIUM_ARGS,
    ) -> None:
        self.executable_path, self.headless = executable_path, headless
        self.launch_timeout_ms, self.idle_close_s, self.args = launch_timeout_ms, idle_close_s, args
        self._pid = os.getpid()
        self._thread = BrowserThread(f"chromium-{self._pid}")
        self._playwright: Any = None
        self._browser: Any = None
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._browser_pids: set[int] = set()
        self.launches = 0

    def __repr__(self) -> str:
        return f"BrowserPool(pid={self._pid}, running={self._browser is not None}, launches={self.launches})"

    @property
    def running(self) -> bool:
        return self._browser is not None

    def run(self, fn: Callable[[Any], T]) -> T:
        """``fn(browser)`` on the pool's thread, launching (or relaunching after a crash) as needed."""
        if os.getpid() != self._pid:
            raise RuntimeError("BrowserPool used across a fork: create one per worker process")
        self._cancel_idle_timer()
        return self._thread.call(lambda: fn(self._live_browser()))

    def _live_browser(self) -> Any:
        if self._browser is not None and not self._browser.is_connected():
            log.info("browser disconnected; relaunching")
            self._close_browser()
        if self._browser is None:
            self._launch()
        return self._browser

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright  # only worker processes load Playwright

        if self._playwright is None:
            self._playwright = sync_playwright().start()
        options = launch_options(
            self.executable_path, headless=self.headless, args=self.args, timeout_ms=self.launch_timeout_ms
        )
        before = {p.pid for p in browser_processes(os.getpid())}
        self._browser = self._playwright.chromium.launch(**options)
        # remember which Chromium is ours, so cleanup never touches another browser of this process
        self._browser_pids = {p.pid for p in browser_processes(os.getpid())} - before
        self.launches += 1
        metrics.BROWSER_LAUNCHES.inc()
        log.info("launched Chromium for worker process %s", os.getpid())

    # --- idleness ------------------------------------------------------------------------------

    def idle(self) -> None:
        """Called when a task ends: close the browser if no login needs it for a while."""
        if self._browser is None or self.idle_close_s <= 0:
            return
        self._cancel_idle_timer()
        timer = threading.Timer(self.idle_close_s, self._reap)
        timer.daemon = True
        with self._timer_lock:
            self._timer = timer
        timer.start()

    def _cancel_idle_timer(self) -> None:
        with self._timer_lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _reap(self) -> None:
        """Timer thread: close the browser and stop the driver, on the thread that owns them."""
        try:
            self._thread.call(self._stop_playwright)
        except Exception as e:
            log.debug("idle close failed: %s", e.__class__.__name__)
        log.info("closed the idle browser and Playwright's driver to give memory back")

    # --- shutdown ------------------------------------------------------------------------------

    def _close_browser(self) -> None:
        """On the pool's thread: close the browser; kill whatever of it is left."""
        browser, self._browser = self._browser, None
        if browser is not None:
            try:
                browser.close()
            except Exception as e:  # already dead: nothing to close
                log.debug("browser.close failed: %s", e.__class__.__name__)
        kill_processes(self._browser_pids)
        self._browser_pids = set()

    def _stop_playwright(self) -> None:
        """On the pool's thread: close the browser, then stop the driver (the next launch starts one)."""
        self._close_browser()
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            try:
                playwright.stop()
            except Exception as e:
                log.debug("playwright.stop failed: %s", e.__class__.__name__)

    def close(self) -> None:
        """Close browser and driver; kill whatever Chromium is left (worker shutdown, atexit)."""
        if os.getpid() != self._pid:
            return  # a forked copy: the parent's browser is not ours to close
        self._cancel_idle_timer()
        self._thread.stop(final=self._stop_playwright)
        kill_processes(self._browser_pids)
        self._browser_pids = set()


def browser_processes(pid: int) -> list[psutil.Process]:
    """Chromium processes started (directly or not) by process ``pid``."""
    return _descendants_named(pid, _BROWSER_NAMES)


def driver_processes(pid: int) -> list[psutil.Process]:
    """Playwright driver (node) processes started (directly or not) by process ``pid``."""
    return _descendants_named(pid, _DRIVER_NAMES)


def _descendants_named(pid: int, names: tuple[str, ...]) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for child in children:
        try:
            if any(n in child.name().lower() for n in names):
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
    targets = list(procs.values())
    for p in targets:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(targets, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    if alive:
        time.sleep(0.1)
    return len(targets)
