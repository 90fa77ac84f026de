"""The exact PostgREST requests SupabaseStore sends for cases and audits: rpc for every multi-row write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import NotFound, ValidationError
from pims_sync.models import CASE_SOURCE_IDEXX, UpsertResult
from pims_sync.store import _rows as rows
from tests.store.factories import BASE, make_case, make_cases

from .fake_postgrest import PAGE, expect
from .sample_rows import (
    AUDIT_ID,
    CASE_ID,
    CASE_ID_2,
    CLINIC_ID,
    OTHER_CLINIC_ID,
    STAMP,
    audit_row,
    case_ref_row,
    case_row,
)

REF_SELECT = ("select", "id,external_id,scheduled_at,status,consultation_external_id,enriched_at,deleted_at")
START, END = BASE, BASE + timedelta(hours=2)
START_Q, END_Q = "2026-03-02T14:00:00+00:00", "2026-03-02T16:00:00+00:00"


def test_upsert_cases_is_one_rpc_per_chunk_in_key_order(sb, postgrest):
    cases = make_cases(CLINIC_ID, 501)[::-1]  # reversed: the store sorts by (source, external_id)
    postgrest.reply(
        "POST", "rpc/upsert_cases", {"created": 400, "updated": 60, "unchanged": 40, "restored": 2}
    )
    postgrest.reply("POST", "rpc/upsert_cases", {"created": 1, "updated": 0, "unchanged": 0, "restored": 0})
    assert sb.upsert_cases(CLINIC_ID, cases) == UpsertResult(created=401, updated=60, unchanged=40)
    first, second = postgrest.take()
    expect(first, "POST", "rpc/upsert_cases")
    expect(second, "POST", "rpc/upsert_cases")
    assert set(first.body) == {"p_clinic_id", "p_cases"} and first.body["p_clinic_id"] == CLINIC_ID
    assert len(first.body["p_cases"]) == 500 and len(second.body["p_cases"]) == 1
    sent = [c["external_id"] for c in first.body["p_cases"] + second.body["p_cases"]]
    assert sent == sorted(c.external_id for c in cases)
    assert {c["pims_status"] for c in first.body["p_cases"]} == {"scheduled"}  # beside the product's status
    assert {c["status"] for c in first.body["p_cases"]} == {"draft"}
    one = next(c for c in cases if c.external_id == sent[0])
    assert first.body["p_cases"][0] == {
        **rows.case_to_json(one),
        "scheduled_at": one.scheduled_at.isoformat(),
        "ends_at": one.ends_at.isoformat(),
    }


def test_upsert_cases_empty_and_foreign_batches_send_nothing(sb, postgrest):
    assert sb.upsert_cases(CLINIC_ID, []) == UpsertResult()
    with pytest.raises(ValidationError):
        sb.upsert_cases(CLINIC_ID, [make_case(OTHER_CLINIC_ID, 1)])
    assert postgrest.take() == []


def test_cases_needing_enrichment_filters(sb, postgrest):
    postgrest.reply("GET", "cases", [case_ref_row(enriched_at=STAMP)])
    (ref,) = sb.cases_needing_enrichment(CLINIC_ID, START, END)
    assert ref.id == CASE_ID and ref.enriched_at == datetime.fromisoformat(STAMP)
    sb.cases_needing_enrichment(CLINIC_ID, START, END, stale_before=datetime(2026, 3, 1, tzinfo=UTC))
    fresh, stale = postgrest.take()
    common = [
        REF_SELECT,
        ("clinic_id", f"eq.{CLINIC_ID}"),
        ("deleted_at", "is.null"),
        ("scheduled_at", f"gte.{START_Q}"),
        ("scheduled_at", f"lt.{END_Q}"),
        ("consultation_external_id", "not.is.null"),
        ("order", "scheduled_at.asc,id.asc"),
        *PAGE,
    ]
    expect(
        fresh,
        "GET",
        "cases",
        [*common, ("or", "(enriched_at.is.null,metadata->pimsConsultation->>complete.eq.false)")],
    )
    expect(
        stale,
        "GET",
        "cases",
        [
            *common,
            (
                "or",
                '(enriched_at.is.null,enriched_at.lt."2026-03-01T00:00:00+00:00",'
                "metadata->pimsConsultation->>complete.eq.false)",
            ),
        ],
    )


def test_save_enrichment_calls_the_function(sb, postgrest):
    postgrest.reply("POST", "rpc/save_case_enrichment", True)
    postgrest.reply("POST", "rpc/save_case_enrichment", False)
    consultation = {"id": "cons-1", "notes": "S: bright", "complete": True}
    assert sb.save_enrichment(CLINIC_ID, CASE_ID, consultation) is True
    assert sb.save_enrichment(CLINIC_ID, CASE_ID, consultation) is False
    for req in postgrest.take():
        expect(
            req,
            "POST",
            "rpc/save_case_enrichment",
            body={"p_clinic_id": CLINIC_ID, "p_case_id": CASE_ID, "p_consultation": consultation},
        )


def test_cases_in_window(sb, postgrest):
    postgrest.reply("GET", "cases", [case_ref_row(), case_ref_row(CASE_ID_2, deleted_at=STAMP)])
    refs = sb.cases_in_window(CLINIC_ID, START, END, source=CASE_SOURCE_IDEXX)
    assert [r.deleted_at is not None for r in refs] == [False, True]
    sb.cases_in_window(CLINIC_ID, START, END, source=CASE_SOURCE_IDEXX, include_deleted=False)
    every, live = postgrest.take()
    common = [
        REF_SELECT,
        ("clinic_id", f"eq.{CLINIC_ID}"),
        ("source", "eq.pims:idexx-neo"),
        ("scheduled_at", f"gte.{START_Q}"),
        ("scheduled_at", f"lt.{END_Q}"),
        ("order", "scheduled_at.asc,id.asc"),
        *PAGE,
    ]
    expect(every, "GET", "cases", common)
    expect(live, "GET", "cases", [*common, ("deleted_at", "is.null")])


@pytest.mark.parametrize("fn", ["soft_delete_cases", "restore_cases"])
def test_soft_delete_and_restore_call_their_function(sb, postgrest, fn):
    postgrest.reply("POST", f"rpc/{fn}", 2)
    assert getattr(sb, fn)(CLINIC_ID, [CASE_ID, "not-a-uuid", CASE_ID_2]) == 2
    assert getattr(sb, fn)(CLINIC_ID, ["not-a-uuid"]) == 0  # no valid id: no request
    (req,) = postgrest.take()
    expect(req, "POST", f"rpc/{fn}", body={"p_clinic_id": CLINIC_ID, "p_case_ids": [CASE_ID, CASE_ID_2]})


def test_list_cases_parses_timestamps(sb, postgrest):
    postgrest.reply("GET", "cases", [case_row(deleted_at=STAMP)])
    (row,) = sb.list_cases(CLINIC_ID, include_deleted=True)
    assert row["scheduled_at"] == datetime(2026, 3, 2, 14, 15, tzinfo=UTC)
    assert row["deleted_at"] == datetime.fromisoformat(STAMP) and row["enriched_at"] is None
    assert row["metadata"] == {"pimsAppointment": {"id": "10001"}} and row["id"] == CASE_ID
    sb.list_cases(CLINIC_ID)
    every, live = postgrest.take()
    order = ("order", "scheduled_at.asc,external_id.asc,id.asc")
    expect(every, "GET", "cases", [("select", "*"), ("clinic_id", f"eq.{CLINIC_ID}"), order, *PAGE])
    expect(
        live,
        "GET",
        "cases",
        [("select", "*"), ("clinic_id", f"eq.{CLINIC_ID}"), ("deleted_at", "is.null"), order, *PAGE],
    )


def test_create_audit_inserts(sb, postgrest):
    postgrest.reply("POST", "pims_sync_runs", [audit_row()], status=201)
    audit = sb.create_audit(clinic_id=CLINIC_ID, sync_type="inbound", trigger="api")
    assert (audit.id, audit.status, audit.attempts) == (AUDIT_ID, "queued", 0)
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "pims_sync_runs",
        prefer={"return=representation"},
        body={
            "clinic_id": CLINIC_ID,
            "sync_type": "inbound",
            "trigger": "api",
            "parent_id": None,
            "status": "queued",
        },
    )


def test_create_audit_with_id_is_idempotent(sb, postgrest):
    """ON CONFLICT DO NOTHING answers no row for an existing sync: the store reads it instead."""
    postgrest.reply("POST", "pims_sync_runs", [], status=201)
    postgrest.reply("GET", "pims_sync_runs", [audit_row(status="in_progress")])
    audit = sb.create_audit(
        clinic_id=CLINIC_ID, sync_type="cases", trigger="schedule", audit_id=AUDIT_ID, parent_id=CASE_ID
    )
    assert audit.status == "in_progress"
    insert, read = postgrest.take()
    expect(
        insert,
        "POST",
        "pims_sync_runs",
        [("on_conflict", "id")],
        prefer={"return=representation", "resolution=ignore-duplicates"},
        body={
            "id": AUDIT_ID,
            "clinic_id": CLINIC_ID,
            "sync_type": "cases",
            "trigger": "schedule",
            "parent_id": CASE_ID,
            "status": "queued",
        },
    )
    expect(read, "GET", "pims_sync_runs", [("select", "*"), ("id", f"eq.{AUDIT_ID}")])


def test_create_audit_validates_before_sending(sb, postgrest):
    for bad in ({"sync_type": "weekly"}, {"trigger": "cron"}, {"status": "done"}):
        kw = {"clinic_id": CLINIC_ID, "sync_type": "inbound", "trigger": "api", **bad}
        with pytest.raises(ValidationError):
            sb.create_audit(**kw)
    assert postgrest.take() == []


def test_audit_lifecycle_functions(sb, postgrest):
    postgrest.reply("POST", "rpc/start_audit", audit_row(status="in_progress", attempts=1, task_id="t1"))
    postgrest.reply("POST", "rpc/audit_progress", None, status=204)
    postgrest.reply(
        "POST", "rpc/finish_audit", audit_row(status="completed", cases_created=4, duration_ms=1200)
    )
    started = sb.start_audit(AUDIT_ID, task_id="t1")
    assert (started.status, started.attempts, started.task_id) == ("in_progress", 1, "t1")
    assert sb.update_audit_progress(AUDIT_ID, processed=5, total=20, stats={"appointmentsFound": 20}) is None
    done = sb.finish_audit(AUDIT_ID, status="completed", stats={"casesCreated": 4}, error=None)
    assert (done.status, done.cases_created, done.duration_ms) == ("completed", 4, 1200)
    start, progress, finish = postgrest.take()
    expect(start, "POST", "rpc/start_audit", body={"p_audit_id": AUDIT_ID, "p_task_id": "t1"})
    expect(
        progress,
        "POST",
        "rpc/audit_progress",
        body={
            "p_audit_id": AUDIT_ID,
            "p_processed": 5,
            "p_total": 20,
            "p_stats": {"appointmentsFound": 20},
            "p_phase": None,
        },
    )
    expect(
        finish,
        "POST",
        "rpc/finish_audit",
        body={
            "p_audit_id": AUDIT_ID,
            "p_status": "completed",
            "p_stats": {"casesCreated": 4},
            "p_error": None,
        },
    )
    with pytest.raises(ValidationError):
        sb.finish_audit(AUDIT_ID, status="great")
    assert postgrest.take() == []


def test_get_audit_hides_other_clinics(sb, postgrest):
    postgrest.reply("GET", "pims_sync_runs", [audit_row()])
    postgrest.reply("GET", "pims_sync_runs", [audit_row()])
    assert sb.get_audit(AUDIT_ID, clinic_id=CLINIC_ID).id == AUDIT_ID
    with pytest.raises(NotFound):
        sb.get_audit(AUDIT_ID, clinic_id=OTHER_CLINIC_ID)
    with pytest.raises(NotFound):
        sb.get_audit(AUDIT_ID)
    for req in postgrest.take():
        expect(req, "GET", "pims_sync_runs", [("select", "*"), ("id", f"eq.{AUDIT_ID}")])


def test_child_audits(sb, postgrest):
    postgrest.reply("GET", "pims_sync_runs", [audit_row(CASE_ID, parent_id=AUDIT_ID, phase="inbound")])
    (child,) = sb.child_audits(AUDIT_ID)
    assert child.parent_id == AUDIT_ID and child.phase == "inbound"
    (req,) = postgrest.take()
    expect(
        req,
        "GET",
        "pims_sync_runs",
        [("select", "*"), ("parent_id", f"eq.{AUDIT_ID}"), ("order", "created_at.asc,id.asc"), *PAGE],
    )


def test_sync_history_pages_with_a_cursor(sb, postgrest):
    newer = audit_row(AUDIT_ID, created_at="2026-03-02T15:00:00.5+00:00")
    older = audit_row(CASE_ID, created_at="2026-03-02T14:00:00.25+00:00")
    postgrest.reply("POST", "rpc/sync_history_page", [newer, older])  # limit + 1 rows: there is more
    postgrest.reply("POST", "rpc/sync_history_summary", {"total": 7, "succeeded": 5, "failed": 2})
    page = sb.sync_history(CLINIC_ID, limit=1, sync_type="inbound")
    assert [a.id for a in page.audits] == [AUDIT_ID] and (page.total, page.succeeded, page.failed) == (
        7,
        5,
        2,
    )
    assert page.next_cursor is not None

    postgrest.reply("POST", "rpc/sync_history_page", [older])
    postgrest.reply("POST", "rpc/sync_history_summary", {"total": 7, "succeeded": 5, "failed": 2})
    last = sb.sync_history(CLINIC_ID, limit=1, sync_type="inbound", cursor=page.next_cursor)
    assert [a.id for a in last.audits] == [CASE_ID] and last.next_cursor is None

    first_page, first_summary, next_page, next_summary = postgrest.take()
    expect(
        first_page,
        "POST",
        "rpc/sync_history_page",
        body={
            "p_clinic_id": CLINIC_ID,
            "p_sync_type": "inbound",
            "p_limit": 2,
            "p_before_created_at": None,
            "p_before_id": None,
        },
    )
    expect(next_page, "POST", "rpc/sync_history_page")
    assert next_page.body["p_before_created_at"] == "2026-03-02T15:00:00.500000+00:00"
    assert next_page.body["p_before_id"] == AUDIT_ID
    for summary in (first_summary, next_summary):
        expect(
            summary,
            "POST",
            "rpc/sync_history_summary",
            body={"p_clinic_id": CLINIC_ID, "p_sync_type": "inbound"},
        )


def test_sync_history_of_every_clinic_and_bad_input(sb, postgrest):
    postgrest.reply("POST", "rpc/sync_history_summary", {"total": 0, "succeeded": 0, "failed": 0})
    page = sb.sync_history(None, limit=10_000)
    assert page.audits == () and page.total == 0
    listed, _ = postgrest.take()
    assert listed.body["p_clinic_id"] is None and listed.body["p_limit"] == 201  # capped at 200 (+1)
    with pytest.raises(ValidationError):
        sb.sync_history(CLINIC_ID, cursor="garbage!")
    with pytest.raises(ValidationError):
        sb.sync_history(CLINIC_ID, sync_type="weekly")
    assert postgrest.take() == []


def test_fail_stale_audits(sb, postgrest):
    postgrest.reply("POST", "rpc/fail_stale_audits", 3)
    older_than = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert sb.fail_stale_audits(older_than, reason="worker lost") == 3
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "rpc/fail_stale_audits",
        body={"p_older_than": "2026-03-02T13:00:00+00:00", "p_reason": "worker lost"},
    )
