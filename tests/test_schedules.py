"""Schedule parsing and cron maths in clinic time zones, across DST, with fixed instants."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from pims_sync.schedules import (
    CronError,
    ScheduleEntrySpec,
    fire_times,
    next_fire,
    normalize_cron,
    parse_sync_schedules,
    prev_fire,
    slot_key,
)

NY = "America/New_York"
LONDON = "Europe/London"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


# --- parsing ---------------------------------------------------------------------------------

EXAMPLE = [
    {"type": "inbound", "cron": "0 6 * * *", "enabled": True},
    {"type": "cases", "cron": "0 8,14,20 * * *", "enabled": True},
    {"type": "reconciliation", "cron": "0 2 * * *", "enabled": True},
]


def test_parse_issue_example():
    specs, problems = parse_sync_schedules(EXAMPLE, clinic_id="c1", timezone=NY)
    assert problems == []
    assert specs == [
        ScheduleEntrySpec("c1", "inbound", "0 6 * * *", True, NY),
        ScheduleEntrySpec("c1", "cases", "0 8,14,20 * * *", True, NY),
        ScheduleEntrySpec("c1", "reconciliation", "0 2 * * *", True, NY),
    ]
    assert [s.name for s in specs] == ["clinic:c1:inbound", "clinic:c1:cases", "clinic:c1:reconciliation"]
    assert pickle.loads(pickle.dumps(specs[0])) == specs[0]


def test_parse_json_string_and_defaults():
    specs, problems = parse_sync_schedules('[{"type": "cases", "cron": "  */15   *  * * * "}]', clinic_id=7)
    assert problems == []
    assert specs == [ScheduleEntrySpec("7", "cases", "*/15 * * * *", True, "UTC")]


@pytest.mark.parametrize("raw", [None, "", "[]", []])
def test_parse_empty(raw):
    assert parse_sync_schedules(raw, clinic_id="c1") == ([], [])


def test_disabled_entries_are_kept_and_do_not_count_as_duplicates():
    raw = [
        {"type": "inbound", "cron": "0 6 * * *", "enabled": False},
        {"type": "inbound", "cron": "0 7 * * *"},
    ]
    specs, problems = parse_sync_schedules(raw, clinic_id="c1")
    assert problems == []
    assert [(s.cron, s.enabled) for s in specs] == [("0 6 * * *", False), ("0 7 * * *", True)]


def test_macros_are_expanded():
    specs, _ = parse_sync_schedules([{"type": "inbound", "cron": "@daily"}], clinic_id="c1")
    assert specs[0].cron == "0 0 * * *"


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"type": "inbound", "cron": "61 6 * * *"}, "invalid cron '61 6 * * *'"),
        ({"type": "inbound", "cron": "0 6 * *"}, "expected 5 fields"),
        ({"type": "inbound", "cron": "0 0 6 * * *"}, "expected 5 fields"),  # no seconds field
        ({"type": "inbound", "cron": "every morning"}, "invalid cron"),
        ({"type": "inbound", "cron": "0 0 31 2 *"}, "invalid cron"),  # never fires
        ({"type": "inbound", "cron": ""}, "non-empty string"),
        ({"type": "inbound", "cron": 6}, "non-empty string"),
        ({"type": "daily", "cron": "0 6 * * *"}, "unknown type 'daily'"),
        ({"type": None, "cron": "0 6 * * *"}, "unknown type None"),
        ({"cron": "0 6 * * *"}, "missing field(s): type"),
        ({"type": "inbound"}, "missing field(s): cron"),
        ({}, "missing field(s): type, cron"),
        ({"type": "inbound", "cron": "0 6 * * *", "enabled": "yes"}, "enabled must be true or false"),
        ("0 6 * * *", "expected an object"),
        (["inbound", "0 6 * * *"], "expected an object"),
        (None, "expected an object"),
    ],
)
def test_invalid_entry_is_reported_and_the_rest_kept(entry, fragment):
    raw = [EXAMPLE[0], entry, EXAMPLE[1]]
    specs, problems = parse_sync_schedules(raw, clinic_id="clinic-42", timezone=NY)
    assert [s.type for s in specs] == ["inbound", "cases"]
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.clinic_id, problem.index) == ("clinic-42", 1)
    assert fragment in problem.message
    text = str(problem)
    assert text.startswith("clinic clinic-42: sync_schedules[1] ")
    assert fragment in text


def test_duplicate_enabled_type_is_a_problem():
    raw = [EXAMPLE[0], {"type": "inbound", "cron": "0 9 * * *"}]
    specs, problems = parse_sync_schedules(raw, clinic_id="c1")
    assert [s.cron for s in specs] == ["0 6 * * *"]
    assert problems[0].index == 1 and "duplicate" in problems[0].message
    assert "sync_schedules[0]" in problems[0].message and "clinic:c1:inbound" in problems[0].message


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ('[{"type": "inbound", "cron": "0 6 * * *"', "malformed JSON"),
        ("not json", "malformed JSON"),
        ('{"type": "inbound", "cron": "0 6 * * *"}', "expected a JSON array"),
        ({"type": "inbound", "cron": "0 6 * * *"}, "expected a JSON array"),
        (42, "expected a JSON array"),
    ],
)
def test_whole_value_problems(raw, fragment):
    specs, problems = parse_sync_schedules(raw, clinic_id="c9")
    assert specs == []
    assert len(problems) == 1 and problems[0].index is None
    assert fragment in problems[0].message
    assert str(problems[0]).startswith("clinic c9: sync_schedules")


def test_long_entries_are_shortened_in_problems():
    specs, problems = parse_sync_schedules([{"type": "x" * 500, "cron": "0 6 * * *"}], clinic_id="c1")
    assert len(problems[0].entry) <= 120


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", None, "../etc/passwd"])
def test_unknown_timezone_skips_the_clinic_with_one_problem(tz):
    specs, problems = parse_sync_schedules(EXAMPLE, clinic_id="c1", timezone=tz)
    assert specs == []
    assert len(problems) == 1 and "time zone" in problems[0].message


def test_normalize_cron_errors_are_cron_errors():
    with pytest.raises(CronError):
        normalize_cron("* * *")
    assert normalize_cron("@hourly") == "0 * * * *"


# --- evaluation: ordinary days ---------------------------------------------------------------


def test_daily_at_six_local_all_year():
    after = utc(2026, 1, 1)
    fires = fire_times("0 6 * * *", NY, after, utc(2027, 1, 1))
    assert len(fires) == 365
    for fire in fires:
        wall = fire.astimezone(ZoneInfo(NY))
        assert (wall.hour, wall.minute) == (6, 0)
    assert fires[0] == utc(2026, 1, 1, 11)  # EST
    assert next_fire("0 6 * * *", NY, utc(2026, 7, 1)) == utc(2026, 7, 1, 10)  # EDT


def test_next_is_strict_and_prev_is_inclusive():
    slot = local(NY, 2026, 5, 4, 6, 0)
    assert next_fire("0 6 * * *", NY, slot) == slot + timedelta(days=1)
    assert next_fire("0 6 * * *", NY, slot - timedelta(seconds=1)) == slot
    assert prev_fire("0 6 * * *", NY, slot) == slot
    assert prev_fire("0 6 * * *", NY, slot - timedelta(microseconds=1)) == slot - timedelta(days=1)
    assert prev_fire("0 6 * * *", NY, slot + timedelta(seconds=59)) == slot


def test_results_are_aware_utc():
    fire = next_fire("0 6 * * *", LONDON, datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert fire.tzinfo is UTC
    assert fire == utc(2026, 6, 1, 5)  # 06:00 BST; Tokyo noon is 04:00 in London
    assert prev_fire("0 6 * * *", LONDON, fire).tzinfo is UTC


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("0 6 * * *", NY, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        slot_key("c1", "inbound", datetime(2026, 1, 1))


def test_bad_cron_or_zone_in_evaluation_is_a_cron_error():
    with pytest.raises(CronError, match="time zone"):
        next_fire("0 6 * * *", "Mars/Olympus", utc(2026, 1, 1))
    with pytest.raises(CronError, match="invalid cron"):
        prev_fire("0 25 * * *", NY, utc(2026, 1, 1))


def test_every_fifteen_minutes():
    fires = fire_times("*/15 * * * *", NY, local(NY, 2026, 5, 4, 9, 7), local(NY, 2026, 5, 4, 10, 0))
    assert [f.astimezone(ZoneInfo(NY)).strftime("%H:%M") for f in fires] == [
        "09:15",
        "09:30",
        "09:45",
        "10:00",
    ]


def test_lists_ranges_and_day_of_week():
    cron = "30 8,14 * * 1-5"  # weekdays 08:30 and 14:30
    start = local(LONDON, 2026, 1, 2, 9, 0)  # Friday
    fires = fire_times(cron, LONDON, start, start + timedelta(days=4))
    walls = [f.astimezone(ZoneInfo(LONDON)).strftime("%a %H:%M") for f in fires]
    assert walls == ["Fri 14:30", "Mon 08:30", "Mon 14:30", "Tue 08:30"]
    sundays = fire_times("0 7 * * SUN", NY, utc(2026, 3, 1), utc(2026, 3, 31))
    assert [f.astimezone(ZoneInfo(NY)).day for f in sundays] == [1, 8, 15, 22, 29]
    assert {f.astimezone(ZoneInfo(NY)).hour for f in sundays} == {7}
    ranged = fire_times("0 9-11 1 * *", NY, utc(2026, 2, 1), utc(2026, 2, 2))
    assert [f.astimezone(ZoneInfo(NY)).hour for f in ranged] == [9, 10, 11]


def test_prev_fire_with_day_of_week():
    before = local(NY, 2026, 5, 6, 12, 0)  # Wednesday noon
    assert prev_fire("0 7 * * MON", NY, before) == local(NY, 2026, 5, 4, 7, 0)


# --- evaluation: DST transitions -------------------------------------------------------------

# (zone, spring-forward day, gap hour, fall-back day, repeated hour)
TRANSITIONS = [(NY, (2026, 3, 8), 2, (2026, 11, 1), 1), (LONDON, (2026, 3, 29), 1, (2026, 10, 25), 1)]


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
def test_daily_six_am_across_both_transitions(tz, spring, gap_hour, fall, fold_hour):
    for day in (spring, fall):
        start = datetime(*day, tzinfo=ZoneInfo(tz)) - timedelta(days=2)
        fires = fire_times("0 6 * * *", tz, start, start + timedelta(days=4))
        walls = [f.astimezone(ZoneInfo(tz)) for f in fires]
        assert len(walls) == 4
        assert all((w.hour, w.minute) == (6, 0) for w in walls)
        assert len({w.date() for w in walls}) == 4


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
def test_time_in_the_spring_gap_fires_once_right_after_the_gap(tz, spring, gap_hour, fall, fold_hour):
    cron = f"30 {gap_hour} * * *"
    day_before = datetime(*spring, tzinfo=ZoneInfo(tz)) - timedelta(days=1)
    fires = fire_times(cron, tz, day_before, day_before + timedelta(days=3))
    walls = [f.astimezone(ZoneInfo(tz)).strftime("%d %H:%M") for f in fires]
    d = spring[2]
    assert walls == [
        f"{d - 1:02d} {gap_hour:02d}:30",
        f"{d:02d} {gap_hour + 1:02d}:00",
        f"{d + 1:02d} {gap_hour:02d}:30",
    ]
    # prev_fire agrees: just after the gap, the gap slot is the latest one
    transition = fires[1]
    assert prev_fire(cron, tz, transition + timedelta(minutes=5)) == transition
    assert next_fire(cron, tz, transition - timedelta(minutes=1)) == transition


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
def test_two_slots_in_the_gap_fire_once(tz, spring, gap_hour, fall, fold_hour):
    cron = f"0,30 {gap_hour} * * *"
    start = datetime(*spring, tzinfo=ZoneInfo(tz))
    fires = fire_times(cron, tz, start, start + timedelta(days=1))
    assert len(fires) == 1
    assert fires[0].astimezone(ZoneInfo(tz)).strftime("%H:%M") == f"{gap_hour + 1:02d}:00"


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
def test_ambiguous_time_on_fall_back_fires_once(tz, spring, gap_hour, fall, fold_hour):
    cron = f"30 {fold_hour} * * *"
    day_before = datetime(*fall, tzinfo=ZoneInfo(tz)) - timedelta(days=1)
    fires = fire_times(cron, tz, day_before, day_before + timedelta(days=3))
    assert len(fires) == 3
    first_pass = local(tz, *fall, fold_hour, 30, fold=0)
    assert fires[1] == first_pass
    second_pass = local(tz, *fall, fold_hour, 30, fold=1)
    assert second_pass - first_pass == timedelta(hours=1)
    # asking from inside the repeated hour does not give the second pass either
    assert next_fire(cron, tz, first_pass) == fires[2]
    assert next_fire(cron, tz, second_pass - timedelta(minutes=1)) == fires[2]
    assert prev_fire(cron, tz, second_pass + timedelta(minutes=1)) == first_pass


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
def test_every_fifteen_minutes_keeps_real_time_rhythm(tz, spring, gap_hour, fall, fold_hour):
    # fall back: every quarter of both passes of the repeated hour, evenly spaced
    start = local(tz, *fall, fold_hour - 1, 0) if fold_hour else local(tz, *fall, 0, 0)
    fires = fire_times("*/15 * * * *", tz, start, start + timedelta(hours=4))
    gaps = {b - a for a, b in zip([start, *fires], fires, strict=False)}
    assert gaps == {timedelta(minutes=15)}
    # spring forward: nothing in the missing hour, still every 15 real minutes
    start = local(tz, *spring, gap_hour - 1, 0)
    fires = fire_times("*/15 * * * *", tz, start, start + timedelta(hours=3))
    assert {b - a for a, b in zip([start, *fires], fires, strict=False)} == {timedelta(minutes=15)}
    assert not any(f.astimezone(ZoneInfo(tz)).hour == gap_hour for f in fires)


def _reference_fires(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Brute force over every UTC minute: the documented rules, written the slow, obvious way."""
    zone = ZoneInfo(tz)
    every_hour = croniter(cron).expanded[1] == ["*"]
    out = []
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= end:
        wall = minute.astimezone(zone)
        naive = wall.replace(tzinfo=None)
        fires = croniter.match(cron, naive) and (every_hour or wall.fold == 0)
        prev_wall = (minute - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None)
        if not fires and not every_hour and naive - prev_wall > timedelta(minutes=1):
            # the first instant after a spring-forward gap: fire if any skipped wall time matched
            skipped = prev_wall + timedelta(minutes=1)
            while skipped < naive and not fires:
                fires = croniter.match(cron, skipped)
                skipped += timedelta(minutes=1)
        if fires:
            out.append(minute)
        minute += timedelta(minutes=1)
    return out


