"""The Celery privates workers/beat/heap.py relies on, checked on the installed Celery.

LazyHeapMixin reuses Scheduler's heap (``_heap``), its time key (``_when``) and its
bad-entry fallback (``_is_due_failed``). They are not Celery's public API, so pyproject.toml
pins Celery to the minor versions tested here; a Celery upgrade that changes them fails
this test before it breaks beat.
"""

from __future__ import annotations

import inspect
import time
import tomllib
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from celery import Celery
from celery.beat import ScheduleEntry, Scheduler, event_t
from packaging.requirements import Requirement
from packaging.version import Version

from workers.beat.heap import LazyHeapMixin

ROOT = Path(__file__).resolve().parents[2]


def _celery_requirement() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(r for r in map(Requirement, deps) if r.name == "celery")


def test_the_installed_celery_is_inside_the_pinned_range():
    spec = _celery_requirement().specifier
    installed = Version(version("celery"))
    assert installed in spec, f"celery {installed} is outside pyproject's {spec}: re-check workers/beat/heap.py"
    assert any(s.operator == "<" for s in spec), "celery needs an upper bound: heap.py uses its privates"


def test_the_private_signatures_heap_uses_are_unchanged():
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(Scheduler._when)[:3] == ["self", "entry", "next_time_to_run"]
    assert params(Scheduler._is_due_failed) == ["self", "entry"]
    assert params(Scheduler.populate_heap)[0] == "self"
    assert event_t._fields == ("time", "priority", "entry")
    assert {"_push", "_tick_heap"} <= set(vars(LazyHeapMixin))


def test_the_privates_behave_as_heap_expects():
    app = Celery("privates", broker="memory://", set_as_current=False)
    scheduler = Scheduler(app, lazy=True, max_interval=7)
    assert scheduler._heap is None, "Scheduler.__init__ no longer starts with an empty heap"
    entry = ScheduleEntry("every-hour", "t", last_run_at=datetime.now(UTC), schedule=timedelta(hours=1), app=app)
    scheduler.schedule["every-hour"] = entry

    when = scheduler._when(entry, 60)
    assert isinstance(when, float) and abs(when - (time.time() + 60)) < 5, "_when is no longer a UTC timestamp"
    assert scheduler._is_due_failed(entry) == (False, 7)

    scheduler.populate_heap()
    assert isinstance(scheduler._heap, list) and len(scheduler._heap) == 1
    top = scheduler._heap[0]
    assert isinstance(top, event_t) and top.entry is entry and top.priority == 5
