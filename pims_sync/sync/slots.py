"""Free appointment slots: business hours × slot length × rooms, minus booked appointments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..models import Appointment, JsonObject, ScheduleConfig

NOT_BOOKED = ("cancelled", "no_show")


def free_slots(day: date, tz: str, config: ScheduleConfig, appointments: Sequence[Appointment]) -> list[JsonObject]:
    """Slots of `day` (clinic-local) with at least one room free; rooms are the capacity."""
    zone = ZoneInfo(tz)
    capacity = max(1, len(config.rooms))
    booked = [a for a in appointments if a.status not in NOT_BOOKED]
    slots: list[JsonObject] = []
    for hours in (h for h in config.business_hours if h.weekday == day.weekday()):
        start = datetime.combine(day, time.fromisoformat(hours.opens), zone)
        close = datetime.combine(day, time.fromisoformat(hours.closes), zone)
        step = timedelta(minutes=config.slot_minutes)
        while start + step <= close:
            s_utc, e_utc = start.astimezone(UTC), (start + step).astimezone(UTC)
            taken = sum(1 for a in booked if a.start < e_utc and a.end > s_utc)
            if taken < capacity:
                slots.append(
                    {
                        "start": start.isoformat(),
                        "end": (start + step).isoformat(),
                        "available": capacity - taken,
                        "capacity": capacity,
                    }
                )
            start += step
    return slots
