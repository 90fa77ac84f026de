"""Which Chromium we launch, how, and the one thread that may drive it.

Debian's packages are used because Playwright cannot download its own browser on our machines.
Headless runs prefer ``chromium-headless-shell`` (Debian's build of Chromium's old headless
mode: no browser UI layer, about a third of ``chromium``'s CPU per login, see
docs/PERFORMANCE.md); a visible browser (``HEADLESS=false``, ``pims-sync worker --visible``)
needs the full ``chromium``. :func:`locate_chromium` is the one place that decides, and
``CHROMIUM_PATH`` always wins. Playwright drives either with ``chromium.launch(headless=...)``:
it passes ``--headless``, which the headless shell runs as its only mode. The flags keep the
browser from phoning home (refused connections on a closed network) and let it run as root in
containers.

Playwright's sync API is not thread-safe: its objects belong to the thread that started
Playwright. A sync fetches consultations on several threads, and any of them may find the
session expired and need a login. Rather than each such thread launching a Chromium of its own
(seconds of CPU each; it once multiplied into a login storm), the process's browser lives on
one :class:`BrowserThread` and every login is *sent to* that thread (:meth:`BrowserThread.run`)
and waited for. Logins are serialised anyway (one per clinic at a time, under the login lock),
so the single thread costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: where Debian/Ubuntu packages put the browsers, relative to the file system root, best first
HEADLESS_SHELL_PLACES = ("usr/bin/chromium-headless-shell",)
CHROMIUM_PLACES = ("usr/bin/chromium", "usr/bin/chromium-browser", "usr/bin/google-chrome")
HEADLESS_SHELL_NAMES = ("chromium-headless-shell",)
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_places(*, headless: bool = True, root: str = "/") -> tuple[str, ...]:
    """The absolute paths to try under ``root``: the headless shell first when ``headless``."""
    places = (HEADLESS_SHELL_PLACES if headless else ()) + CHROMIUM_PLACES
    return tuple(str(Path(root) / place) for place in places)


def locate_chromium(
    configured: str | None = None,
    *,
    headless: bool = True,
    candidates: tuple[str, ...] | None = None,
    playwright_build: bool = True,
) -> str | None:
    """The browser to launch: ``configured`` (CHROMIUM_PATH) as given, else the first runnable one.

    Without ``configured``: ``candidates`` (default :func:`chromium_places`), then the same
    names on ``PATH``, then Playwright's own download when ``playwright_build``; None when there
    is none. A headed run never gets the headless shell. A configured path is returned even if
    nothing runs there, so the launch fails naming it rather than quietly using another browser.
    """
    if configured:
        return configured
    for candidate in chromium_places(headless=headless) if candidates is None else candidates:
        if _runnable(candidate):
            return candidate
    for name in (HEADLESS_SHELL_NAMES if headless else ()) + CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return _playwright_chromium() if playwright_build else None


def launch_options(
    executable_path: str | None = None,
    *,
    headless: bool = True,
    args: tuple[str, ...] = CHROMIUM_ARGS,
    timeout_ms: float | None = None,
) -> dict[str, Any]:
    """Keyword arguments for Playwright's ``chromium.launch``, the browser chosen by :func:`locate_chromium`.

    Without a system browser, no ``executable_path`` is passed and Playwright picks from its own
    downloads (its headless shell for a headless run).
    """
    options: dict[str, Any] = {"headless": headless, "args": list(args)}
    found = locate_chromium(executable_path, headless=headless, playwright_build=False)
    if found:
        options["executable_path"] = found
    if timeout_ms is not None:
        options["timeout"] = timeout_ms
    return options


def _runnable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def _playwright_chromium() -> str | None:
    """Playwright's downloaded Chromium, if ``playwright install chromium`` was run."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # no driver, no browser, or a running loop on this thread: we only report absence
        return None
    return path if path and Path(path).is_file() else None


@runtime_checkable
class BrowserRunner(Protocol):
    """Runs ``fn(browser)`` on the thread that owns the browser, from any thread."""

    def run(self, fn: Callable[[Any], T]) -> T: ...


class BrowserThread:
    """A daemon thread that owns Playwright; ``run(fn)`` executes ``fn()`` there and returns its result.

    ``fn`` is any callable that uses Playwright objects created on this thread. A call from the
    thread itself runs inline (no deadlock). Daemon, so a Chromium hung at exit cannot keep the
    process alive; ``stop()`` ends it after the queued work.
    """

    def __init__(self, name: str = "chromium"):
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BrowserThread({self._name!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def on_thread(self) -> bool:
        return self._thread is not None and threading.get_ident() == self._thread.ident

    def call(self, fn: Callable[[], T]) -> T:
        if self.on_thread():
            return fn()
        with self._start_lock:
            if not self.running:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((future, fn))
        return future.result()

    def stop(self, final: Callable[[], Any] | None = None) -> None:
        """Run ``final`` (cleanup) on the thread, then end it; a no-op if it never started."""
        if not self.running:
            return
        if final is not None:
            with contextlib.suppress(Exception):
                self.call(final)
        self._jobs.put(None)
        thread = self._thread
        if thread is not None and not self.on_thread():
            thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the waiting caller, re-raised there
                future.set_exception(e)
