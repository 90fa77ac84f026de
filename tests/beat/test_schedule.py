"""ClinicCronSchedule with a frozen clock: wall-clock cron in a clinic's zone, DST, equality, pickling."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from workers.beat.schedule import ClinicCronSchedule


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def simulate(
    cron: str, tz: str, start: datetime, end: datetime, *, step=timedelta(seconds=20)
) -> list[datetime]:
    """Drive is_due the way beat does (last_run_at = the time it ran); return the slots that ran."""
    clock = Clock(start)
    sched = ClinicCronSchedule(cron, tz, 3600, nowfun=clock)
    last_run, ran = start, []
    while clock.at < end:
        clock.at += step
        state = sched.state(last_run)
        if state.is_due:
            ran.append(state.slot)
            last_run = clock.at
    return ran


def test_daily_six_am_new_york_across_spring_forward():
    ran = simulate("0 6 * * *", "America/New_York", utc(2026, 3, 7, 0), utc(2026, 3, 10, 0))
    # 06:00 EST = 11:00Z before the change, 06:00 EDT = 10:00Z after
    assert ran == [utc(2026, 3, 7, 11), utc(2026, 3, 8, 10), utc(2026, 3, 9, 10)]


def test_daily_six_am_new_york_across_fall_back():
    ran = simulate("0 6 * * *", "America/New_York", utc(2026, 10, 31, 0), utc(2026, 11, 3, 0))
    assert ran == [utc(2026, 10, 31, 10), utc(2026, 11, 1, 11), utc(2026, 11, 2, 11)]


def test_new_york_wall_time_in_the_gap_runs_once_after_it():
    # 02:30 does not exist on 2026-03-08: it runs once, at 03:00 EDT (07:00Z)
    ran = simulate("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), utc(2026, 3, 9, 12))
    assert ran == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]


def test_new_york_repeated_wall_time_runs_once():
    # 01:30 happens twice on 2026-11-01 (EDT then EST): a fixed-hour job runs at the first only
    ran = simulate("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert ran == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_london_both_transitions():
    spring = simulate("0 6 * * *", "Europe/London", utc(2026, 3, 28, 0), utc(2026, 3, 30, 0))
    assert spring == [utc(2026, 3, 28, 6), utc(2026, 3, 29, 5)]
    autumn = simulate("0 6 * * *", "Europe/London", utc(2026, 10, 24, 0), utc(2026, 10, 26, 0))
    assert autumn == [utc(2026, 10, 24, 5), utc(2026, 10, 25, 6)]


def test_london_gap_and_repeat_at_one_thirty():
    # 01:30 does not exist on 2026-03-29 (01:00 GMT -> 02:00 BST): runs at 02:00 BST = 01:00Z
    assert simulate("30 1 * * *", "Europe/London", utc(2026, 3, 29, 0), utc(2026, 3, 29, 12)) == [
        utc(2026, 3, 29, 1)
    ]
    # 01:30 happens twice on 2026-10-25: once, at 01:30 BST = 00:30Z
    assert simulate("30 1 * * *", "Europe/London", utc(2026, 10, 25, 0), utc(2026, 10, 25, 12)) == [
        utc(2026, 10, 25, 0, 30)
    ]


def test_every_fifteen_minutes_keeps_its_rhythm_through_fall_back():
    ran = simulate("*/15 * * * *", "America/New_York", utc(2026, 11, 1, 4, 50), utc(2026, 11, 1, 7, 5))
    # real-time rhythm: every quarter hour of UTC, including both passes of the repeated hour
    expected = [utc(2026, 11, 1, 5) + timedelta(minutes=15 * i) for i in range(9)]
    assert ran == expected


def test_every_fifteen_minutes_next_check():
    clock = Clock(utc(2026, 6, 1, 12, 7))
    sched = ClinicCronSchedule("*/15 * * * *", "America/New_York", nowfun=clock)
    due, next_s = sched.is_due(utc(2026, 6, 1, 12, 0, 1))
    assert (due, next_s) == (False, 8 * 60)
    clock.at = utc(2026, 6, 1, 12, 15, 2)
    due, next_s = sched.is_due(utc(2026, 6, 1, 12, 0, 1))
    assert due and next_s == pytest.approx(15 * 60 - 2)


def test_lists_ranges_and_day_of_week():
    # 2026-06-01 is a Monday; New York is UTC-4 in June
    lists = simulate("0 8,14,20 * * *", "America/New_York", utc(2026, 6, 1, 0), utc(2026, 6, 2, 4))
    assert lists == [utc(2026, 6, 1, 12), utc(2026, 6, 1, 18), utc(2026, 6, 2, 0)]
    ranges = simulate("0 9-11 * * *", "America/New_York", utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))
    assert ranges == [utc(2026, 6, 1, 13), utc(2026, 6, 1, 14), utc(2026, 6, 1, 15)]
    weekly = simulate(
        "0 6 * * 1", "Europe/London", utc(2026, 6, 1, 0), utc(2026, 6, 16, 0), step=timedelta(minutes=1)
    )
    assert weekly == [utc(2026, 6, 1, 5), utc(2026, 6, 8, 5), utc(2026, 6, 15, 5)]
    weekdays = simulate(
        "0 6 * * mon-fri", "Europe/London", utc(2026, 6, 5, 0), utc(2026, 6, 9, 0), step=timedelta(minutes=1)
    )
    assert weekdays == [utc(2026, 6, 5, 5), utc(2026, 6, 8, 5)]  # Friday, then Monday


def test_remaining_estimate_counts_from_the_last_run():
    clock = Clock(utc(2026, 6, 1, 9, 0))  # 05:00 in New York
    sched = ClinicCronSchedule("0 6 * * *", "America/New_York", nowfun=clock)
    assert sched.remaining_estimate(utc(2026, 5, 31, 10, 0, 1)) == timedelta(hours=1)
    # overdue: the slot after the last run is already past
    assert sched.remaining_estimate(utc(2026, 5, 30, 10, 0, 1)) == timedelta(hours=-23)


def test_missed_slot_inside_grace_runs_older_does_not():
    clock = Clock(utc(2026, 6, 1, 10, 30))  # 06:30 New York: slot 10:00Z missed by 30 min
    sched = ClinicCronSchedule("0 6 * * *", "America/New_York", 3600, nowfun=clock)
    assert sched.is_due(utc(2026, 5, 31, 10, 0, 1))[0] is True
    clock.at = utc(2026, 6, 1, 11, 30)  # missed by 90 min: outside the hour of grace
    due, next_s = sched.is_due(utc(2026, 5, 31, 10, 0, 1))
    assert due is False and next_s == pytest.approx(22.5 * 3600)


def test_equality_hash_and_pickling():
    a = ClinicCronSchedule("0 6 * * *", "America/New_York")
    assert a == ClinicCronSchedule("0 6 * * *", "America/New_York", nowfun=lambda: utc(2026, 1, 1))
    assert hash(a) == hash(ClinicCronSchedule("0 6 * * *", "America/New_York"))
    assert a != ClinicCronSchedule("0 7 * * *", "America/New_York")
    assert a != ClinicCronSchedule("0 6 * * *", "Europe/London")
    assert a != ClinicCronSchedule("0 6 * * *", "America/New_York", 60)
    assert (
        len({a, ClinicCronSchedule("0 6 * * *", "America/New_York"), ClinicCronSchedule("0 7 * * *", "UTC")})
        == 2
    )
    b = pickle.loads(pickle.dumps(a))
    assert b == a and (b.cron, b.timezone, b.grace_s) == ("0 6 * * *", "America/New_York", 3600)
    assert "0 6 * * *" in repr(a) and "America/New_York" in repr(a)
