"""Clinic sync schedules: parse ``sync_schedules`` JSON and evaluate cron in a clinic's time zone.

Pure functions over plain data (no Celery, no database) so the beat scheduler, the CLI's
``schedules validate`` and the tests share one definition of "when does this fire".

Cron is evaluated on the clinic's wall clock, so "0 6 * * *" is 06:00 clinic time all year.
Daylight-saving changes follow the classic (Vixie) cron rules, chosen so a daily job neither
disappears nor runs twice:

* Spring forward (a wall time that does not exist, e.g. 02:30 on 2026-03-08 in New York):
  a job with fixed hours fires once, at the first valid instant after the gap (03:00 EDT).
  A job that runs every hour (hour field ``*``) simply has no run in the missing hour.
* Fall back (a wall time that happens twice, e.g. 01:30 on 2026-11-01 in New York): a job
  with fixed hours fires once, at the first occurrence. A job that runs every hour
  (``*/15 * * * *``) keeps its real-time rhythm and fires in both passes of the hour.

All instants returned are aware UTC datetimes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

SCHEDULE_TYPES = ("inbound", "cases", "reconciliation")
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# UTC offsets never move by more than this around one transition; it bounds the search window
_DST_MARGIN = timedelta(hours=3)
_MAX_STEPS = 5000


class CronError(ValueError):
    """A cron expression we cannot evaluate (message says why, never raised for a valid one)."""


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleEntrySpec:
    """One valid schedule entry of one clinic."""

    clinic_id: str
    type: str  # inbound | cases | reconciliation
    cron: str  # five fields (macros expanded)
    enabled: bool = True
    timezone: str = "UTC"

    @property
    def name(self) -> str:
        """The beat entry name, also the prefix of the per-slot dedupe key."""
        return f"clinic:{self.clinic_id}:{self.type}"


@dataclass(frozen=True)
class ScheduleProblem:
    """Why one entry (or the whole value, index None) of a clinic's schedules was skipped."""

    clinic_id: str
    index: int | None
    entry: str  # a short repr of the offending entry, for humans
    message: str

    def __str__(self) -> str:
        where = "sync_schedules" if self.index is None else f"sync_schedules[{self.index}]"
        shown = f" {self.entry}" if self.entry else ""
        return f"clinic {self.clinic_id}: {where}{shown}: {self.message}"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def normalize_cron(expr: Any) -> str:
    """The five-field form of ``expr``; raise :class:`CronError` saying what is wrong."""
    if not isinstance(expr, str) or not expr.strip():
        raise CronError("cron must be a non-empty string like '0 6 * * *'")
    return _checked_cron(" ".join(expr.split()), expr)


@lru_cache(maxsize=8192)
def _checked_cron(text: str, expr: str) -> str:
    """Validation is a croniter parse: a few ms each, so done once per distinct expression."""
    text = MACROS.get(text.lower(), text)
    if len(text.split(" ")) != 5:
        raise CronError(f"invalid cron {expr!r}: expected 5 fields (minute hour day month weekday)")
    try:
        # a fixed start: croniter searches forward, and an impossible date (31 Feb) fails here
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as e:
        raise CronError(f"invalid cron {expr!r}: {e}") from None
    return text


