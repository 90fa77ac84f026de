"""Run the simulator: embedded in a thread (tests, benchmarks) or as a child process.

The embedded server is `pims_sync.wsgi_server` (cheroot): HTTP/1.1 with keep-alive, as IDEXX
serves, and a pool of threads so latency faults overlap instead of queueing and a
latency-bound benchmark measures the client, not the simulator.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from ..wsgi_server import EmbeddedServer
from .app import EXTENSION, SimulatorState, create_app


class SimulatorServer:
    """An embedded simulator: ``start()``, use ``.url``, ``stop()``. Also a context manager.

    Keyword options are those of `create_app` (seed, clinics, appointments_per_day,
    latency_ms, jitter_ms, session_idle_s, session_max_s, faults, world).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, **options: Any) -> None:
        self.app = create_app(**options)
        self.state: SimulatorState = self.app.extensions[EXTENSION]
        # stopping wakes any request asleep in a latency or hang fault, so stop() never waits for one
        self._server = EmbeddedServer(self.app, host=host, port=port, quiet=quiet, name="simulator",
                                      on_stop=self.state.stopping.set)
        self.host = host
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clinics(self) -> list[dict[str, Any]]:
        return [c.summary() for c in self.state.world.clinics]

    def start(self) -> SimulatorServer:
        self.state.stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes any request stuck in a latency or hang fault."""
        self._server.stop()

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (the CLI's mode)."""
        self._server.serve_forever()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SimulatorProcess:
    """The simulator in a child process (`python -m pims_sync.simulator`), for runs that want their own GIL."""

    def __init__(self, *, port: int, seed: int = 42, clinics: int = 2, latency_ms: float = 0,
                 appointments_per_day: int | None = None, host: str = "127.0.0.1",
                 startup_timeout_s: float = 20) -> None:
        args = [sys.executable, "-m", "pims_sync.simulator", "--host", host, "--port", str(port),
                "--seed", str(seed), "--clinics", str(clinics), "--latency-ms", str(latency_ms)]
        if appointments_per_day is not None:
            args += ["--appointments-per-day", str(appointments_per_day)]
        self.url = f"http://{host}:{port}"
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        # the child logs every request: drain the pipe, or the child blocks once it holds 64 KB
        self._tail: collections.deque[bytes] = collections.deque(maxlen=200)
        self._drain = threading.Thread(target=self._read_output, name="simulator-output", daemon=True)
        self._drain.start()
        self.clinics = self._wait_ready(startup_timeout_s)

    def _read_output(self) -> None:
        assert self.process.stdout is not None  # Popen(stdout=PIPE)
        for line in iter(self.process.stdout.readline, b""):
            self._tail.append(line)

    def output(self) -> str:
        """The last lines the child printed (for error messages)."""
        return b"".join(self._tail).decode(errors="replace")

    def _wait_ready(self, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._drain.join(timeout=2)
                output = self.output()
                raise RuntimeError(f"the simulator exited with {self.process.returncode}: {output[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/__sim/clinics", timeout=1) as response:
                    clinics: list[dict[str, Any]] = json.load(response)["clinics"]
                    return clinics
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the simulator did not answer at {self.url} within {timeout_s}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join(timeout=2)
        if self.process.stdout:
            self.process.stdout.close()
