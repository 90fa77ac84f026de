"""Prometheus metrics (``pims_sync_*``), shared by every process on a host through files.

Design (docs/METRICS.md): prometheus_client's multiprocess mode. Every pims-sync process — each
gunicorn worker, the Celery worker and its prefork children, beat — writes its samples into
``PROMETHEUS_MULTIPROC_DIR``; whoever serves ``/metrics`` (the API, or a worker's exporter on
``METRICS_PORT``) adds up the directory at scrape time. When the variable is unset, one
directory per user on this host is used (``$TMPDIR/pims-sync-metrics-<uid>``), so the API and a
worker on the same host meet there with no extra environment. Gauges that describe shared state
(queue depth, in-flight syncs) are read from Redis at scrape time, not stored.

Labels stay low-cardinality: provider, phase, sync type, outcome, route template, endpoint
name. Never a clinic id or name, never a URL with an id in it, never a value from a record.
"""

from __future__ import annotations

import base64
import hmac
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .providers.registry import canonical_name

if TYPE_CHECKING:
    import redis

    from .config import Settings

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"


# Sample files are named by process; a pid alone is not unique when several hosts or containers
# (each its own pid namespace: docker compose's api, worker and beat) share one directory, and two
# processes writing one file lose counts. The host name makes it unique ("_" is the file name's
# separator in prometheus_client, so it is kept out).
_HOST = socket.gethostname().replace("_", "-") or "host"