def validate_timezone(tz: Any) -> str:
    """The IANA name if zoneinfo knows it; raise :class:`CronError` otherwise."""
    if not isinstance(tz, str) or not tz.strip():
        raise CronError("time zone must be an IANA name like America/New_York")
    try:
        _zone(tz.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {tz!r} (expected an IANA name like America/New_York)") from None
    return tz.strip()


def parse_sync_schedules(
    raw: Any, *, clinic_id: str, timezone: str = "UTC"
) -> tuple[list[ScheduleEntrySpec], list[ScheduleProblem]]:
    """Valid entries and a problem per invalid one; never raises for bad data.

    ``raw`` is the ``sync_schedules`` column: a decoded JSON array, a JSON string, or None.
    Disabled entries are returned (enabled=False) so callers can show them; two enabled entries
    of the same type would share one beat entry name, so the second is a problem.
    """
    clinic_id = str(clinic_id)
    problems: list[ScheduleProblem] = []
    try:
        timezone = validate_timezone(timezone)
    except CronError as e:
        return [], [ScheduleProblem(clinic_id, None, "", f"{e}; all schedules of this clinic are skipped")]
    if raw is None:
        return [], []
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError as e:
            return [], [ScheduleProblem(clinic_id, None, _short(raw), f"malformed JSON ({e})")]
    if not isinstance(raw, list | tuple):
        return [], [
            ScheduleProblem(clinic_id, None, _short(raw), "expected a JSON array of schedule objects")
        ]

    specs: list[ScheduleEntrySpec] = []
    enabled_by_type: dict[str, int] = {}
    for index, entry in enumerate(raw):
        spec_or_message = _parse_entry(entry, clinic_id=clinic_id, timezone=timezone)
        if isinstance(spec_or_message, str):
            problems.append(ScheduleProblem(clinic_id, index, _short(entry), spec_or_message))
            continue
        spec = spec_or_message
        if spec.enabled:
            if spec.type in enabled_by_type:
                first = enabled_by_type[spec.type]
                problems.append(
                    ScheduleProblem(
                        clinic_id,
                        index,
                        _short(entry),
                        f"duplicate enabled {spec.type!r} schedule (sync_schedules[{first}] already "
                        f"uses {spec.name}); disable one or merge the crons with a list",
                    )
                )
                continue
            enabled_by_type[spec.type] = index
        specs.append(spec)
    return specs, problems


def _parse_entry(entry: Any, *, clinic_id: str, timezone: str) -> ScheduleEntrySpec | str:
    if not isinstance(entry, dict):
        return (
            f'expected an object like {{"type": "inbound", "cron": "0 6 * * *"}}, got {type(entry).__name__}'
        )
    missing = [key for key in ("type", "cron") if key not in entry]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    kind = entry["type"]
    if kind not in SCHEDULE_TYPES:
        return f"unknown type {kind!r} (expected one of {', '.join(SCHEDULE_TYPES)})"
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        return f"enabled must be true or false, got {enabled!r}"
    try:
        cron = normalize_cron(entry["cron"])
    except CronError as e:
        return str(e)
    return ScheduleEntrySpec(clinic_id=clinic_id, type=kind, cron=cron, enabled=enabled, timezone=timezone)


# --- evaluation ------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=8192)
def _compiled(cron: str) -> tuple[str, bool]:
    """(five-field cron, whether it runs every hour) — parsed once per expression."""
    text = normalize_cron(cron)
    every_hour = croniter(text).expanded[1] == ["*"]
    return text, every_hour


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> list[datetime]:
    """The UTC instants at which naive wall time ``wall`` fires in ``zone`` (0, 1 or 2)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    # the two folds differ: wall time is either ambiguous (exists twice) or in a gap
    if first.astimezone(zone).replace(tzinfo=None) == wall:  # ambiguous: fall back
        return [first, second] if every_hour else [first]
    if every_hour:  # in a gap: an hourly job just has no run in the missing hour
        return []
    # fixed hours: fire at the first valid instant after the gap, i.e. the transition
    probe = wall
    for _ in range(_MAX_STEPS):
        probe += timedelta(minutes=1)
        instant = probe.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == probe:
            return [instant]
    return []


def _local_naive(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (aware), as an aware UTC datetime.

    Raises :class:`CronError` for an invalid cron or time zone, ValueError for a naive datetime.
    """
    text, every_hour = _compiled(cron)
    zone = _zone(validate_timezone(tz))
    after = _require_aware(after, "after")
    start = _local_naive(after, zone)

    it = croniter(text, start)
    wall = it.get_next(datetime)
    quick = _instants(wall, zone, every_hour)
    # fast path: no offset change within the margin and an unambiguous wall time
    if (
        len(quick) == 1
        and quick[0] > after
        and after.astimezone(zone).utcoffset() == ((after + _DST_MARGIN).astimezone(zone).utcoffset())
    ):
        return quick[0]

    # slow path near a transition: fall-back may repeat wall times earlier than `start`
    it = croniter(text, start - _DST_MARGIN)
    best: datetime | None = None
    for _ in range(_MAX_STEPS):
        wall = it.get_next(datetime)
        if best is not None and wall > _local_naive(best, zone) + _DST_MARGIN:
            return best
        for instant in _instants(wall, zone, every_hour):
            if instant > after and (best is None or instant < best):
                best = instant
    if best is None:
        raise CronError(f"cron {cron!r} found no fire time after {after.isoformat()}")
    return best


def prev_fire(cron: str, tz: str, before: datetime) -> datetime:
    """The last fire time at or before ``before`` (aware), as an aware UTC datetime."""
    text, every_hour = _compiled(cron)
    zone = _zone(validate_timezone(tz))
    before = _require_aware(before, "before")
    # croniter's get_prev is strict; start a minute later so a slot at `before` itself counts
    start = _local_naive(before, zone).replace(second=0, microsecond=0) + timedelta(minutes=1)

    it = croniter(text, start)
    wall = it.get_prev(datetime)
    quick = _instants(wall, zone, every_hour)
    if (
        len(quick) == 1
        and quick[0] <= before
        and before.astimezone(zone).utcoffset() == ((before - _DST_MARGIN).astimezone(zone).utcoffset())
    ):
        return quick[0]

    it = croniter(text, start + _DST_MARGIN)
    best: datetime | None = None
    for _ in range(_MAX_STEPS):
        wall = it.get_prev(datetime)
        if best is not None and wall < _local_naive(best, zone) - _DST_MARGIN:
            return best
        for instant in _instants(wall, zone, every_hour):
            if instant <= before and (best is None or instant > best):
                best = instant
    if best is None:
        raise CronError(f"cron {cron!r} found no fire time before {before.isoformat()}")
    return best


def fire_times(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in (start, end], in order; for previews and missed-run checks."""
    out: list[datetime] = []
    current = start
    while True:
        current = next_fire(cron, tz, current)
        if current > _require_aware(end, "end"):
            return out
        out.append(current)


def slot_key(clinic_id: str, type: str, fire_time_utc: datetime) -> str:
    """The per-slot dedupe key: ``clinic:<id>:<type>:<YYYYmmddTHHMMZ>``."""
    instant = _require_aware(fire_time_utc, "fire_time_utc")
    return f"clinic:{clinic_id}:{type}:{instant.strftime('%Y%m%dT%H%MZ')}"