@pytest.mark.parametrize("tz, spring, gap_hour, fall, fold_hour", TRANSITIONS)
@pytest.mark.parametrize("cron", ["0 6 * * *", "30 1,2 * * *", "*/20 * * * *", "15 0-3 * * *", "45 * * * *"])
def test_matches_brute_force_reference_around_transitions(tz, spring, gap_hour, fall, fold_hour, cron):
    for day in (spring, fall):
        start = datetime(*day, tzinfo=ZoneInfo(tz)).astimezone(UTC) - timedelta(hours=6)
        end = start + timedelta(hours=36)
        expected = _reference_fires(cron, tz, start, end)
        assert fire_times(cron, tz, start, end) == expected
        # prev_fire walks the same list backwards, from arbitrary points
        for probe in (start + timedelta(minutes=m) for m in range(400, 36 * 60, 97)):
            earlier = [f for f in expected if f <= probe]
            if earlier:
                assert prev_fire(cron, tz, probe) == earlier[-1], probe


# --- dedupe key ------------------------------------------------------------------------------


def test_slot_key():
    fire = local(NY, 2026, 11, 1, 1, 30, fold=0)
    assert slot_key("c1", "inbound", fire) == "clinic:c1:inbound:20261101T0530Z"
    assert slot_key("c1", "inbound", fire.astimezone(ZoneInfo(NY))) == "clinic:c1:inbound:20261101T0530Z"
    # the two passes of an ambiguous wall time never share a key
    assert slot_key("c1", "cases", local(NY, 2026, 11, 1, 1, 30, fold=1)) == "clinic:c1:cases:20261101T0630Z"
