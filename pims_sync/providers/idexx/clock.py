"""Clinic wall time <-> aware UTC, correct on DST change days.

IDEXX speaks clinic-local wall time with no offset ("2026-11-01 01:30:00"), so every
conversion needs the clinic's IANA zone. Two DST corner cases need a rule, and we pick
the one zoneinfo gives with ``fold=0``:

* an **ambiguous** wall time (fall back: 01:30 happens twice) means its *first*
  occurrence, the one still on daylight time;
* a **nonexistent** wall time (spring forward: 02:30 never happens) is read with the
  offset in force before the gap, which lands it *after* the gap by the gap's length
  (02:30 New York on a spring-forward day becomes 03:30 EDT = 07:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...errors import ConfigError

CALENDAR_FORMAT = "%Y-%m-%d %H:%M:%S"  # getCalendarEventData start/end, event start/end
SEARCH_FORMAT = "%d.%m.%Y %H:%M:%S"  # consultations/search date_start/date_end

# Wall time is not monotonic across a fall-back transition: an instant range [a, b) maps to
# wall times within [wall(a) - PAD, wall(b) + PAD]. Queries are widened by this much and the
# answer is filtered by instant, so no appointment near a transition is lost.
QUERY_PAD = timedelta(hours=2)


def zone(name: str) -> ZoneInfo:
    """The clinic's zone, or a ConfigError naming the bad value (a typo must not mean UTC)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError("clinics.timezone", "an IANA time zone such as America/New_York", name) from None


def wall_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """A naive clinic wall time as an aware UTC instant (fold=0 rule, see module doc)."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def utc_to_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """An aware instant as a naive clinic wall time."""
    if instant.tzinfo is None:
        raise ValueError("expected an aware datetime")
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def query_window(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Naive wall-time bounds that surely cover every instant in [start, end)."""
    return utc_to_wall(start, tz) - QUERY_PAD, utc_to_wall(end, tz) + QUERY_PAD


def format_calendar(wall: datetime) -> str:
    """Wall time as the calendar endpoint wants it: ``YYYY-MM-DD HH:MM:SS``."""
    return wall.strftime(CALENDAR_FORMAT)


def format_search(wall: datetime) -> str:
    """Wall time as the consultation search wants it: ``DD.MM.YYYY HH:mm:ss``."""
    return wall.strftime(SEARCH_FORMAT)
