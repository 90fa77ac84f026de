"""The demo's running services: embedded or given PostgreSQL/Redis, and the child processes.

Each child is a `pims-sync <command>` in its own process group with its log under
<data-dir>/logs; settings reach children only through their environment.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from ..errors import PimsSyncError
from .embedded import EmbeddedPostgres, redis_argv, start_postgres
from .output import redact_url
from .procs import Child, Supervisor


class ChildFailed(PimsSyncError):
    code = "child_failed"


@dataclass
class Ports:
    api: int
    flower: int
    simulator: int
    redis: int
    moved: list[str] = field(default_factory=list)  # "api 5050 -> 40123"


def available_commands() -> set[str]:
    from .main import cli

    return set(cli.commands)


def child_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pims_sync.cli.main", command, *args]


def http_answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            requests.get(url, timeout=1)
            return True
        except requests.RequestException:
            return False

    return check


class DemoStack:
    """Owns everything the demo started; :meth:`stop` leaves nothing running."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.supervisor = Supervisor(data_dir / "logs")
        self.pg: EmbeddedPostgres | None = None
        self.database_url: str | None = None
        self.redis_url: str | None = None
        self._stopped = False

    # --- backing services ----------------------------------------------------------------------

    def use_database(self, given: str | None) -> str:
        if given:
            self.database_url = given
        else:
            self.pg = start_postgres(self.data_dir)
            self.database_url = self.pg.url
        return self.database_url

    def use_redis(self, given: str | None, *, port: int, env: dict[str, str]) -> str:
        if given:
            self.redis_url = given
            _ping_redis(given, timeout_s=5)
            return given
        url = f"redis://127.0.0.1:{port}/0"
        child = self.supervisor.start("redis", redis_argv(self.data_dir / "redis", port), env=env)
        self.wait_ready(child, lambda: _ping_redis(url, timeout_s=0.5, quiet=True), timeout_s=15, what=url)
        self.redis_url = url
        return url

    # --- children ---------------------------------------------------------------------------------

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        ready: Callable[[], bool] | None = None,
        timeout_s: float = 60,
        what: str = "",
    ) -> Child:
        child = self.supervisor.start(name, argv, env=env)
        if ready is not None:
            self.wait_ready(child, ready, timeout_s=timeout_s, what=what)
        return child

    def wait_ready(self, child: Child, ready: Callable[[], bool], *, timeout_s: float, what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not child.alive():
                raise ChildFailed(
                    f"{child.name} exited with code {child.popen.returncode} while starting; "
                    f"its log ({child.log_path}) ends with:\n{child.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.25)
        raise ChildFailed(
            f"{child.name} did not become ready{' at ' + what if what else ''} within {timeout_s:.0f}s; "
            f"see {child.log_path}:\n{child.log_tail()}"
        )

    def dead_children(self) -> list[Child]:
        return self.supervisor.check()

    def stop(self) -> None:
        """Children first (they hold DB connections), then PostgreSQL, then a final sweep."""
        if self._stopped:
            return
        self._stopped = True
        self.supervisor.stop_all(spare=self.pg.pid if self.pg else None)
        if self.pg is not None:
            self.pg.stop()
        self.supervisor.stop_all(timeout_s=3)

    def describe_database(self) -> str:
        if self.pg is not None:
            return f"embedded PostgreSQL in {self.data_dir / 'pg'}"
        return redact_url(self.database_url)


def _ping_redis(url: str, *, timeout_s: float, quiet: bool = False) -> bool:
    from .output import ServiceUnreachable

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.exceptions.RedisError as e:
        if quiet:
            return False
        raise ServiceUnreachable("Redis", url, e.__class__.__name__) from None


def celery_workers_online(redis_url: str, *, timeout_s: float = 1.0) -> list[str]:
    """Names of workers answering a ping (a bare Celery app: no task imports needed)."""
    from celery import Celery

    app = Celery("pims-sync-cli", broker=redis_url, backend=redis_url)
    try:
        replies = app.control.ping(timeout=timeout_s) or []
    except Exception:
        return []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)
