"""GET /health (liveness: uptime, memory, version) and GET /ready (the database, its schema and Redis).

/health never touches a dependency, so a slow database cannot make an orchestrator kill
healthy API processes (and a thread is kept free for it: api/fail_fast.py); /ready does, and
names what is down in its 503 — including a database whose schema is older than this code
(a migration file not yet applied), which would otherwise pass every ping and fail every request.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask.typing import ResponseReturnValue

from pims_sync import __version__
from pims_sync.errors import PimsSyncError, StoreError
from pims_sync.store.migrate import LEDGER, applied_migrations, migration_files
from pims_sync.sync.results import utc_timestamp

from ..errors import error_body
from ..openapi import ApiBlueprint, Operation, route
from ..responses import Health, NotReady, Ready
from ..schemas import NoQuery
from ..services import services

bp = ApiBlueprint("health", __name__)
READY_TIMEOUT_S = 3.0
SHOWN_MISSING = 5  # migration names listed in the message (all are in the check's "missing")


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
    {200: ("Alive", Health)}, authenticated=False,
))
def health(*, query: NoQuery) -> ResponseReturnValue:
    rss = rss_bytes()
    return {
        "status": "ok",
        "uptimeSeconds": round(time.monotonic() - services().started_at, 3),
        "memory": {"rssBytes": rss, "rssMb": round(rss / 1024 / 1024, 1)},
        "version": __version__,
        "timestamp": utc_timestamp(),
    }


def _run_checks(checks: dict[str, Callable[[], Any]], *, timeout_s: float = READY_TIMEOUT_S) -> dict[str, dict[str, Any]]:
    """Run the checks side by side in daemon threads, so a hanging dependency cannot hang the probe.

    A check returns None or a dict of facts to show (e.g. the schema's missing migrations); it
    fails by raising. Every check gets the same deadline.
    """
    boxes: dict[str, dict[str, Any]] = {name: {} for name in checks}

    def run(fn: Callable[[], Any], box: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            facts = fn()
            box["facts"] = facts if isinstance(facts, dict) else {}  # ping() answers True
            box["error"] = None
        except (PimsSyncError, redis.RedisError, OSError) as e:
            box["facts"] = getattr(e, "facts", {})
            box["error"] = e
        box["latency"] = round((time.monotonic() - started) * 1000, 1)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(fn, boxes[name]), name=f"ready-{name}", daemon=True)
               for name, fn in checks.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + timeout_s - time.monotonic()))
    results: dict[str, dict[str, Any]] = {}
    for name, box in boxes.items():
        box = dict(box)  # a late thread may still write to its own box
        if "error" not in box:
            results[name] = {"ok": False, "error": f"no answer within {timeout_s:g} s",
                             "latencyMs": round((time.monotonic() - started) * 1000, 1)}
        elif box["error"] is not None:
            e = box["error"]
            results[name] = {"ok": False, "error": f"{e.__class__.__name__}: {e}"[:300],
                             "latencyMs": box["latency"], **box["facts"]}
        else:
            results[name] = {"ok": True, "latencyMs": box["latency"], **box["facts"]}
    return results


class SchemaBehind(StoreError):
    """The database lacks migrations this code expects; ``facts`` lists them."""

    def __init__(self, message: str, facts: dict[str, Any]):
        super().__init__(message)
        self.facts = facts


def schema_check(database_url: str) -> Callable[[], dict[str, Any]]:
    """A check: every file in supabase/migrations is recorded in pims_sync.schema_migrations."""

    def check() -> dict[str, Any]:
        expected = [p.name for p in migration_files()]
        applied = set(applied_migrations(database_url))
        missing = [name for name in expected if name not in applied]
        facts = {"expected": expected[-1] if expected else None, "missing": missing}
        if missing:
            shown = ", ".join(missing[:SHOWN_MISSING]) + (
                f" and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else "")
            raise SchemaBehind(
                f"{len(missing)} migration(s) this code expects are not in {LEDGER}: {shown}; "
                "run `pims-sync db migrate`", facts)
        return facts

    return check


@route(bp, Operation(
    "get", "/ready", "Readiness: the database answers with the schema this code expects, and Redis answers",
    "probes",
    {200: ("Ready", Ready), 503: ("Not ready; names what is down", NotReady)}, authenticated=False,
))
def ready(*, query: NoQuery) -> ResponseReturnValue:
    svc = services()
    wanted: dict[str, Callable[[], Any]] = {"database": svc.store.ping, "redis": svc.redis.ping}
    if svc.settings.database_url:  # the Supabase REST store cannot read our ledger
        wanted["schema"] = schema_check(svc.settings.database_url)
    checks = _run_checks(wanted)
    if "schema" in checks and not checks["database"]["ok"]:
        del checks["schema"]  # not checked: the database itself is down, and says so
    if svc.settings.redis_url is None and svc.settings.app_env == "production":
        # the default 127.0.0.1:6379 is nobody's Redis in a container: the syncs this API enqueues
        # would go where no worker looks, so it is not ready until REDIS_URL names the shared one
        checks["redis"] = {"ok": False, "latencyMs": 0.0,
                           "error": "REDIS_URL is not set (production needs the Redis the workers use)"}
    down = [name for name, c in checks.items() if not c["ok"]]
    if not down:
        return {"ready": True, "checks": checks, "down": [], "timestamp": utc_timestamp()}
    reasons = [f"{name} down" for name in down if name != "schema"]
    if "schema" in down:
        reasons.append(f"schema: {checks['schema']['error'].partition(': ')[2]}")
    body, status = error_body(503, "not_ready", f"not ready: {'; '.join(reasons)}",
                              {"checks": checks, "down": down})
    body.update(ready=False, checks=checks, down=down)
    return body, status
