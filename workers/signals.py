"""Worker process lifecycle: nothing launched at fork, everything closed at exit.

``worker_process_init`` must return quickly (the pool kills a child that takes too long to
start), so it only forgets the parent's resources; the browser is launched at the first login.
Shutdown closes the browser and its driver so no Chromium outlives its worker process, both on
``worker_process_shutdown`` (recycling with --max-tasks-per-child, warm shutdown) and at exit.
"""

from __future__ import annotations

import atexit

from celery.signals import worker_process_init, worker_process_shutdown

from . import runtime


@worker_process_init.connect
def _forget_parent_resources(**_: object) -> None:
    runtime.reset_after_fork()
    atexit.register(runtime.shutdown)


@worker_process_shutdown.connect
def _close_browser(**_: object) -> None:
    runtime.shutdown()
