"""`pims-sync api`: serve the HTTP API with gunicorn (``api.wsgi:app``), or Flask's dev server.

gunicorn replaces this process (exec), so signals from a container runtime or a supervisor
reach it directly. Threads per worker let wait-mode requests (which hold a thread for up to
SYNC_TIMEOUT_MS) coexist with quick enqueues.
"""

from __future__ import annotations

import os
import sys

import click

from ..config import Settings
from ..errors import ConfigError
from .output import fail


def request_timeout_s(settings: Settings) -> int:
    """gunicorn's worker timeout: above the longest wait-mode request (one phase's budget)."""
    return settings.sync_timeout_ms // 1000 + 30


def gunicorn_argv(*, host: str, port: int, workers: int, threads: int, timeout_s: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "api.gunicorn_worker.JsonErrorWorker",  # gthread, with JSON error pages
        "--threads", str(threads),
        "--timeout", str(timeout_s),
        "--graceful-timeout", "30",
        "--access-logfile", "-",
        "api.wsgi:app",
    ]


@click.command("api")
@click.option("--host", default=None, help="Interface to listen on (default: HOST, else 0.0.0.0).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default: PORT, else 5050).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Threads per process.")
@click.option("--dev", is_flag=True, help="Flask's development server (single process; not for production).")
def command(host: str | None, port: int | None, workers: int, threads: int, dev: bool) -> None:
    """Serve the pims-sync HTTP API (docs/API.md)."""
    try:
        settings = Settings.from_env()
        settings.require_database()
    except ConfigError as e:  # like a bad argument (README: exit 2 names the variable)
        fail(f"configuration: {e}", code=2)
    host = host or settings.host
    port = settings.port if port is None else port
    if dev:
        from api.app import create_app

        click.echo(f"pims-sync API (development server) on http://{host}:{port}")
        create_app(settings).run(host=host, port=port, threaded=True, use_reloader=False)
        return
    argv = gunicorn_argv(host=host, port=port, workers=workers, threads=threads,
                         timeout_s=request_timeout_s(settings))
    click.echo(f"pims-sync API (gunicorn, {workers} x {threads} threads) on http://{host}:{port}", err=True)
    sys.stdout.flush()
    os.execv(sys.executable, argv)
