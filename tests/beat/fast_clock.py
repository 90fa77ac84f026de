"""ClinicScheduler on a faster clock, for the beat process test (``-S tests.beat.fast_clock:FastClockScheduler``).

Cron is minute-granular: on the wall clock, a test over two slots waits up to two minutes.
This scheduler is the production one with its injectable clock (``nowfun``, as the in-process
tests use) set to ``epoch + (now - epoch) * rate`` from BEAT_TEST_EPOCH and BEAT_TEST_RATE.
Every process of a test gets the same two values, so both beats agree on every slot; locks,
TTLs and the worker keep real time. The app's clock (Celery's own schedules: housekeeping) is
the same fast clock in the beat process.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from workers.beat import ClinicScheduler


class FastClock:
    def __init__(self, epoch: float, rate: float):
        self.epoch, self.rate = epoch, rate

    @classmethod
    def from_env(cls) -> FastClock:
        return cls(float(os.environ["BEAT_TEST_EPOCH"]), float(os.environ["BEAT_TEST_RATE"]))

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.epoch + (time.time() - self.epoch) * self.rate, UTC)


class FastClockScheduler(ClinicScheduler):
    def __init__(self, app, *args, **kwargs):
        clock = kwargs.setdefault("nowfun", FastClock.from_env())
        # the static entries (housekeeping) keep Celery's schedules, which read app.now: on the
        # same clock, or the heap would order fake and real instants together and starve one side
        app.now = clock
        super().__init__(app, *args, **kwargs)
