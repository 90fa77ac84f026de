"""`pims-sync beat`: run the per-clinic beat scheduler (Celery beat with ClinicScheduler).

Start one on each of two machines for a standby: only the lock holder dispatches.
"""

from __future__ import annotations

import os
import shutil
import sys

import click

SCHEDULER = "workers.beat:ClinicScheduler"


def beat_argv(loglevel: str, max_interval: float | None = None) -> list[str]:
    celery = (
        shutil.which("celery", path=os.path.dirname(sys.executable)) or shutil.which("celery") or "celery"
    )
    argv = [celery, "-A", "workers.app", "beat", "-S", SCHEDULER, "--loglevel", loglevel]
    if max_interval is not None:
        argv += ["--max-interval", str(max_interval)]
    return argv


@click.command("beat")
@click.option(
    "--loglevel",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option("--max-interval", type=float, default=None, help="Longest sleep between ticks, seconds.")
def command(loglevel: str, max_interval: float | None) -> None:
    """Run the beat scheduler: clinic schedules from the database, one active beat (Redis lock)."""
    argv = beat_argv(loglevel.upper(), max_interval)
    os.execvp(argv[0], argv)
