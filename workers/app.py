"""The Celery app: ``celery -A workers.app worker|beat|flower``.

The factory builds an app from :class:`~pims_sync.config.Settings`; importing it opens no
connection and loads no Playwright (the tasks module is only imported by worker processes, via
``include``), so the API and beat can build the same app just to send tasks by name.
"""

from __future__ import annotations

from celery import Celery, current_app
from celery.signals import after_setup_logger, after_setup_task_logger

import celeryconfig
from pims_sync.config import Settings, get_settings

TASK_MODULES = ["workers.tasks", "workers.webhook_tasks"]


def create_celery_app(settings: Settings | None = None, **overrides) -> Celery:
    settings = settings or get_settings()
    app = Celery("pims_sync", include=TASK_MODULES, set_as_current=True)
    app.conf.update(celeryconfig.from_settings(settings))
    app.conf.beat_schedule = {**app.conf.beat_schedule, **webhook_beat_entries()}
    if overrides:
        app.conf.update(overrides)
    app.pims_settings = settings

    from . import runtime

    runtime.configure(settings)
    return app


@after_setup_logger.connect
@after_setup_task_logger.connect
def _configure_logs(logger=None, **_: object) -> None:
    """Worker and beat logs: redacted always, JSON with LOG_FORMAT=json (pims_sync.logs)."""
    from pims_sync.logs import configure

    configure(getattr(current_app, "pims_settings", None) or get_settings(), root=logger)


def webhook_beat_entries() -> dict:
    """The webhook sweep (retries from their stored next_attempt_at; docs/WEBHOOKS.md)."""
    from pims_sync.webhooks import SWEEP_INTERVAL_S, SWEEP_TASK

    return {"webhook-sweep": {"task": SWEEP_TASK, "schedule": SWEEP_INTERVAL_S,
                              "options": {"queue": celeryconfig.DEFAULT_QUEUE, "expires": SWEEP_INTERVAL_S * 2}}}


app = create_celery_app()
