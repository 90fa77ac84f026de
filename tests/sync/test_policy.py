"""Pure sync policy: windows, the reconciliation guard, free slots, result shapes."""

from datetime import UTC, date, datetime, timedelta

import pytest

from pims_sync.errors import ValidationError
from pims_sync.models import Appointment, BusinessHours, CaseRef, ScheduleConfig
from pims_sync.sync.options import SyncOptions, day_window
from pims_sync.sync.reconcile import plan_reconciliation
from pims_sync.sync.results import PhaseResult, full_sync_response
from pims_sync.sync.slots import free_slots


def ref(i, deleted=False):
    return CaseRef(
        id=f"case-{i}",
        external_id=f"pims-appt-idexx-neo-{i}",
        scheduled_at=datetime(2026, 11, 20, tzinfo=UTC),
        status="scheduled",
        deleted_at=datetime(2026, 11, 21, tzinfo=UTC) if deleted else None,
    )


def ext(i):
    return f"pims-appt-idexx-neo-{i}"


class TestReconcilePlan:
    def test_deletes_vanished_and_restores_reappeared(self):
        stored = [ref(i) for i in range(10)] + [ref(99, deleted=True)]
        plan = plan_reconciliation(stored, {ext(i) for i in range(1, 10)} | {ext(99)})
        assert plan.to_delete == ("case-0",)
        assert plan.to_restore == ("case-99",)
        assert plan.abort_reason is None
        assert plan.checked == 11

    def test_empty_upstream_with_cases_aborts(self):
        plan = plan_reconciliation([ref(i) for i in range(3)], set())
        assert plan.abort_reason and "no appointments" in plan.abort_reason

    def test_large_drop_aborts_unless_forced(self):
        stored = [ref(i) for i in range(10)]
        half = {ext(i) for i in range(5)}
        assert "50%" in plan_reconciliation(stored, half).abort_reason
        forced = plan_reconciliation(stored, half, force=True)
        assert forced.abort_reason is None and len(forced.to_delete) == 5

    def test_ratio_is_configurable_and_boundary_inclusive(self):
        stored = [ref(i) for i in range(10)]
        two_gone = {ext(i) for i in range(2, 10)}
        assert plan_reconciliation(stored, two_gone, max_delete_ratio=0.2).abort_reason is None
        assert plan_reconciliation(stored, two_gone, max_delete_ratio=0.1).abort_reason is not None

    def test_empty_window_and_empty_upstream_is_fine(self):
        plan = plan_reconciliation([], set())
        assert plan.abort_reason is None and plan.to_delete == ()


class TestOptions:
    def test_camel_case_body_and_round_trip(self):
        opts = SyncOptions.from_dict({"daysAhead": 3, "startDate": "2026-01-17", "parallelBatchSize": 10})
        assert opts.days_ahead == 3 and opts.start_date == date(2026, 1, 17)
        assert SyncOptions.from_dict(opts.to_dict()) == opts

    @pytest.mark.parametrize(
        "body",
        [
            {"daysAhead": 91},
            {"daysAhead": -1},
            {"lookbackDays": 0},
            {"parallelBatchSize": 21},
            {"parallelBatchSize": "5"},
            {"daysAhead": True},
            {"startDate": "2026-02-10", "endDate": "2026-02-01"},
            {"startDate": "2026-01-01", "endDate": "2026-06-01"},
            {"endDate": "2026-02-01"},
            {"startDate": "17/01/2026"},
            {"startDate": "2026-1-7"},
            {"force": "yes"},
            {"clinicId": "someone-else"},
        ],
    )
    def test_rejects_bad_input(self, body):
        with pytest.raises(ValidationError):
            SyncOptions.from_dict(body)

    def test_windows_are_clinic_local_days(self):
        # 03:00 UTC on the 26th is still the 25th in Los Angeles
        now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
        w = SyncOptions(days_ahead=0).inbound_window("America/Los_Angeles", now=now)
        assert w.start == w.end == date(2026, 11, 25)
        assert w.start_utc == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
        r = SyncOptions(lookback_days=7).reconcile_window("Australia/Sydney", now=now)
        assert r.end == date(2026, 11, 26) and r.start == date(2026, 11, 19)

    def test_dst_day_window_is_23_or_25_hours(self):
        spring = day_window("America/New_York", date(2026, 3, 8), date(2026, 3, 8))
        fall = day_window("America/New_York", date(2026, 11, 1), date(2026, 11, 1))
        assert spring.end_utc - spring.start_utc == timedelta(hours=23)
        assert fall.end_utc - fall.start_utc == timedelta(hours=25)


def appt(start, minutes=30, status="scheduled"):
    return Appointment(id="1", start=start, end=start + timedelta(minutes=minutes), status=status, type="checkup")


class TestFreeSlots:
    config = ScheduleConfig(
        slot_minutes=30,
        business_hours=(BusinessHours(weekday=3, opens="09:00", closes="11:00"),),  # Thursday
        providers=("Dr A",),
        rooms=("Exam 1", "Exam 2"),
    )

    def test_rooms_are_capacity_and_cancelled_do_not_book(self):
        day = date(2026, 11, 26)  # a Thursday; New York is UTC-5
        nine = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
        booked = [appt(nine), appt(nine), appt(nine + timedelta(minutes=30)), appt(nine + timedelta(hours=1), status="cancelled")]
        slots = free_slots(day, "America/New_York", self.config, booked)
        starts = [s["start"][11:16] for s in slots]
        assert starts == ["09:30", "10:00", "10:30"]  # 09:00 is full (2 rooms, 2 bookings)
        assert slots[0]["available"] == 1 and slots[1]["available"] == 2

    def test_closed_day_has_no_slots(self):
        assert free_slots(date(2026, 11, 29), "America/New_York", self.config, []) == []


def test_full_response_has_the_seed_shape():
    results = {
        "inbound": PhaseResult("inbound", "completed", {"appointmentsFound": 2, "casesCreated": 2}),
        "cases": PhaseResult("cases", "completed", {"casesFound": 1, "casesEnriched": 1, "failed": 0}),
        "reconcile": PhaseResult("reconcile", "aborted", {"casesChecked": 4}, error="guard"),
    }
    body = full_sync_response("sync-1", results, duration_ms=12)
    assert body["success"] is False and body["syncId"] == "sync-1"
    assert body["inboundResult"] == {
        "success": True,
        "stats": {"appointmentsFound": 2, "casesCreated": 2, "casesUpdated": 0, "casesSkipped": 0},
        "status": "completed",
    }
    assert list(body["casesResult"]["stats"])[:3] == ["casesFound", "casesEnriched", "casesSkipped"]
    assert body["reconciliationResult"]["stats"]["casesDeleted"] == 0
    assert body["timestamp"].endswith("Z") and body["durationMs"] == 12
    assert body["status"] == "partial" and body["errors"][0]["phase"] == "reconcile"
