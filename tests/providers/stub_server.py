"""A scripted HTTP server on 127.0.0.1 for client tests: real sockets, canned answers."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


@dataclass
class Reply:
    status: int = 200
    body: str = "{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay_s: float = 0.0  # sleep before answering (read-timeout tests)


class StubServer:
    """Answers each path with its scripted replies in order; the last one repeats."""

    def __init__(self):
        self.replies: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                path = urlparse(self.path).path
                stub.requests.append({"path": path, "url": self.path, "headers": dict(self.headers)})
                queue = stub.replies.get(path)
                reply = (queue.popleft() if len(queue) > 1 else queue[0]) if queue else Reply(404, "{}")
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                data = reply.body.encode()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = deque(replies)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
