"""GET /health (liveness: uptime, memory, version) and GET /ready (the database and Redis answer).

/health never touches a dependency, so a slow database cannot make an orchestrator kill
healthy API processes; /ready does, and names what is down in its 503.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from typing import Any

import redis
from flask import Blueprint

from pims_sync import __version__
from pims_sync.errors import PimsSyncError
from pims_sync.sync.results import utc_timestamp

from ..errors import error_body
from ..openapi import ERROR, Operation, route

bp = Blueprint("health", __name__)
READY_TIMEOUT_S = 3.0


def _services():
    from ..app import services

    return services()


def rss_bytes() -> int:
    """Current resident set size; falls back to the peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


@route(bp, Operation(
    "get", "/health", "Liveness: uptime, memory, version", "probes",
    {200: ("Alive", "Health")}, authenticated=False,
))
def health(*, query: dict[str, Any]):
    rss = rss_bytes()
    return {
        "status": "ok",
        "uptimeSeconds": round(time.monotonic() - _services().started_at, 3),
        "memory": {"rssBytes": rss, "rssMb": round(rss / 1024 / 1024, 1)},
        "version": __version__,
        "timestamp": utc_timestamp(),
    }


def _check(fn, *, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Run one dependency check in a daemon thread, so a hanging dependency cannot hang the probe."""
    box: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            fn()
            box["error"] = None
        except (PimsSyncError, redis.RedisError, OSError) as e:
            box["error"] = e

    started = time.monotonic()
    thread = threading.Thread(target=run, name="ready-check", daemon=True)
    thread.start()
    thread.join(timeout_s)
    latency = round((time.monotonic() - started) * 1000, 1)
    if "error" not in box:
        return {"ok": False, "error": f"no answer within {timeout_s:g} s", "latencyMs": latency}
    if box["error"] is not None:
        e = box["error"]
        return {"ok": False, "error": f"{e.__class__.__name__}: {e}"[:300], "latencyMs": latency}
    return {"ok": True, "latencyMs": latency}


@route(bp, Operation(
    "get", "/ready", "Readiness: the database and Redis answer", "probes",
    {200: ("Ready", "Ready"), 503: ("Not ready; names what is down", ERROR)}, authenticated=False,
))
def ready(*, query: dict[str, Any]):
    svc = _services()
    checks = {"database": _check(svc.store.ping), "redis": _check(svc.redis.ping)}
    if svc.settings.redis_url is None and svc.settings.app_env == "production":
        # the default 127.0.0.1:6379 is nobody's Redis in a container: the syncs this API enqueues
        # would go where no worker looks, so it is not ready until REDIS_URL names the shared one
        checks["redis"] = {"ok": False, "latencyMs": 0.0,
                           "error": "REDIS_URL is not set (production needs the Redis the workers use)"}
    down = [name for name, c in checks.items() if not c["ok"]]
    if not down:
        return {"ready": True, "checks": checks, "down": [], "timestamp": utc_timestamp()}
    body, status = error_body(503, "not_ready", f"not ready: {', '.join(down)} down",
                              {"checks": checks, "down": down})
    body.update(ready=False, checks=checks, down=down)
    return body, status
