"""Schedule settings -> ScheduleConfig, from either of IDEXX's two endpoints.

``/appointments/getAppointmentView`` is what the production service read;
``/schedule/getScheduleConfigs`` is the legacy one. Their shapes differ (IDEXX_FACTS.md):

=================  ==========================================  =================================
                   getAppointmentView                          getScheduleConfigs
=================  ==========================================  =================================
slot length        ``slotInterval`` (minutes)                  ``slotDuration`` (minutes)
business hours     list of {daysOfWeek, startTime, endTime}    one {start, end, daysOfWeek}
rooms              ``appointmentRooms`` [{id, name, capacity}]  ``rooms`` [{id, name}]
providers          ``providers`` [{id, name, ...}]             ``providers`` [{id, name, color}]
=================  ==========================================  =================================

Days of the week are FullCalendar's numbers (0 = Sunday .. 6 = Saturday; 7 is read as Sunday
too, in case a deployment counts ISO-style): both readings agree on 1..6. Room and provider
names are a nicety; the provider decides what a failure here means (a warning, not a failed
sync).
"""

from __future__ import annotations

import re
from typing import Any

from ....models import BusinessHours, ScheduleConfig
from .endpoints import APPOINTMENT_VIEW, SCHEDULE_CONFIGS
from .reading import Record

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?")


def schedule_from_appointment_view(body: Any) -> ScheduleConfig:
    """``getAppointmentView`` (production shape)."""
    row = Record(body, endpoint=APPOINTMENT_VIEW, label="appointment view")
    hours = [
        h
        for part in row.children("businessHours", required=True)
        for h in _hours(part, "daysOfWeek", "startTime", "endTime")
    ]
    room_ids, rooms = _named(row, "appointmentRooms")
    return ScheduleConfig(
        slot_minutes=_slot(row, "slotInterval"),
        business_hours=_sorted(hours),
        providers=_named(row, "providers")[1],
        rooms=rooms,
        room_ids=room_ids,
        source=APPOINTMENT_VIEW,
    )


def schedule_from_schedule_configs(body: Any) -> ScheduleConfig:
    """``getScheduleConfigs`` (legacy shape)."""
    row = Record(body, endpoint=SCHEDULE_CONFIGS, label="schedule configs")
    hours = _hours(row.child("businessHours", required=True), "daysOfWeek", "start", "end")
    room_ids, rooms = _named(row, "rooms")
    return ScheduleConfig(
        slot_minutes=_slot(row, "slotDuration"),
        business_hours=_sorted(hours),
        providers=_named(row, "providers")[1],
        rooms=rooms,
        room_ids=room_ids,
        source=SCHEDULE_CONFIGS,
    )


#: the endpoints to try, in order, each with its reader
SCHEDULE_SOURCES = (
    (APPOINTMENT_VIEW, schedule_from_appointment_view),
    (SCHEDULE_CONFIGS, schedule_from_schedule_configs),
)


def _slot(row: Record, key: str) -> int:
    minutes = row.whole(key, required=True)
    if not minutes:
        raise row.error(key, "is not a positive number of minutes")
    return minutes


def _hours(row: Record, days_key: str, start_key: str, end_key: str) -> list[BusinessHours]:
    opens, closes = _clock(row, start_key), _clock(row, end_key)
    days = row.items(days_key, required=True)
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 7 for d in days):
        raise row.error(days_key, "is not a list of day numbers 0..7")
    weekdays = sorted({(d + 6) % 7 for d in days})  # FullCalendar 0=Sunday -> our 0=Monday
    return [BusinessHours(weekday=w, opens=opens, closes=closes) for w in weekdays]


def _clock(row: Record, key: str) -> str:
    text = row.text(key, required=True)
    match = _CLOCK.fullmatch(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise row.error(key, "is not a time of day (HH:MM)")
    return f"{int(match[1]):02d}:{match[2]}"


def _named(row: Record, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids, names) of a list of {id, name} objects; both are required on every element
    (a room without an id could never be matched to a calendar item's resourceId)."""
    ids, names = [], []
    for part in row.children(key, required=True):
        ids.append(part.ident("id", required=True))
        names.append(part.text("name", required=True))
    return tuple(ids), tuple(names)


def _sorted(hours: list[BusinessHours]) -> tuple[BusinessHours, ...]:
    return tuple(sorted(hours, key=lambda h: (h.weekday, h.opens)))
