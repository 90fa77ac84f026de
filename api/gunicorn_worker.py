"""gunicorn's gthread worker, answering gunicorn's own refusals in the API's JSON shape.

Some requests never reach Flask: gunicorn itself refuses a request line longer than
``limit_request_line`` (414), a header larger than ``limit_request_field_size`` (431), a
malformed request line or header (400). Its stock answer is an HTML page, which breaks every
client that parses our errors. This worker answers those in ``{success: false, error: {...},
timestamp}`` like the rest of the API, naming the limit, never echoing the request (a long URL
or header may carry a key).

`pims-sync api` passes ``--worker-class api.gunicorn_worker.JsonErrorWorker``.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from pims_sync.sync.results import utc_timestamp

_CODES = {
    400: ("bad_request", "the request line or a header is malformed"),
    403: ("forbidden", "the request was refused"),
    414: ("uri_too_long", "the request line is longer than the server accepts (8 KB); put options in the body"),
    417: ("expectation_failed", "the Expect header is not supported"),
    431: ("headers_too_large", "a request header is larger than the server accepts (8 KB), or there are too many"),
    500: ("internal_error", "an unexpected error occurred; it has been logged"),
    501: ("not_implemented", "that transfer coding is not supported"),
}


def json_error(status: int, reason: str) -> bytes:
    """A complete HTTP/1.1 response for one of gunicorn's own refusals."""
    code, message = _CODES.get(status, ("http_error", reason))
    body = json.dumps(
        {
            "success": False,
            "error": {"code": code, "message": message, "details": {}},
            "timestamp": utc_timestamp(),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, json_error(status_int, reason))


class JsonErrorWorker(ThreadWorker):
    """ThreadWorker whose error page is JSON (gunicorn calls ``util.write_error`` to write it)."""

    def init_process(self) -> None:
        # gunicorn's base worker looks the writer up as util.write_error on every error; this
        # process only ever serves the API, so pointing it at ours covers every refusal path
        util.write_error = write_json_error
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # one thread stays free for /health and /ready while the rest wait on a dead dependency
        from api.fail_fast import reserve_one_thread

        reserve_one_thread(self.wsgi, self.cfg.threads)
