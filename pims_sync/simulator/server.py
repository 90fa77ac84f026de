"""Run the simulator: embedded in a thread (tests, benchmarks) or as a child process.

The embedded server is werkzeug's threaded server, one thread per connection, so
latency faults overlap instead of queueing and a latency-bound benchmark measures the
client, not the simulator.
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

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import EXTENSION, create_app


class SimulatorServer:
    """An embedded simulator: ``start()``, use ``.url``, ``stop()``. Also a context manager.

    Keyword options are those of `create_app` (seed, clinics, appointments_per_day,
    latency_ms, jitter_ms, session_idle_s, session_max_s, faults, world).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, **options) -> None:
        self.app = create_app(**options)
        self.state = self.app.extensions[EXTENSION]
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clinics(self) -> list[dict]:
        return [c.summary() for c in self.state.world.clinics]

    def start(self) -> SimulatorServer:
        if self._thread is None:
            self.state.stopping.clear()
            self._thread = threading.Thread(target=self._server.serve_forever, name=f"simulator:{self.port}",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes any request stuck in a latency or hang fault."""
        self.state.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (the CLI's mode)."""
        try:
            self._server.serve_forever()
        finally:
            self.state.stopping.set()
            self._server.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _QuietHandler(WSGIRequestHandler):
    """No access log: tests and benchmarks make thousands of requests."""

    def log_request(self, *args, **kwargs) -> None:
        pass


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
        for line in iter(self.process.stdout.readline, b""):
            self._tail.append(line)

    def output(self) -> str:
        """The last lines the child printed (for error messages)."""
        return b"".join(self._tail).decode(errors="replace")

    def _wait_ready(self, timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._drain.join(timeout=2)
                output = self.output()
                raise RuntimeError(f"the simulator exited with {self.process.returncode}: {output[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/__sim/clinics", timeout=1) as response:
                    return json.load(response)["clinics"]
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
