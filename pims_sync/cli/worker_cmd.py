"""`pims-sync worker`: run a Celery worker (prefork) for the sync queues.

It execs ``celery -A workers.app worker --pool prefork ...`` so the worker is the process the
supervisor (systemd, Docker, the demo) sees and signals directly: SIGTERM is a warm shutdown
that lets running syncs finish (unfinished ones are redelivered: acks_late).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys

import click

from ..config import get_settings
from ..errors import ConfigError
from .output import fail


def worker_argv(
    *,
    concurrency: int | None,
    queues: str,
    loglevel: str,
    hostname: str | None,
    max_tasks_per_child: int | None,
    max_memory_per_child_kb: int | None,
) -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "prefork",
            "--queues", queues, "--loglevel", loglevel.upper(),
            "--hostname", hostname or f"sync@{socket.gethostname()}"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if max_tasks_per_child:
        argv += ["--max-tasks-per-child", str(max_tasks_per_child)]
    if max_memory_per_child_kb:
        argv += ["--max-memory-per-child", str(max_memory_per_child_kb)]
    return argv


@click.command("worker")
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=None,
              help="Worker processes (each may run one Chromium); default: CPU count.")
@click.option("--queues", "-Q", default="sync,api,default", show_default=True,
              help="Comma-separated queues to consume: sync (browser providers: IDEXX), api (REST "
                   "providers: ezyVet; no Playwright needed), default (housekeeping).")
@click.option("--loglevel", "-l", default=None, help="DEBUG, INFO, WARNING... (default LOG_LEVEL).")
@click.option("--hostname", "-n", default=None, help="Node name, unique per worker (default sync@<host>).")
@click.option("--max-tasks-per-child", type=click.IntRange(1), default=50, show_default=True,
              help="Recycle a worker process (and its Chromium) after this many tasks.")
@click.option("--max-memory-per-child", "max_memory_per_child_kb", type=click.IntRange(1), default=None,
              help="Recycle a worker process after its resident memory passes this many KiB.")
@click.option("--visible", is_flag=True,
              help="Show Chromium's window while it logs in (HEADLESS=false); needs a display, e.g. xvfb-run.")
def command(
    concurrency: int | None,
    queues: str,
    loglevel: str | None,
    hostname: str | None,
    max_tasks_per_child: int,
    max_memory_per_child_kb: int | None,
    visible: bool,
) -> None:
    """Run a Celery worker for syncs (prefork pool; Playwright needs one process per task)."""
    if visible:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise click.UsageError(
                "--visible needs a display and neither DISPLAY nor WAYLAND_DISPLAY is set; "
                "on a server run it under a virtual one: xvfb-run pims-sync worker --visible"
            )
        os.environ["HEADLESS"] = "false"  # the settings below, and the exec'd worker, read it
    try:
        settings = get_settings()
        settings.require_database()
        settings.require_encryption_key()
    except ConfigError as e:  # like a bad argument (README: exit 2 names the variable)
        fail(f"configuration: {e}", code=2)
    argv = worker_argv(
        concurrency=concurrency,
        queues=queues,
        loglevel=loglevel or settings.log_level,
        hostname=hostname,
        max_tasks_per_child=max_tasks_per_child,
        max_memory_per_child_kb=max_memory_per_child_kb,
    )
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        raise click.ClickException("cannot find the Python interpreter to run celery")
    os.execv(argv[0], argv)
