"""Celery settings, derived from :class:`pims_sync.config.Settings` (never from os.environ here).

The reliability settings are one design; change them together (docs/OPERATIONS.md):

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only once it has
  finished, so a worker killed mid-sync (OOM, SIGKILL, a lost machine) does not lose it — the
  message goes back to the queue and another worker runs it. Writes are idempotent, so running
  a phase twice creates no duplicates; the redelivery cap stops a poison task (workers/deliveries).
* ``worker_prefetch_multiplier = 1``: a busy worker holds no extra syncs hostage.
* ``visibility_timeout`` (Redis transport): an unacknowledged message is handed out again after
  this long, whether or not its worker is alive, so it must exceed the hard time limit; the
  restore sweep interval is set so an abandoned message comes back soon after the timeout.
* Time limits: Playwright's timeout (browser_timeout_ms) < soft limit < hard limit, so a stuck
  login fails cleanly first, a stuck phase gets SoftTimeLimitExceeded and records its failure,
  and only a truly wedged process is killed.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from pims_sync.config import Settings

SYNC_QUEUE = "sync"
DEFAULT_QUEUE = "default"
HOUSEKEEPING_TASK = "pims_sync.housekeeping.fail_stale_audits"


def from_settings(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for these settings (``app.conf.update(...)``)."""
    visibility = settings.visibility_timeout_s
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # sweep for abandoned messages often enough that they return soon after the timeout
            "unacked_restore_interval": max(1, min(10, visibility // 10)),
            "unacked_restore_throttle": 1,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        # queues: browser work on `sync`, everything light on `default`
        "task_queues": (Queue(SYNC_QUEUE), Queue(DEFAULT_QUEUE)),
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {
            "pims_sync.housekeeping.*": {"queue": DEFAULT_QUEUE},
            "pims_sync.*": {"queue": SYNC_QUEUE},
        },
        # reliability
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.soft_time_limit_s,
        "task_time_limit": settings.hard_time_limit_s,
        "worker_pool": "prefork",  # Playwright's sync API is not thread-safe
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # results and visibility
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 86_400,
        "result_extended": False,  # never copy task args/kwargs into the result backend
        "task_track_started": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
        # the static periodic task; per-clinic schedules come from workers.beat:ClinicScheduler
        "beat_schedule": {
            "fail-stale-audits": {
                "task": HOUSEKEEPING_TASK,
                "schedule": max(60.0, min(600.0, settings.hard_time_limit_s / 2)),
                "options": {"queue": DEFAULT_QUEUE, "expires": 300},
            },
        },
    }
