"""How we launch Chromium, and the one thread that may drive it.

Debian's ``chromium`` is used because Playwright cannot download its own browser on our
machines; the flags keep it from phoning home (refused connections on a closed network) and
let it run as root in containers.

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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


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
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
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
        future: Future = Future()
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
        if not self.on_thread():
            self._thread.join(timeout=30)

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
