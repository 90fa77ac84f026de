"""`pims-sync flower`: Flower over the pims-sync Celery app, with safe defaults.

Secrets (basic auth, cookie secret) reach Flower through its own FLOWER_* environment
variables, never the command line, so they do not show in `ps`. Task arguments Flower shows
are the ids-only argsrepr/kwargsrepr that workers.enqueue sets on every enqueue.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..config import Settings
from .embedded import demo_secret
from .output import fail, handles_errors


def flower_argv(*, port: int, address: str, data_dir: Path, max_tasks: int, purge_offline_s: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "workers.app", "flower",
        f"--port={port}",
        f"--address={address}",
        f"--max_tasks={max_tasks}",
        f"--purge_offline_workers={purge_offline_s}",
        "--persistent=True",
        f"--db={data_dir / 'flower.db'}",
        "--state_save_interval=60000",
    ]  # fmt: skip


def flower_env(settings: Settings, data_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Flower; refuses an unauthenticated Flower in production."""
    env = dict(os.environ if base is None else base)
    if settings.flower_basic_auth:
        env["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth
    elif settings.app_env == "production":
        fail("configuration: FLOWER_BASIC_AUTH must be set (user:password) when APP_ENV=production; "
             "refusing to start an open Flower", code=2)  # a bad setting, like a bad argument
    else:
        env.pop("FLOWER_BASIC_AUTH", None)
    env["FLOWER_COOKIE_SECRET"] = settings.flower_cookie_secret or demo_secret(data_dir, "cookie.secret")
    return env


@click.command("flower")
@click.option("--port", default=5555, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 in containers).")
@click.option("--data-dir", default=".data/flower", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Persistent state and the generated cookie secret.")
@click.option("--max-tasks", default=10_000, show_default=True, type=click.IntRange(100, 1_000_000),
              help="Tasks kept in memory (bounded so Flower cannot grow without limit).")
@click.option("--purge-offline-workers", "purge_offline_s", default=300, show_default=True, type=click.IntRange(1),
              help="Seconds after which an offline worker disappears from the dashboard.")
@handles_errors
def command(port: int, address: str, data_dir: Path, max_tasks: int, purge_offline_s: int) -> None:
    """Run Flower (basic auth from FLOWER_BASIC_AUTH; required when APP_ENV=production)."""
    settings = Settings.from_env()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = flower_env(settings, data_dir)
    env.setdefault("REDIS_URL", settings.broker_url)
    if not settings.flower_basic_auth:
        click.echo("warning: FLOWER_BASIC_AUTH is not set; Flower is open to anyone who can reach it", err=True)
    argv = flower_argv(port=port, address=address, data_dir=data_dir, max_tasks=max_tasks,
                       purge_offline_s=purge_offline_s)
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)
