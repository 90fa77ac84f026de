"""Cases through the Store: batch upsert semantics, enrichment, windows, soft delete/restore."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from pims_sync.errors import NotFound, ValidationError
from pims_sync.models import CASE_SOURCE_IDEXX, UpsertResult

from .factories import BASE, make_case, make_cases, with_pims_status


def test_upsert_1000_then_same_batch_is_all_unchanged(store, clinic):
    cases = make_cases(clinic.id, 1000)
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=1000, updated=0, unchanged=0)
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=0, updated=0, unchanged=1000)
    assert len(store.list_cases(clinic.id)) == 1000


def test_changed_row_is_updated_and_stored(store, clinic):
    cases = make_cases(clinic.id, 5)
    store.upsert_cases(clinic.id, cases)
    changed = list(cases)
    changed[2] = replace(with_pims_status(cases[2], "arrived"), room="Room 9")
    changed[4] = replace(cases[4], metadata={"pimsAppointment": {"id": "10004", "title": "Moved"}})
    assert store.upsert_cases(clinic.id, changed) == UpsertResult(created=0, updated=2, unchanged=3)
    by_ext = {r["external_id"]: r for r in store.list_cases(clinic.id)}
    assert by_ext[cases[2].external_id]["status"] == "ongoing"
    assert by_ext[cases[2].external_id]["pims_status"] == "arrived"
    assert by_ext[cases[2].external_id]["room"] == "Room 9"
    assert by_ext[cases[4].external_id]["metadata"]["pimsAppointment"]["title"] == "Moved"


def test_new_and_existing_in_one_batch(store, clinic):
    store.upsert_cases(clinic.id, make_cases(clinic.id, 3))
    batch = make_cases(clinic.id, 5)
    batch[0] = replace(batch[0], patient_name="Renamed")
    assert store.upsert_cases(clinic.id, batch) == UpsertResult(created=2, updated=1, unchanged=2)


def test_empty_batch(store, clinic):
    assert store.upsert_cases(clinic.id, []) == UpsertResult()


def test_repeated_key_in_one_batch_keeps_the_last(store, clinic):
    first = make_case(clinic.id, 1)
    last = with_pims_status(first, "completed")
    result = store.upsert_cases(clinic.id, [first, last])
    assert result.created == 1 and result.created + result.updated + result.unchanged == 2
    (row,) = store.list_cases(clinic.id)
    assert (row["status"], row["pims_status"]) == ("completed", "completed")


def test_case_of_another_clinic_is_refused(store, clinic):
    other = store.create_clinic(name="Other", timezone="UTC")
    with pytest.raises(ValidationError):
        store.upsert_cases(clinic.id, [make_case(other.id, 1)])


def test_bad_status_is_a_store_error_naming_the_constraint(store, clinic):
    from pims_sync.errors import StoreError

    with pytest.raises(StoreError, match="cases_status_check") as err:
        store.upsert_cases(clinic.id, [make_case(clinic.id, 1, status="exploded")])
    assert "client1@example.test" not in str(err.value)  # no row values (client PII) in errors


def test_list_cases_returns_every_column(store, clinic):
    store.upsert_cases(clinic.id, [make_case(clinic.id, 1)])
    (row,) = store.list_cases(clinic.id)
    for column in (
        "id",
        "clinic_id",
        "source",
        "external_id",
        "client_phone_e164",
        "metadata",
        "enriched_at",
        "deleted_at",
        "created_at",
        "updated_at",
        "ends_at",
        "consultation_external_id",
        "pims_status",
        "pims_type",
        "sync_status",
        "user_id",
    ):
        assert column in row
    assert row["clinic_id"] == clinic.id
    assert row["scheduled_at"] == BASE + timedelta(minutes=15)
    # the product's vocabulary in status, the PIMS's beside it; our type where the column takes it
    assert (row["status"], row["pims_status"], row["sync_status"]) == ("draft", "scheduled", "draft")
    assert (row["type"], row["pims_type"]) == ("checkup", "checkup")


def _ids(store, clinic_id):
    return {r["external_id"]: r["id"] for r in store.list_cases(clinic_id, include_deleted=True)}


def test_enrichment_is_saved_and_not_clobbered_by_a_later_upsert(store, clinic):
    cases = make_cases(clinic.id, 2)
    store.upsert_cases(clinic.id, cases)
    case_id = _ids(store, clinic.id)[cases[0].external_id]
    consultation = {"id": "cons-0", "notes": "S: bright O: T 38.6", "complete": True}

    assert store.save_enrichment(clinic.id, case_id, consultation) is True
    assert store.save_enrichment(clinic.id, case_id, consultation) is False  # nothing changed

    # inbound upsert again (unchanged and then changed): pimsConsultation survives both
    assert store.upsert_cases(clinic.id, cases).unchanged == 2
    moved = [replace(cases[0], room="Room 2", metadata={"pimsAppointment": {"id": "x"}}), cases[1]]
    assert store.upsert_cases(clinic.id, moved).updated == 1
    row = next(r for r in store.list_cases(clinic.id) if r["id"] == case_id)
    assert row["metadata"]["pimsConsultation"] == consultation
    assert row["metadata"]["pimsAppointment"] == {"id": "x"}
    assert row["room"] == "Room 2"
    assert row["enriched_at"] is not None


def test_save_enrichment_of_unknown_case_or_other_clinic_is_not_found(store, clinic):
    store.upsert_cases(clinic.id, [make_case(clinic.id, 1)])
    case_id = next(iter(_ids(store, clinic.id).values()))
    other = store.create_clinic(name="Other", timezone="UTC")
    with pytest.raises(NotFound):
        store.save_enrichment(other.id, case_id, {"id": "x"})
    with pytest.raises(NotFound):
        store.save_enrichment(clinic.id, "00000000-0000-0000-0000-000000000000", {"id": "x"})


def test_cases_needing_enrichment(store, clinic):
    cases = make_cases(clinic.id, 6)
    cases[5] = replace(cases[5], consultation_external_id=None)
    store.upsert_cases(clinic.id, cases)
    ids = _ids(store, clinic.id)
    start, end = BASE, BASE + timedelta(minutes=15 * 5)  # cases 0..4; [start, end) excludes 5
    assert [r.external_id for r in store.cases_needing_enrichment(clinic.id, start, end)] == [
        c.external_id for c in cases[:5]
    ]
    store.save_enrichment(clinic.id, ids[cases[0].external_id], {"id": "cons-0", "complete": True})
    store.save_enrichment(clinic.id, ids[cases[1].external_id], {"id": "cons-1", "complete": False})
    store.soft_delete_cases(clinic.id, [ids[cases[2].external_id]])
    need = store.cases_needing_enrichment(clinic.id, start, end)
    # 0 done; 1 incomplete so still wanted; 2 deleted
    assert [r.external_id for r in need] == [cases[i].external_id for i in (1, 3, 4)]
    assert need[0].consultation_external_id == "cons-1" and need[0].enriched_at is not None
    # stale_before in the future: everything enriched before it is wanted again
    stale = store.cases_needing_enrichment(clinic.id, start, end, stale_before=BASE.replace(year=2100))
    assert [r.external_id for r in stale] == [cases[i].external_id for i in (0, 1, 3, 4)]


def test_soft_delete_restore_and_window(store, clinic):
    cases = make_cases(clinic.id, 4)
    store.upsert_cases(clinic.id, cases)
    ids = _ids(store, clinic.id)
    doomed = [ids[cases[1].external_id], ids[cases[2].external_id]]

    assert store.soft_delete_cases(clinic.id, doomed) == 2
    assert store.soft_delete_cases(clinic.id, doomed) == 0  # already deleted
    assert len(store.list_cases(clinic.id)) == 2
    every = {r["id"]: r for r in store.list_cases(clinic.id, include_deleted=True)}
    assert len(every) == 4
    for case_id in doomed:  # what the product's screens read: reviewed, and the marker in metadata
        assert every[case_id]["status"] == "reviewed" and every[case_id]["deleted_at"] is not None
        assert isinstance(every[case_id]["metadata"]["reconciliation"], dict)
        assert every[case_id]["metadata"]["pimsAppointment"]["id"]  # our keys stay

    window = (BASE, BASE + timedelta(hours=2))
    refs = store.cases_in_window(clinic.id, *window, source=CASE_SOURCE_IDEXX)
    assert len(refs) == 4 and sum(r.deleted_at is not None for r in refs) == 2
    live = store.cases_in_window(clinic.id, *window, source=CASE_SOURCE_IDEXX, include_deleted=False)
    assert {r.id for r in live} == set(ids.values()) - set(doomed)
    assert store.cases_in_window(clinic.id, *window, source="pims:other") == []

    assert store.restore_cases(clinic.id, doomed[:1]) == 1
    assert store.restore_cases(clinic.id, doomed[:1]) == 0
    assert len(store.list_cases(clinic.id)) == 3
    back = next(r for r in store.list_cases(clinic.id) if r["id"] == doomed[0])
    assert back["status"] == "draft" and "reconciliation" not in back["metadata"]  # scheduled -> draft
    assert store.soft_delete_cases(clinic.id, []) == 0
    assert store.soft_delete_cases(clinic.id, ["not-a-uuid"]) == 0


def test_soft_delete_never_touches_another_clinic(store, clinic):
    store.upsert_cases(clinic.id, make_cases(clinic.id, 2))
    other = store.create_clinic(name="Other", timezone="UTC")
    assert store.soft_delete_cases(other.id, list(_ids(store, clinic.id).values())) == 0
    assert len(store.list_cases(clinic.id)) == 2


def test_deleted_case_reappearing_upstream_is_restored_by_upsert(store, clinic):
    cases = make_cases(clinic.id, 2)
    store.upsert_cases(clinic.id, cases)
    store.soft_delete_cases(clinic.id, [_ids(store, clinic.id)[cases[0].external_id]])
    assert store.upsert_cases(clinic.id, cases) == UpsertResult(created=0, updated=1, unchanged=1)
    assert len(store.list_cases(clinic.id)) == 2
    back = next(r for r in store.list_cases(clinic.id) if r["external_id"] == cases[0].external_id)
    assert back["status"] == "draft" and "reconciliation" not in back["metadata"]


def test_refs_carry_the_product_status(store, clinic):
    cases = [make_case(clinic.id, 0), with_pims_status(make_case(clinic.id, 1), "in_progress")]
    store.upsert_cases(clinic.id, cases)
    refs = store.cases_in_window(clinic.id, BASE, BASE + timedelta(hours=1), source=CASE_SOURCE_IDEXX)
    assert [r.status for r in refs] == ["draft", "ongoing"]
    due = store.cases_needing_enrichment(clinic.id, BASE, BASE + timedelta(hours=1))
    assert [r.status for r in due] == ["draft", "ongoing"]
