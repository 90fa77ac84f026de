"""Beat policy as pure functions: configs to entry specs, per-clinic diffs, due and missed decisions.

The scheduler (workers/beat/scheduler.py) does the I/O — database, Redis, Celery — and asks these
functions what to do, so every decision is unit-tested with plain data and a frozen clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from pims_sync.models import ScheduleConfigRow
from pims_sync.schedules import ScheduleEntrySpec, ScheduleProblem, parse_sync_schedules

ENTRY_PREFIX = "clinic:"


def is_clinic_entry(name: str) -> bool:
    return name.startswith(ENTRY_PREFIX)


def specs_for_row(row: ScheduleConfigRow) -> tuple[list[ScheduleEntrySpec], list[ScheduleProblem]]:
    """The enabled entries of an active clinic, and every problem of its config.

    An inactive clinic has neither: beat does not warn about schedules it will not run
    (`pims-sync schedules validate` still lists them).
    """
    if not row.clinic_active:
        return [], []
    try:
        key = json.dumps(row.sync_schedules, sort_keys=True)
    except (TypeError, ValueError):
        specs, problems = parse_sync_schedules(
            row.sync_schedules, clinic_id=row.clinic_id, timezone=row.timezone
        )
    else:
        # thousands of clinics share a handful of configs: parse each distinct one once
        specs, problems = _parse_shared(key, row.timezone)
        specs = [replace(s, clinic_id=row.clinic_id) for s in specs]
        problems = [replace(p, clinic_id=row.clinic_id) for p in problems]
    return [s for s in specs if s.enabled], problems


@lru_cache(maxsize=4096)
def _parse_shared(
    raw_json: str, timezone: str
) -> tuple[tuple[ScheduleEntrySpec, ...], tuple[ScheduleProblem, ...]]:
    specs, problems = parse_sync_schedules(json.loads(raw_json), clinic_id="", timezone=timezone)
    return tuple(specs), tuple(problems)


@dataclass(frozen=True)
class ClinicPlan:
    """What a clinic's reload does: drop names, keep some last_run_at, start others afresh."""

    remove: tuple[str, ...]
    keep: tuple[ScheduleEntrySpec, ...]  # unchanged: new Entry object, old last_run_at
    fresh: tuple[ScheduleEntrySpec, ...]  # new or changed: new Entry, last_run_at from policy


def plan_clinic(old: Mapping[str, ScheduleEntrySpec], new: Iterable[ScheduleEntrySpec]) -> ClinicPlan:
    """Diff one clinic's current entry specs against its new ones (by entry name)."""
    new_by_name = {s.name: s for s in new}
    remove = tuple(sorted(n for n in old if n not in new_by_name))
    keep = tuple(s for n, s in new_by_name.items() if old.get(n) == s)
    fresh = tuple(s for n, s in new_by_name.items() if old.get(n) != s)
    return ClinicPlan(remove=remove, keep=keep, fresh=fresh)


def needs_rebuild(known_version: int | None, row: ScheduleConfigRow | None) -> bool:
    """A clinic is rebuilt when its row appeared, vanished or changed version.

    The version bumps on every edit, including (through a trigger) the clinic's time zone and
    active flag, so it alone says whether anything the scheduler evaluates has changed.
    """
    if row is None:
        return known_version is not None
    return known_version != row.version


@dataclass(frozen=True)
class DueState:
    is_due: bool
    next_s: float  # seconds until the next check is worth making
    slot: datetime | None  # the fire time this decision is about (the latest one <= now)


def due_state(
    *, prev_slot: datetime | None, next_slot: datetime, last_run_at: datetime, now: datetime, grace_s: float
) -> DueState:
    """Due when a slot passed since the last run and is not older than the grace window.

    Several missed slots collapse into the latest one, so downtime runs a sync once. A slot
    older than the grace window is not run (initial_last_run logs it); the next slot is.
    """
    due = prev_slot is not None and prev_slot > last_run_at and (now - prev_slot).total_seconds() <= grace_s
    return DueState(is_due=due, next_s=max((next_slot - now).total_seconds(), 0.0), slot=prev_slot)


def initial_last_run(
    *, stored: datetime | None, now: datetime, prev_slot: datetime | None, grace_s: float
) -> tuple[datetime, datetime | None]:
    """The last_run_at a (re)built entry starts with, and the missed slot skipped, if any.

    ``stored`` is the last run (or first sighting) recorded in Redis by any beat. Nothing
    stored means the entry is new: it waits for its next slot. A slot missed within the grace
    window keeps ``stored`` so the entry is due at once (and runs once); an older miss is
    skipped by starting from ``now``.
    """
    if stored is None:
        return now, None
    if prev_slot is None or prev_slot <= stored:
        return stored, None
    if (now - prev_slot).total_seconds() <= grace_s:
        return stored, None
    return now, prev_slot
