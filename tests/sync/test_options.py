"""SyncType (one statement of phases and audit names) and SyncOptions' refusals, read from its own fields."""

from __future__ import annotations

from datetime import date

import pytest

from pims_sync.errors import ValidationError
from pims_sync.sync.options import (
    AUDIT_TYPE_FOR_PHASE,
    PHASE_OF_AUDIT_TYPE,
    PHASES_FOR,
    SYNC_TYPE_NAMES,
    SyncOptions,
    SyncType,
)
from pims_sync.validation import bounds, describe


class TestSyncType:
    def test_both_spellings_name_the_same_type(self):
        assert SyncType.parse("reconcile") is SyncType.parse("reconciliation") is SyncType.RECONCILE
        assert [t.audit_name for t in SyncType] == ["full", "inbound", "cases", "reconciliation"]
        assert SYNC_TYPE_NAMES == ("full", "inbound", "cases", "reconcile", "reconciliation")

    def test_unknown_is_refused_naming_the_choices(self):
        with pytest.raises(ValueError, match="reconciliation"):
            SyncType.parse("weekly")

    def test_the_derived_tables_agree_with_the_enum(self):
        assert PHASES_FOR["full"] == ("inbound", "cases", "reconcile")
        assert PHASES_FOR["reconciliation"] == PHASES_FOR["reconcile"] == ("reconcile",)
        assert AUDIT_TYPE_FOR_PHASE == {"inbound": "inbound", "cases": "cases", "reconcile": "reconciliation"}
        assert {v: k for k, v in AUDIT_TYPE_FOR_PHASE.items()} == PHASE_OF_AUDIT_TYPE


class TestSyncOptions:
    def test_every_problem_is_listed_with_the_model_bounds(self):
        lo, hi = bounds(SyncOptions.model_fields["days_ahead"])
        b_lo, b_hi = bounds(SyncOptions.model_fields["parallel_batch_size"])
        with pytest.raises(ValidationError) as caught:
            SyncOptions.from_dict({"daysAhead": hi + 1, "parallel_batch_size": b_hi + 1, "nope": 1})
        errors = {e["field"]: e["message"] for e in caught.value.details["errors"]}
        assert errors["daysAhead"] == f"must be an integer from {lo} to {hi}"
        assert errors["parallelBatchSize"] == f"must be an integer from {b_lo} to {b_hi}"
        assert errors["nope"].startswith("unknown option (allowed: daysAhead,")

    def test_dates_are_bounded_by_the_field(self):
        first, last = bounds(SyncOptions.model_fields["start_date"])
        assert isinstance(first, date) and isinstance(last, date)
        assert SyncOptions.from_dict({"startDate": first.isoformat()}).start_date == first
        with pytest.raises(ValidationError, match=f"from {first} to {last}"):
            SyncOptions.from_dict({"startDate": date(first.year - 1, 12, 31).isoformat()})

    @pytest.mark.parametrize("value", [20260117, "2026-01-17T00:00:00", "20260117", True])
    def test_a_day_is_only_a_date_or_an_iso_string(self, value):
        with pytest.raises(ValidationError, match="startDate"):
            SyncOptions.from_dict({"startDate": value})

    def test_task_kwargs_round_trip_and_are_frozen(self):
        opts = SyncOptions(days_ahead=3, start_date=date(2026, 1, 17), end_date=date(2026, 1, 20))
        assert SyncOptions.from_dict(opts.to_dict()) == opts
        assert opts.to_dict()["start_date"] == "2026-01-17"
        with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
            opts.days_ahead = 4  # type: ignore[misc]

    def test_the_words_follow_the_field(self):
        fields = SyncOptions.model_fields
        assert describe(fields["force"]) == "true or false"
        assert describe(fields["max_delete_ratio"]) == "a number from 0 to 1"
        assert describe(fields["end_date"]).startswith("a real calendar date YYYY-MM-DD from ")