def process_identifier(pid: int | None = None) -> str:
    """This process's (or ``pid``'s, on this host) name in the samples directory."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


def multiprocess_dir() -> str:
    """The samples directory, created (and put in the environment) when none is set.

    prometheus_client picks file-backed values when the variable is set at its import; another
    library (Flower) may have imported it first, so the value class is chosen here, before any of
    our metrics exists: file-backed, one file per host and pid.
    """
    path = os.environ.get(ENV_DIR) or os.path.join(tempfile.gettempdir(), f"pims-sync-metrics-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    os.environ[ENV_DIR] = path
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)  # type: ignore[no-untyped-call]
    return path


MULTIPROC_DIR = multiprocess_dir()

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest  # noqa: E402
from prometheus_client import multiprocess as _mp  # noqa: E402

# seconds: a phase or a sync takes from under a second (nothing to do) to the sync timeout
_SYNC_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

SYNC_DURATION = Histogram("pims_sync_sync_duration_seconds", "Duration of a whole sync, queue to end.",
                          ["provider", "type", "outcome"], buckets=_SYNC_BUCKETS)
SYNCS = Counter("pims_sync_syncs_total", "Syncs that ended, by outcome.", ["provider", "type", "outcome"])
PHASE_DURATION = Histogram("pims_sync_phase_duration_seconds", "Duration of one sync phase.",
                           ["provider", "phase", "outcome"], buckets=_SYNC_BUCKETS)
CASES = Counter("pims_sync_cases_total", "Cases written by syncs, by action.", ["provider", "action"])
PIMS_REQUEST_DURATION = Histogram("pims_sync_pims_request_duration_seconds",
                                  "Latency of requests to the PIMS, by endpoint and HTTP status.",
                                  ["provider", "endpoint", "status"], buckets=_REQUEST_BUCKETS)
LOGINS = Counter("pims_sync_logins_total", "PIMS logins, first and repeated, by outcome.",
                 ["provider", "kind", "outcome"])
API_REQUESTS = Counter("pims_sync_api_requests_total", "API requests by route template and status.",
                       ["route", "method", "status"])
API_REQUEST_DURATION = Histogram("pims_sync_api_request_duration_seconds", "API request latency by route.",
                                 ["route"], buckets=_REQUEST_BUCKETS)
AUTH_REJECTIONS = Counter("pims_sync_auth_rejections_total", "API requests refused for their key.", ["reason"])
WEBHOOK_DELIVERIES = Counter("pims_sync_webhook_deliveries_total", "Webhook delivery attempts by outcome.",
                             ["event", "outcome"])
WEBHOOK_DISABLED = Counter("pims_sync_webhook_endpoints_disabled_total",
                           "Webhook endpoints disabled after repeated failed deliveries.")
WORKER_MEMORY = Gauge("pims_sync_worker_memory_bytes", "Resident memory of each worker process (by pid).",
                      ["role"], multiprocess_mode="liveall")
BEAT_DISPATCHES = Counter("pims_sync_beat_dispatches_total",
                          "Scheduled slots beat handled: enqueued, duplicate, skipped (clinic busy), failed.",
                          ["outcome"])
BEAT_MISSED_SLOTS = Counter("pims_sync_beat_missed_slots_total",
                            "Scheduled slots beat skipped: missed by more than SCHEDULE_GRACE_SECONDS.")
BROWSER_LAUNCHES = Counter("pims_sync_browser_launches_total", "Chromium launches by worker processes.")
RATE_LIMIT_WAIT = Histogram("pims_sync_rate_limit_wait_seconds", "Time spent waiting on a PIMS rate limit.",
                            ["provider"], buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60))

# what a sync's stats call the case counts, and the action label each becomes
CASE_STATS = {"casesCreated": "created", "casesUpdated": "updated", "casesDeleted": "deleted",
              "casesRestored": "restored", "casesEnriched": "enriched"}


def provider_label(name: str | None) -> str:
    """The provider label of every series: the registry's name, so a clinic row that still says
    ``idexx`` (the seed's default, an accepted alias) counts as ``idexx-neo`` like the requests."""
    return canonical_name(name) if name else "unknown"


def observe_phase(*, provider: str | None, phase: str, outcome: str, duration_ms: int | None,
                  stats: Mapping[str, Any]) -> None:
    """One phase ended: its duration, outcome and the cases it wrote."""
    label = provider_label(provider)
    PHASE_DURATION.labels(label, phase, outcome).observe((duration_ms or 0) / 1000)
    for key, action in CASE_STATS.items():
        count = stats.get(key)
        if isinstance(count, int) and count > 0:
            CASES.labels(label, action).inc(count)


def observe_sync(*, provider: str | None, sync_type: str, outcome: str, duration_ms: int | None) -> None:
    """A whole sync ended."""
    label = provider_label(provider)
    SYNC_DURATION.labels(label, sync_type, outcome).observe((duration_ms or 0) / 1000)
    SYNCS.labels(label, sync_type, outcome).inc()


# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in lists named queue + SEP + step
PRIORITY_SEP, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


class RedisStateCollector(Collector):
    """Gauges read from Redis at scrape time: queue depth per queue and syncs in flight.

    Celery's Redis transport keeps a queue as a list named after it (priority steps add
    suffixed lists, counted too); the enqueue-time claims (workers.enqueue.InFlight) are one key per clinic.
    """

    def __init__(self, client: redis.Redis, *, queues: Iterable[str], inflight_prefix: str = "pims:inflight:"):
        self.client, self.queues, self.inflight_prefix = client, tuple(queues), inflight_prefix

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("pims_sync_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
        inflight = GaugeMetricFamily("pims_sync_syncs_in_flight", "Syncs queued or running (one per clinic).")
        try:
            for queue in self.queues:
                names = [queue, *(f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS)]
                pipe = self.client.pipeline(transaction=False)
                for name in names:
                    pipe.llen(name)
                depth.add_metric([queue], sum(int(n or 0) for n in pipe.execute()))
            inflight.add_metric([], sum(1 for _ in self.client.scan_iter(match=f"{self.inflight_prefix}*",
                                                                          count=500)))
        except Exception:  # Redis down: leave the gauges out; /ready says why
            return
        yield depth
        yield inflight


class FreshnessCollector(Collector):
    """``pims_sync_active_clinics_without_success{older_than}``, from the store at scrape time.

    Counts, not clinic ids: the alert says some clinic is stale, ``pims-sync status`` says which.
    Left out when the store cannot answer (the Supabase REST store, a database outage).
    """

    def __init__(self, store: object):
        self.store = store

    def collect(self) -> Iterator[Metric]:
        summarise = getattr(self.store, "clinics_by_success_age", None)
        if summarise is None:
            return
        try:
            counts = summarise()
        except Exception:
            return
        family = GaugeMetricFamily("pims_sync_active_clinics_without_success",
                                   "Active clinics whose last completed sync is older than older_than (or never).",
                                   labels=["older_than"])
        for older_than, count in counts.items():
            family.add_metric([older_than], count)
        yield family


def render(*, extra_collectors: Iterable[Collector] = (), path: str | None = None) -> bytes:
    """The text exposition of every process's samples in ``path`` plus the live collectors."""
    registry = CollectorRegistry()
    _mp.MultiProcessCollector(registry, path=path or os.environ.get(ENV_DIR) or MULTIPROC_DIR)  # type: ignore[no-untyped-call]
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry)


def process_exited(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn's child_exit, a pool child's shutdown)."""
    _mp.mark_process_dead(process_identifier(pid), os.environ.get(ENV_DIR) or MULTIPROC_DIR)  # type: ignore[no-untyped-call]


def record_worker_memory() -> None:
    try:
        import psutil

        WORKER_MEMORY.labels("worker").set(psutil.Process().memory_info().rss)
    except Exception:  # a metric must never fail a task
        pass


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def access_refusal(settings: Settings, authorization: str | None) -> str | None:
    """Why a scrape is refused (a message naming the setting), or None when it may read.

    ``METRICS_TOKEN`` is accepted as ``Bearer <token>`` or as the basic-auth password; without a
    token only ``APP_ENV=development`` is open.
    """
    token = settings.metrics_token
    if token is None:
        if settings.app_env == "development":
            return None
        return "metrics are closed: set METRICS_TOKEN and scrape with it as a bearer token"
    given = presented_token(authorization)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        AUTH_REJECTIONS.labels("metrics_token").inc()
        return "send METRICS_TOKEN as 'Authorization: Bearer <token>' (or as the basic-auth password)"
    return None


def presented_token(header: str | None) -> str | None:
    """The token in ``Bearer <t>`` or ``Basic base64(user:t)``; None when neither."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None
