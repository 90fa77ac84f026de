"""A webhook receiver on 127.0.0.1 for tests: records every request; answers from a script."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers in order; then 200
    server_names: list[str | None] = field(default_factory=list)  # TLS: the SNI of each handshake


@contextmanager
def receiver(*, statuses: tuple[int, ...] = (), tls: ssl.SSLContext | None = None,
             host: str = "127.0.0.1") -> Iterator[Receiver]:
    """``tls``: serve https with this server context (its SNI callback is set here); ``host``: the URL's."""
    state = Receiver(url="", statuses=list(statuses))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:  # a client that followed it would come back here
                self.send_header("Location", state.url + "/followed")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        def remember(_sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
            state.server_names.append(name)

        tls.sni_callback = remember
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"{'https' if tls else 'http'}://{host}:{server.server_port}/hooks/pims"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
