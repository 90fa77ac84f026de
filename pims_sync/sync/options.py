"""Sync options: one validated object shared by the API, the CLI, beat and the tasks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import ValidationError
from ..models import DateWindow

MAX_RANGE_DAYS = 90
PHASES = ("inbound", "cases", "reconcile")
# what each sync type runs; "reconciliation" is the schedule/audit spelling of "reconcile"
PHASES_FOR = {
    "full": ("inbound", "cases", "reconcile"),
    "inbound": ("inbound",),
    "cases": ("cases",),
    "reconcile": ("reconcile",),
    "reconciliation": ("reconcile",),
}
AUDIT_TYPE_FOR_PHASE = {"inbound": "inbound", "cases": "cases", "reconcile": "reconciliation"}

_CAMEL = {
    "daysAhead": "days_ahead",
    "lookbackDays": "lookback_days",
    "startDate": "start_date",
    "endDate": "end_date",
    "parallelBatchSize": "parallel_batch_size",
    "force": "force",
    "maxDeleteRatio": "max_delete_ratio",
}


def _parse_date(name: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a date string YYYY-MM-DD", details={"field": name})
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str):
    raise ValidationError(f"{name} must be an ISO date YYYY-MM-DD", details={"field": name})


@dataclass(frozen=True)
class SyncOptions:
    days_ahead: int = 7
    lookback_days: int = 7
    start_date: date | None = None
    end_date: date | None = None
    parallel_batch_size: int = 5
    force: bool = False
    max_delete_ratio: float = 0.2
    # set for full syncs: inbound then also covers the lookback days, so the cases that
    # enrichment and reconciliation look at exist even on a clinic's first sync
    inbound_covers_lookback: bool = False

    def __post_init__(self) -> None:
        _int_range("daysAhead", self.days_ahead, 0, MAX_RANGE_DAYS)
        _int_range("lookbackDays", self.lookback_days, 1, MAX_RANGE_DAYS)
        _int_range("parallelBatchSize", self.parallel_batch_size, 1, 20)
        if not isinstance(self.force, bool) or not isinstance(self.inbound_covers_lookback, bool):
            raise ValidationError("force must be true or false", details={"field": "force"})
        if not isinstance(self.max_delete_ratio, int | float) or not 0 <= self.max_delete_ratio <= 1:
            raise ValidationError("maxDeleteRatio must be between 0 and 1", details={"field": "maxDeleteRatio"})
        if self.end_date and not self.start_date:
            # alone it would be ignored (inbound, reconcile) or make a reversed window (cases)
            raise ValidationError(
                "endDate needs startDate: give both, or neither (then daysAhead/lookbackDays set the window)",
                details={"field": "endDate"},
            )
        if self.start_date and self.end_date:
            if self.end_date < self.start_date:
                raise ValidationError("endDate must not be before startDate", details={"field": "endDate"})
            if (self.end_date - self.start_date).days + 1 > MAX_RANGE_DAYS:
                raise ValidationError(
                    f"the date range may span at most {MAX_RANGE_DAYS} days", details={"field": "endDate"}
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SyncOptions:
        """From the API's camelCase body or the task's snake_case kwargs."""
        kwargs: dict[str, Any] = {}
        for key, value in (data or {}).items():
            name = _CAMEL.get(key, key)
            if name not in cls.__dataclass_fields__:
                raise ValidationError(f"unknown option {key!r}", details={"field": key})
            kwargs[name] = value
        for name in ("start_date", "end_date"):
            if name in kwargs:
                kwargs[name] = _parse_date(_camel(name), kwargs[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe snake_case dict (task kwargs)."""
        data = asdict(self)
        for name in ("start_date", "end_date"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data

    # --- windows, in the clinic's time zone ---------------------------------------------------

    def inbound_window(self, tz: str, *, now: datetime) -> DateWindow:
        if self.start_date:
            return day_window(tz, self.start_date, self.end_date or self.start_date + timedelta(days=self.days_ahead))
        today = now.astimezone(ZoneInfo(tz)).date()
        first = today - timedelta(days=self.lookback_days) if self.inbound_covers_lookback else today
        return day_window(tz, first, today + timedelta(days=self.days_ahead))

    def cases_window(self, tz: str, *, now: datetime) -> DateWindow:
        """Enrichment looks back as far as reconciliation and up to today, unless dates are given."""
        today = now.astimezone(ZoneInfo(tz)).date()
        start = self.start_date or today - timedelta(days=self.lookback_days)
        end = self.end_date or (start if self.start_date else today)
        if self.start_date and not self.end_date:
            end = max(start, today)
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                end = start + timedelta(days=MAX_RANGE_DAYS - 1)
        return day_window(tz, start, end)

    def reconcile_window(self, tz: str, *, now: datetime) -> DateWindow:
        today = now.astimezone(ZoneInfo(tz)).date()
        if self.start_date:
            return day_window(tz, self.start_date, self.end_date or today)
        return day_window(tz, today - timedelta(days=self.lookback_days), today)


def for_sync_type(options: SyncOptions, sync_type: str) -> SyncOptions:
    """A full sync's inbound also covers the lookback days (see inbound_covers_lookback)."""
    if sync_type == "full" and not options.inbound_covers_lookback:
        return replace(options, inbound_covers_lookback=True)
    return options


def _camel(name: str) -> str:
    return next(k for k, v in _CAMEL.items() if v == name)


def _int_range(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(f"{name} must be an integer from {lo} to {hi}", details={"field": name})


def day_window(tz: str, start: date, end: date) -> DateWindow:
    """Clinic-local days [start, end] as UTC bounds [midnight start, midnight after end)."""
    zone = ZoneInfo(tz)
    start_utc = datetime.combine(start, datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    end_utc = datetime.combine(end + timedelta(days=1), datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    return DateWindow(start=start, end=end, start_utc=start_utc, end_utc=end_utc)
