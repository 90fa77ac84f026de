"""ClinicCronSchedule: a Celery schedule that evaluates cron on a clinic's own wall clock.

Celery's crontab runs in the app's single time zone, and BaseSchedule compares any two
schedules as equal, so a changed expression would go unseen; this class compares by
(cron, time zone, grace) and pickles the same way. The cron maths is pims_sync.schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from celery.schedules import BaseSchedule, schedstate

from pims_sync.schedules import next_fire, prev_fire

from .entries import DueState, due_state

# (cron, zone) -> (prev, next) around the latest instant evaluated: clinics share a few
# schedules, so one evaluation serves them all until the next slot passes
_SHARED: dict[tuple[str, str], tuple[datetime | None, datetime]] = {}
_SHARED_MAX = 20_000


def _valid(w, now: datetime) -> bool:
    return w is not None and (w[0] is None or w[0] <= now) and now < w[1]


def _aware(dt: datetime) -> datetime:
    # Celery hands naive datetimes around when enable_utc is set: they are UTC
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class ClinicCronSchedule(BaseSchedule):
    """Five-field cron in an IANA zone, with a grace window for missed slots.

    ``nowfun`` (a clock returning an aware datetime) is injectable for tests; it is not part
    of equality or pickling, as with Celery's own schedules.
    """

    def __init__(
        self,
        cron: str,
        timezone: str,
        grace_s: float = 3600,
        *,
        nowfun: Callable[[], datetime] | None = None,
        app=None,
    ):
        super().__init__(nowfun=nowfun, app=app)
        self.cron = cron
        self.timezone = timezone
        self.grace_s = grace_s
        # (prev, next) around the last evaluated instant: valid while prev <= now < next, so
        # repeated checks of one entry cost no cron maths
        self._window: tuple[datetime | None, datetime] | None = None

    def now(self) -> datetime:
        return _aware(self.nowfun()) if self.nowfun else datetime.now(UTC)

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime]:
        """(latest fire <= now or None, first fire > now), cached between slots."""
        w = self._window
        if _valid(w, now):
            return w
        key = (self.cron, self.timezone)
        w = _SHARED.get(key)
        if not _valid(w, now):
            try:
                prev = prev_fire(self.cron, self.timezone, now)
            except ValueError:  # CronError: no fire before now (e.g. only a date far ahead)
                prev = None
            w = (prev, next_fire(self.cron, self.timezone, now))
            if len(_SHARED) >= _SHARED_MAX:
                _SHARED.clear()
            _SHARED[key] = w
        self._window = w
        return w

    def state(self, last_run_at: datetime, now: datetime | None = None) -> DueState:
        now = _aware(now or self.now())
        prev, nxt = self.bounds(now)
        return due_state(
            prev_slot=prev, next_slot=nxt, last_run_at=_aware(last_run_at), now=now, grace_s=self.grace_s
        )

    def is_due(self, last_run_at: datetime) -> schedstate:
        s = self.state(last_run_at)
        return schedstate(is_due=s.is_due, next=s.next_s)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time from now to the first slot after the last run (negative when overdue)."""
        return next_fire(self.cron, self.timezone, _aware(last_run_at)) - self.now()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ClinicCronSchedule):
            return (self.cron, self.timezone, self.grace_s) == (other.cron, other.timezone, other.grace_s)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.cron, self.timezone, self.grace_s))

    def __reduce__(self):
        return self.__class__, (self.cron, self.timezone, self.grace_s)

    def __repr__(self) -> str:
        return f"<clinic cron: {self.cron} {self.timezone}>"
