"""GET /metrics (Prometheus text format) and the per-request API metrics.

Protected by ``METRICS_TOKEN`` (:func:`pims_sync.metrics.access_refusal`): a scraper sends it as
``Authorization: Bearer <token>`` or as the basic-auth password. Without a token the endpoint is
open only when ``APP_ENV=development``; elsewhere it answers 401 naming the setting, so a
production deployment never publishes its numbers by accident.
"""

from __future__ import annotations

import time

from flask import Response, g, request

from pims_sync import metrics
from workers.enqueue import ALL_QUEUES

from ..errors import Unauthorized
from ..openapi import TEXT_PLAIN, ApiBlueprint, Operation, route
from ..responses import Error
from ..schemas import NoQuery
from ..services import services

bp = ApiBlueprint("metrics", __name__)


@route(bp, Operation(
    "get", "/metrics", "Prometheus metrics of the API, workers and queues on this host", "probes",
    {200: ("Prometheus text exposition format (text/plain, not JSON)", TEXT_PLAIN),
     401: ("METRICS_TOKEN missing or wrong (or unset outside development)", Error)}, authenticated=False,
    description="Bearer METRICS_TOKEN (or basic auth with it as the password); open without a token only "
    "when APP_ENV=development. See docs/METRICS.md.",
))
def metrics_view(*, query: NoQuery) -> Response:
    svc = services()
    refusal = metrics.access_refusal(svc.settings, request.headers.get("Authorization"))
    if refusal is not None:
        raise Unauthorized(refusal)
    state = metrics.RedisStateCollector(svc.redis, queues=ALL_QUEUES)
    freshness = metrics.FreshnessCollector(svc.store)
    return Response(metrics.render(extra_collectors=[state, freshness]), content_type=metrics.CONTENT_TYPE)


@bp.before_app_request
def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _count_request(response: Response) -> Response:
    """API requests by route template (never the raw path: ids would explode the series)."""
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    try:
        metrics.API_REQUESTS.labels(rule, request.method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            metrics.API_REQUEST_DURATION.labels(rule).observe(time.perf_counter() - started)
        if response.status_code in (401, 429) and rule != "/metrics" and request.headers.get("X-API-Key"):
            metrics.AUTH_REJECTIONS.labels("api_key" if response.status_code == 401 else "rate_limited").inc()
    except Exception:  # a metric must never fail a request
        pass
    return response
