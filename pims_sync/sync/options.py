"""Sync options: one pydantic model shared by the API, the CLI, beat and the tasks.

Every allowed range is a field constraint here (``Field(ge=..., le=...)``) and nowhere else:
the API's request models are built from these fields, the CLI checks its options against
them, ``/openapi.json`` publishes their JSON Schema, and the tasks validate their kwargs with
:meth:`SyncOptions.from_dict`. Changing a range is one edit (tests/api/test_one_edit.py).

:class:`SyncType` is the one place that says which phases a sync type runs and what its
audit rows are called (``reconcile`` is audited and scheduled as ``reconciliation``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ..models import DateWindow
from ..validation import validation_error

MAX_RANGE_DAYS = 90  # longest startDate..endDate span, and the farthest daysAhead/lookbackDays reach
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # outside: typos, and date overflow in the workers


class SyncType(StrEnum):
    """What a sync runs. ``reconcile`` is ``reconciliation`` in audit rows and schedules."""

    FULL = "full"
    INBOUND = "inbound"
    CASES = "cases"
    RECONCILE = "reconcile"

    @property
    def phases(self) -> tuple[SyncType, ...]:
        """The phases, in order (each phase is itself a one-phase sync type)."""
        if self is SyncType.FULL:
            return (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILE)
        return (self,)

    @property
    def audit_name(self) -> str:
        """``case_sync_audits.sync_type`` (and the schedule JSON's ``type``)."""
        return "reconciliation" if self is SyncType.RECONCILE else self.value

    @classmethod
    def parse(cls, name: str) -> SyncType:
        """A sync type from either spelling (``reconcile`` or ``reconciliation``); ValueError otherwise."""
        for member in cls:
            if name in (member.value, member.audit_name):
                return member
        raise ValueError(f"unknown sync type {name!r}; use one of: {', '.join(SYNC_TYPE_NAMES)}")


# every spelling a caller may use for a sync type (CLI choices, history filters)
SYNC_TYPE_NAMES = tuple(dict.fromkeys(n for t in SyncType for n in (t.value, t.audit_name)))
PHASES: tuple[str, ...] = tuple(SyncType.FULL.phases)
PHASES_FOR: dict[str, tuple[str, ...]] = {name: tuple(SyncType.parse(name).phases) for name in SYNC_TYPE_NAMES}
AUDIT_TYPE_FOR_PHASE: dict[str, str] = {p.value: p.audit_name for p in SyncType.FULL.phases}
PHASE_OF_AUDIT_TYPE: dict[str, str] = {p.audit_name: p.value for p in SyncType.FULL.phases}

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day_only(value: Any) -> Any:
    """Only a ``date`` or a ``YYYY-MM-DD`` string is a day (pydantic would also take timestamps)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise PydanticCustomError("iso_day", "not an ISO date YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_iso_day_only)]


def _publish_date_bounds(schema: dict[str, Any]) -> None:
    """JSON Schema has no date range keyword: a date field's ge/le become formatMinimum/formatMaximum.

    pydantic writes the field's own bounds as bare ``ge``/``le`` (not JSON Schema); renaming them
    keeps the published document following an edit of them.
    """
    for prop in schema.get("properties", {}).values():
        for sub in [prop, *prop.get("anyOf", ())]:
            if sub.get("format") == "date":
                for bare, keyword in (("ge", "formatMinimum"), ("le", "formatMaximum")):
                    if bare in sub:
                        sub[keyword] = sub.pop(bare)


# shared by SyncOptions and the API's request models built from its fields (api/schemas.py)
MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    alias_generator=to_camel,
    populate_by_name=True,
    json_schema_extra=_publish_date_bounds,
)


def check_date_range(start: date | None, end: date | None) -> None:
    """The cross-field rules on a date range (raised as a pydantic error naming ``endDate``)."""
    if end and not start:
        # alone it would be ignored (inbound, reconcile) or make a reversed window (cases)
        raise PydanticCustomError(
            "date_range",
            "endDate needs startDate: give both, or neither (then daysAhead/lookbackDays set the window)",
            {"field": "endDate"},
        )
    if start and end:
        if end < start:
            raise PydanticCustomError("date_range", "endDate must not be before startDate", {"field": "endDate"})
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise PydanticCustomError(
                "date_range", "the date range may span at most {days} days", {"field": "endDate", "days": MAX_RANGE_DAYS}
            )


class SyncOptions(BaseModel):
    """What a sync may be asked to do; camelCase on the wire, snake_case in Python and task kwargs."""

    model_config = MODEL_CONFIG

    days_ahead: StrictInt = Field(7, ge=0, le=MAX_RANGE_DAYS, description="Days after startDate (default today) to sync.")
    lookback_days: StrictInt = Field(
        7, ge=1, le=MAX_RANGE_DAYS, description="Days back from today to enrich or reconcile."
    )
    start_date: Day | None = Field(None, ge=FIRST_DAY, le=LAST_DAY, description="First clinic-local day of the range.")
    end_date: Day | None = Field(
        None, ge=FIRST_DAY, le=LAST_DAY, description="Last clinic-local day of the range (inclusive)."
    )
    parallel_batch_size: StrictInt = Field(5, ge=1, le=20, description="Consultations fetched per batch.")
    force: StrictBool = Field(False, description="Reconcile even when the deletion guard would refuse.")
    max_delete_ratio: float = Field(
        0.2, ge=0, le=1, description="Largest share of the window's cases reconciliation may soft-delete."
    )
    # set for full syncs: inbound then also covers the lookback days, so the cases that
    # enrichment and reconciliation look at exist even on a clinic's first sync
    inbound_covers_lookback: SkipJsonSchema[StrictBool] = Field(False, description="Set by the service for full syncs.")

    @model_validator(mode="after")
    def _date_range(self) -> SyncOptions:
        check_date_range(self.start_date, self.end_date)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SyncOptions:
        """From the API's camelCase body or the task's snake_case kwargs; ValidationError lists every problem."""
        try:
            return cls.model_validate(data or {})
        except pydantic.ValidationError as e:
            raise validation_error(e, cls, where="option") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe snake_case dict (task kwargs)."""
        return self.model_dump(mode="json")

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


# the options each sync type's request takes (the API's request models; the CLI's --via api body)
OPTIONS_FOR: dict[SyncType, tuple[str, ...]] = {
    SyncType.FULL: ("days_ahead", "lookback_days", "start_date", "end_date", "parallel_batch_size", "force"),
    SyncType.INBOUND: ("days_ahead", "start_date", "end_date"),
    SyncType.CASES: ("lookback_days", "start_date", "end_date", "parallel_batch_size"),
    SyncType.RECONCILE: ("lookback_days", "start_date", "end_date", "force"),
}


def for_sync_type(options: SyncOptions, sync_type: str) -> SyncOptions:
    """A full sync's inbound also covers the lookback days (see inbound_covers_lookback)."""
    if sync_type == SyncType.FULL and not options.inbound_covers_lookback:
        return options.model_copy(update={"inbound_covers_lookback": True})
    return options


def day_window(tz: str, start: date, end: date) -> DateWindow:
    """Clinic-local days [start, end] as UTC bounds [midnight start, midnight after end)."""
    zone = ZoneInfo(tz)
    start_utc = datetime.combine(start, datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    end_utc = datetime.combine(end + timedelta(days=1), datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    return DateWindow(start=start, end=end, start_utc=start_utc, end_utc=end_utc)
