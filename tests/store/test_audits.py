"""Sync audits through the Store: lifecycle, phases, history paging, stale sweep, tenancy."""

from __future__ import annotations

import uuid

import pytest

from pims_sync.errors import NotFound, ValidationError


def test_lifecycle_create_start_progress_finish(store, clinic):
    audit = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    assert (audit.status, audit.attempts, audit.started_at) == ("queued", 0, None)

    started = store.start_audit(audit.id, task_id="task-1")
    assert started.status == "in_progress" and started.attempts == 1 and started.task_id == "task-1"
    assert started.started_at is not None

    store.update_audit_progress(
        audit.id, processed=5, total=20, stats={"appointmentsFound": 20}, phase="fetch"
    )
    mid = store.get_audit(audit.id)
    assert (mid.processed_items, mid.total_items, mid.phase) == (5, 20, "fetch")
    assert mid.stats["appointmentsFound"] == 20

    stats = {
        "appointmentsFound": 20,
        "casesCreated": 12,
        "casesUpdated": 3,
        "casesSkipped": 5,
        "casesDeleted": 1,
        "casesRestored": 2,
        "casesEnriched": 7,
        "failed": 0,
    }
    done = store.finish_audit(audit.id, status="completed", stats=stats)
    assert done.status == "completed"
    assert (done.appointments_found, done.cases_created, done.cases_updated, done.cases_skipped) == (
        20,
        12,
        3,
        5,
    )
    assert (done.cases_deleted, done.cases_restored, done.cases_enriched, done.failed) == (1, 2, 7, 0)
    assert done.finished_at >= done.started_at
    assert done.duration_ms is not None and done.duration_ms >= 0
    assert store.get_audit(audit.id) == done


def test_redelivery_counts_attempts_and_keeps_first_start(store, clinic):
    audit = store.create_audit(clinic_id=clinic.id, sync_type="cases", trigger="schedule")
    first = store.start_audit(audit.id, task_id="t1")
    again = store.start_audit(audit.id, task_id="t2")
    assert again.attempts == 2 and again.task_id == "t2" and again.started_at == first.started_at


def test_failed_with_error(store, clinic):
    audit = store.create_audit(clinic_id=clinic.id, sync_type="reconciliation", trigger="cli")
    done = store.finish_audit(audit.id, status="failed", error="PIMS unavailable")
    assert done.status == "failed" and done.error_message == "PIMS unavailable"
    assert done.duration_ms is not None  # from created_at when it never started


def test_create_is_idempotent_on_audit_id(store, clinic):
    sync_id = str(uuid.uuid4())
    a = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api", audit_id=sync_id)
    b = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api", audit_id=sync_id)
    assert a.id == b.id == sync_id and a.created_at == b.created_at


def test_bad_values_are_validation_errors(store, clinic):
    with pytest.raises(ValidationError):
        store.create_audit(clinic_id=clinic.id, sync_type="weird", trigger="api")
    with pytest.raises(ValidationError):
        store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="cron")
    audit = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    with pytest.raises(ValidationError):
        store.finish_audit(audit.id, status="done")


def test_full_sync_phases_are_children(store, clinic):
    parent = store.create_audit(clinic_id=clinic.id, sync_type="full", trigger="api")
    phases = [
        store.create_audit(clinic_id=clinic.id, sync_type=t, trigger="api", parent_id=parent.id)
        for t in ("inbound", "cases", "reconciliation")
    ]
    children = store.child_audits(parent.id)
    assert [c.id for c in children] == [p.id for p in phases]
    assert all(c.parent_id == parent.id for c in children)
    # history shows the full sync once, not its phases
    page = store.sync_history(clinic.id)
    assert [a.id for a in page.audits] == [parent.id]


def test_unknown_audit_and_other_clinic_are_not_found(store, clinic):
    audit = store.create_audit(clinic_id=clinic.id, sync_type="inbound", trigger="api")
    other = store.create_clinic(name="Other", timezone="UTC")
    assert store.get_audit(audit.id, clinic_id=clinic.id).id == audit.id
    with pytest.raises(NotFound):
        store.get_audit(audit.id, clinic_id=other.id)
    missing = str(uuid.uuid4())
    for call in (
        lambda: store.get_audit(missing),
        lambda: store.get_audit("nope"),
        lambda: store.start_audit(missing),
        lambda: store.finish_audit(missing, status="completed"),
        lambda: store.update_audit_progress(missing, processed=1, total=1, stats={}),
    ):
        with pytest.raises(NotFound):
            call()


def test_audit_for_unknown_clinic_is_not_found(store):
    with pytest.raises(NotFound):
        store.create_audit(clinic_id=str(uuid.uuid4()), sync_type="inbound", trigger="api")


def test_history_paging_counts_and_success_rate(store, clinic):
    statuses = ["completed"] * 5 + ["failed"] * 2 + ["partial"] + ["in_progress"] * 2
    made = []
    for i, status in enumerate(statuses):
        a = store.create_audit(clinic_id=clinic.id, sync_type="inbound" if i % 2 else "cases", trigger="api")
        if status == "in_progress":
            store.start_audit(a.id)
        else:
            store.finish_audit(a.id, status=status)
        made.append(a.id)
    newest_first = list(reversed(made))

    seen, cursor, pages = [], None, 0
    while True:
        page = store.sync_history(clinic.id, limit=3, cursor=cursor)
        assert (page.total, page.succeeded, page.failed) == (10, 5, 3)
        seen += [a.id for a in page.audits]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == newest_first and pages == 4
    assert page.success_rate == pytest.approx(5 / 8)

    only_cases = store.sync_history(clinic.id, sync_type="cases", limit=50)
    assert [a.id for a in only_cases.audits] == newest_first[1::2]
    assert only_cases.total == 5

    # all clinics: ours are among them
    everything = store.sync_history(None, limit=200)
    assert set(made) <= {a.id for a in everything.audits}
    assert everything.total >= 10


def test_history_of_a_clinic_without_syncs(store, clinic):
    page = store.sync_history(clinic.id)
    assert page.audits == () and page.next_cursor is None and page.success_rate is None


def test_bad_cursor_is_a_validation_error(store, clinic):
    with pytest.raises(ValidationError):
        store.sync_history(clinic.id, cursor="!!!not-a-cursor")
