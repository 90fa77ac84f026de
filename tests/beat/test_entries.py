"""Beat policy without I/O: configs to specs, per-clinic diffs, due and missed-run decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pims_sync.models import ScheduleConfigRow
from pims_sync.schedules import ScheduleEntrySpec
from workers.beat.entries import due_state, initial_last_run, needs_rebuild, plan_clinic, specs_for_row

T = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
CONFIG = [
    {"type": "inbound", "cron": "0 6 * * *", "enabled": True},
    {"type": "cases", "cron": "0 8,14,20 * * *", "enabled": False},
    {"type": "reconciliation", "cron": "nonsense"},
]


def row(clinic_id="c1", schedules=CONFIG, *, active=True, version=1, tz="America/New_York"):
    return ScheduleConfigRow(clinic_id, tz, active, schedules, version, T)


def spec(clinic_id="c1", kind="inbound", cron="0 6 * * *", tz="America/New_York"):
    return ScheduleEntrySpec(clinic_id=clinic_id, type=kind, cron=cron, timezone=tz)


def test_specs_are_the_enabled_valid_entries_of_active_clinics_with_their_own_ids():
    specs, problems = specs_for_row(row("c1"))
    assert [s.name for s in specs] == ["clinic:c1:inbound"]
    assert [(p.clinic_id, p.index) for p in problems] == [("c1", 2)]
    # the same config of another clinic (parsed once, shared) carries that clinic's id
    specs, problems = specs_for_row(row("c2", tz="Europe/London"))
    assert [(s.name, s.timezone) for s in specs] == [("clinic:c2:inbound", "Europe/London")]
    assert "clinic c2" in str(problems[0])
    assert specs_for_row(row("c3", active=False)) == ([], [])
    assert specs_for_row(row("c4", tz="Mars/Olympus"))[0] == []


def test_plan_keeps_unchanged_and_refreshes_changed_and_new():
    old = {"clinic:c1:inbound": spec(), "clinic:c1:cases": spec(kind="cases", cron="0 8 * * *")}
    new = [spec(), spec(kind="cases", cron="30 8 * * *"), spec(kind="reconciliation", cron="0 2 * * *")]
    plan = plan_clinic(old, new)
    assert plan.remove == ()
    assert [s.name for s in plan.keep] == ["clinic:c1:inbound"]
    assert [s.name for s in plan.fresh] == ["clinic:c1:cases", "clinic:c1:reconciliation"]
    assert plan_clinic(old, [spec(tz="Europe/London")]).remove == ("clinic:c1:cases",)
    assert [s.name for s in plan_clinic(old, [spec(tz="Europe/London")]).fresh] == ["clinic:c1:inbound"]


def test_needs_rebuild_on_new_changed_or_vanished_rows_only():
    assert needs_rebuild(None, row(version=1))
    assert needs_rebuild(1, row(version=2))
    assert not needs_rebuild(2, row(version=2))
    assert needs_rebuild(2, None)
    assert not needs_rebuild(None, None)


def test_due_state_collapses_missed_slots_and_respects_grace():
    nxt = T + timedelta(days=1)
    assert due_state(
        prev_slot=T,
        next_slot=nxt,
        last_run_at=T - timedelta(days=3),
        now=T + timedelta(minutes=5),
        grace_s=3600,
    ).is_due
    assert not due_state(
        prev_slot=T,
        next_slot=nxt,
        last_run_at=T + timedelta(seconds=1),
        now=T + timedelta(minutes=5),
        grace_s=3600,
    ).is_due
    late = due_state(
        prev_slot=T,
        next_slot=nxt,
        last_run_at=T - timedelta(days=1),
        now=T + timedelta(hours=2),
        grace_s=3600,
    )
    assert not late.is_due and late.next_s == 22 * 3600
    assert not due_state(prev_slot=None, next_slot=nxt, last_run_at=T, now=T, grace_s=3600).is_due


def test_initial_last_run_new_recent_miss_and_old_miss():
    now = T + timedelta(minutes=30)
    assert initial_last_run(stored=None, now=now, prev_slot=T, grace_s=3600) == (now, None)
    seen = T - timedelta(hours=5)
    assert initial_last_run(stored=seen, now=now, prev_slot=T, grace_s=3600) == (seen, None)  # runs once
    assert initial_last_run(stored=seen, now=T + timedelta(hours=2), prev_slot=T, grace_s=3600) == (
        T + timedelta(hours=2),
        T,
    )  # skipped, reported
    ran = T + timedelta(seconds=1)
    assert initial_last_run(stored=ran, now=now, prev_slot=T, grace_s=3600) == (ran, None)
