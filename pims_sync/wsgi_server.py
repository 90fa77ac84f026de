"""The HTTP server both PIMS simulators run on: cheroot, HTTP/1.1 with keep-alive.

werkzeug's development server answers every request with ``Connection: close``, so each
call through it paid a new TCP connection that a real PIMS (IDEXX Neo, ezyVet) does not
charge, and latency-bound benchmarks measured that instead of the client. cheroot keeps
connections open between requests and hands a connection to a worker thread only while a
request is in flight, so idle keep-alive connections hold no thread.

Threads are a fixed pool (cheroot does not grow it): ``threads`` is the number of requests
that can be in flight at once, latency and hang faults included (each sleeps on its thread).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from cheroot import wsgi

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

THREADS = 64  # >= the 50 overlapping requests tests/simulator/test_concurrency.py sends
LISTEN_BACKLOG = 128  # werkzeug's; cheroot's default of 5 drops SYNs when 50 clients connect at once
KEEP_ALIVE_LIMIT = 1024
IDLE_TIMEOUT_S = 30  # an idle keep-alive connection is closed after this (and a stalled request read)


class EmbeddedServer:
    """A WSGI app served on ``host:port`` (port 0: any free one, known from ``.port`` at once).

    ``start()`` serves on a daemon thread, ``stop()`` ends it; ``serve_forever()`` serves on the
    calling thread until interrupted. ``on_stop`` runs first in ``stop()``: the simulators use it
    to wake requests sleeping in a latency or hang fault, so shutdown never waits for them.
    """

    def __init__(self, app: WSGIApp, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True,
                 threads: int = THREADS, name: str = "wsgi",
                 on_stop: Callable[[], None] | None = None) -> None:
        self._server = wsgi.Server((host, port), app if quiet else _AccessLog(app), numthreads=threads,
                                   request_queue_size=LISTEN_BACKLOG, timeout=IDLE_TIMEOUT_S)
        # idle keep-alive connections kept open (cheroot's default of 10 would close most of a
        # scale-out run's: 4 syncs x 5 parallel fetches, plus workers' own sessions)
        self._server.keep_alive_conn_limit = KEEP_ALIVE_LIMIT
        self._server.prepare()  # binds now: a taken port fails here, and .port is known before start()
        self.host = host
        self.port: int = self._server.bind_addr[1]
        self._name = name
        self._on_stop = on_stop
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve, name=f"{self._name}:{self.port}",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._on_stop is not None:
            self._on_stop()
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (KeyboardInterrupt propagates)."""
        try:
            self._server.serve()
        finally:
            self.stop()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _AccessLog:
    """One line per request on stderr, in the common log format werkzeug's server printed."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def logged_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            path = environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
            stamp = time.strftime("%d/%b/%Y %H:%M:%S")
            print(f'{environ.get("REMOTE_ADDR", "-")} - - [{stamp}] "{environ.get("REQUEST_METHOD")} {path} '
                  f'{environ.get("SERVER_PROTOCOL")}" {status.split(" ", 1)[0]} -', file=sys.stderr, flush=True)
            return start_response(status, headers, *exc_info)

        return self.app(environ, logged_start_response)
