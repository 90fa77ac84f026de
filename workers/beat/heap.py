"""The beat heap with lazy deletion, so a reload never rebuilds it.

Celery's tick compares every entry with a copy of the schedule each time round and rebuilds
the whole heap on any change; with thousands of entries that makes each tick and each
one-clinic reload cost milliseconds. Here a reload pushes the new entries and the replaced
ones are dropped when they reach the top (the schedule no longer holds them).

It shares Celery's ``Scheduler`` privates (``_heap``, ``_when``, ``_is_due_failed``), so
pyproject.toml pins Celery to the minor version tested, and tests/beat/test_celery_privates.py
checks those names and their behaviour on the installed Celery.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from celery.beat import event_t


class LazyHeapMixin:
    """Celery's Scheduler.tick semantics (one due entry per call, reserve then apply)."""

    if TYPE_CHECKING:  # celery.beat.Scheduler's, which ClinicScheduler also derives from
        _heap: list[Any] | None
        schedule: dict[str, Any]
        max_interval: float

        def _when(self, entry: Any, next_time_to_run: float) -> float: ...
        def _is_due_failed(self, entry: Any) -> tuple[bool, float]: ...
        def populate_heap(self) -> None: ...
        def is_due(self, entry: Any) -> tuple[bool, float]: ...
        def reserve(self, entry: Any) -> Any: ...
        def apply_entry(self, entry: Any, producer: Any = None) -> None: ...
        def adjust(self, n: float, drift: float = -0.01) -> float | None: ...

    def _push(self, entry: Any, priority: int = 5) -> None:
        if self._heap is None:  # not built yet: populate_heap() will take the entry from the schedule
            return
        try:
            is_due, next_s = entry.is_due()
        except Exception:  # noqa: BLE001 - one bad entry must not stop beat (as Celery does)
            is_due, next_s = self._is_due_failed(entry)
        heapq.heappush(self._heap, event_t(self._when(entry, 0 if is_due else next_s) or 0, priority, entry))

    def _tick_heap(self) -> float:
        """Celery's tick, with replaced entries dropped lazily when they reach the top."""
        if self._heap is None or len(self._heap) > 2 * len(self.schedule) + 64:
            self.populate_heap()
        H = self._heap
        while H and self.schedule.get(H[0][2].name) is not H[0][2]:
            heapq.heappop(H)
        if not H:
            return self.max_interval
        event = H[0]
        entry = event[2]
        now = self._when(entry, 0)
        if event[0] > now:
            return min(float(event[0]) - now, self.max_interval)
        try:
            is_due, next_s = self.is_due(entry)
        except Exception:  # noqa: BLE001
            is_due, next_s = self._is_due_failed(entry)
        heapq.heappop(H)
        if is_due:
            next_entry = self.reserve(entry)
            self.apply_entry(entry, producer=None)
            heapq.heappush(H, event_t(self._when(next_entry, next_s), event[1], next_entry))
            return 0
        heapq.heappush(H, event_t(self._when(entry, next_s or self.max_interval), event[1], entry))
        return 0 if H[0][2] is not entry else min(self.adjust(next_s) or 0, self.max_interval)
