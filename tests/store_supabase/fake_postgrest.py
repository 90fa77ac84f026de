"""A recording stand-in for a Supabase project's REST endpoint, on 127.0.0.1.

It answers the way PostgREST documents: JSON arrays for table reads (with ``Content-Range``),
201 for inserts, 204 for ``return=minimal`` and void functions, the function's JSON for rpc,
errors as ``{code, message, details, hint}``. Tests queue the answers they need per
(method, path) and read back every request exactly as the client sent it.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: Any

    @property
    def prefer(self) -> set[str]:
        """The Prefer header's preferences, as a set (their order carries no meaning)."""
        value = self.headers.get("prefer")
        return {p.strip() for p in value.split(",")} if value else set()

    @property
    def params(self) -> list[tuple[str, str]]:
        """The decoded query pairs, sorted (PostgREST ignores their order)."""
        return sorted(self.query)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, bytes for a raw body, None for no body
    headers: dict[str, str] = field(default_factory=dict)


class FakePostgREST:
    def __init__(self, rpc=None) -> None:
        """``rpc(fn, body) -> Reply``, if given, answers every /rpc/ call nothing was queued for."""
        self._rpc = rpc
        self.requests: list[Recorded] = []
        self._replies: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-postgrest",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakePostgREST:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reply(self, method: str, path: str, body: Any = None, *, status: int = 200, headers=None) -> None:
        """Queue one answer for the next ``method`` request on ``/rest/v1/<path>``."""
        with self._lock:
            self._replies[(method, f"/rest/v1/{path}")].append(Reply(status, body, dict(headers or {})))

    def error(self, method: str, path: str, status: int, code, message, *, details=None, hint=None) -> None:
        """Queue a PostgREST error body."""
        body = {"code": code, "details": details, "hint": hint, "message": message}
        self.reply(method, path, body, status=status)

    def take(self) -> list[Recorded]:
        """The requests recorded since the last take()."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    # --- the server --------------------------------------------------------------------------

    def _answer(self, method: str, path: str, prefer: str, body: Any) -> Reply:
        with self._lock:
            queue = self._replies.get((method, path))
            if queue:
                return queue.popleft()
        if self._rpc is not None and path.startswith("/rest/v1/rpc/"):
            return self._rpc(path.removeprefix("/rest/v1/rpc/"), body or {})
        # nothing queued: what PostgREST answers for "no rows" / "minimal"
        if "return=minimal" in prefer:
            return Reply(204 if method == "PATCH" else 201)
        if method == "GET":
            return Reply(200, [])
        return Reply(201 if method == "POST" and "/rpc/" not in path else 200, [])

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
                with fake._lock:
                    fake.requests.append(record)
                reply = fake._answer(self.command, parts.path, record.headers.get("prefer", ""), record.body)
                headers = dict(reply.headers)
                if isinstance(reply.body, bytes):
                    payload = reply.body
                elif reply.body is None or reply.status == 204:
                    payload = b""
                else:
                    payload = json.dumps(reply.body).encode()
                    headers.setdefault("Content-Type", "application/json; charset=utf-8")
                if self.command == "GET" and isinstance(reply.body, list) and reply.status == 200:
                    n = len(reply.body)
                    headers.setdefault("Content-Range", f"0-{n - 1}/*" if n else "*/*")
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        return Handler


_ANY = object()
PAGE = [("offset", "0"), ("limit", "1000")]  # the first page of a paged list read


def expect(request: Recorded, method: str, path: str, params=(), *, prefer=(), body=_ANY) -> None:
    """Assert one request exactly: method, /rest/v1 path, query pairs, Prefer and (if given) body."""
    assert (request.method, request.path) == (method, f"/rest/v1/{path}"), request
    assert request.params == sorted(params), request.query
    assert request.prefer == set(prefer), request.headers.get("prefer")
    if body is not _ANY:
        assert request.body == body
    if method in ("POST", "PATCH"):
        assert request.headers["content-type"] == "application/json"
        assert request.headers["content-profile"] == "public"
    else:
        assert request.headers["accept-profile"] == "public"
