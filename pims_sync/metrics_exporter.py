"""A worker's own /metrics on ``METRICS_PORT``, for hosts that run workers but no API.

The same samples directory, the same Redis gauges and the same token as the API's /metrics; a
daemon thread in the worker's main process (pool children only write samples).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import metrics

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    import redis

    from .config import Settings

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (wsgiref's name)
        pass


def exporter_app(settings: Settings, redis_client: redis.Redis, *, queues: tuple[str, ...]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        refusal = metrics.access_refusal(settings, environ.get("HTTP_AUTHORIZATION"))
        if refusal is not None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                 ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [refusal.encode() + b"\n"]
        body = metrics.render(extra_collectors=[metrics.RedisStateCollector(redis_client, queues=queues)])
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
        return [body]

    return app


def start_exporter(settings: Settings, *, port: int, queues: tuple[str, ...], host: str = "0.0.0.0") -> WSGIServer:
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=3, socket_connect_timeout=2)
    server = make_server(host, port, exporter_app(settings, client, queues=queues), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    log.info("metrics exporter on port %d", port)
    return server
