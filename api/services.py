"""What the handlers use, built once per app by ``create_app``: :class:`Services` and :func:`services`.

The routes import this module, never ``api.app``: the app imports the routes, so the graph
has no circle.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app

from pims_sync.config import Settings
from pims_sync.store.base import Store
from workers.enqueue import InFlight

from .auth import Authenticator
from .fail_fast import BusyLimit, celery_publish_options
from .openapi import Operation

CELERY_FACTORY = "workers.app:create_celery_app"
EXTENSION = "pims_sync"  # current_app.extensions[EXTENSION]


@dataclass
class Services:
    """The settings, store, Redis and helpers of one app (``current_app.extensions["pims_sync"]``)."""

    settings: Settings
    store: Store
    redis: redis.Redis
    inflight: InFlight
    authenticator: Authenticator
    operations: list[Operation]
    started_at: float = field(default_factory=time.monotonic)
    busy: BusyLimit = field(default_factory=BusyLimit)
    _celery_app: Any = None

    @property
    def celery_app(self) -> Any:
        """The Celery app (typed Any: celery ships no types), imported by name on first use."""
        if self._celery_app is None:  # by name, on first use: never the tasks, never Playwright
            module, _, name = CELERY_FACTORY.partition(":")
            app = getattr(importlib.import_module(module), name)(self.settings)
            app.conf.update(celery_publish_options(app.conf))  # a hung broker: 503 in seconds
            self._celery_app = app
        return self._celery_app

    def close(self) -> None:
        """Stop background work (the last_used_at writer); the store and Redis belong to the caller."""
        self.authenticator.recorder.stop()

    @property
    def sync_timeout_s(self) -> float:
        return self.settings.sync_timeout_ms / 1000


def services() -> Services:
    """This app's services (inside a request or an app context)."""
    svc = current_app.extensions[EXTENSION]
    assert isinstance(svc, Services)
    return svc
