"""save_enrichments: the consultations of one enrichment round in one statement and one commit."""

from __future__ import annotations

import pytest

from pims_sync.errors import NotFound

from .factories import make_cases


def _ids(store, clinic_id) -> dict[str, str]:
    return {r["external_id"]: r["id"] for r in store.list_cases(clinic_id, include_deleted=True)}


def _consultations(store, clinic_id) -> dict[str, dict | None]:
    return {r["id"]: r["metadata"].get("pimsConsultation") for r in store.list_cases(clinic_id)}


def test_several_cases_saved_in_one_call_with_their_changed_flags(store, clinic):
    cases = make_cases(clinic.id, 4)
    store.upsert_cases(clinic.id, cases)
    ids = [_ids(store, clinic.id)[c.external_id] for c in cases]
    first = {"id": "cons-0", "notes": "S: bright", "complete": True}
    assert store.save_enrichment(clinic.id, ids[0], first) is True

    # the answer is in the caller's order, which is not the case ids' order
    items = [
        (ids[2], {"id": "cons-2", "vitals": {"weight_kg": 12.5}}),
        (ids[0], first),  # unchanged: False, and not rewritten
        (ids[3], {"id": "cons-3", "complete": False}),
        (ids[1], {"id": "cons-1", "products": [{"name": "Ear drops"}]}),
    ]
    enriched_before = {r["id"]: r["enriched_at"] for r in store.list_cases(clinic.id)}
    assert store.save_enrichments(clinic.id, items) == [True, False, True, True]
    stored = _consultations(store, clinic.id)
    assert {case_id: stored[case_id] for case_id, _ in items} == dict(items)
    after = {r["id"]: r["enriched_at"] for r in store.list_cases(clinic.id)}
    assert after[ids[0]] == enriched_before[ids[0]]
    assert all(after[i] is not None for i in ids)

    # the same batch again changes nothing; a changed consultation is written again
    assert store.save_enrichments(clinic.id, items) == [False, False, False, False]
    items[1] = (ids[0], {**first, "notes": "S: bright. Addendum"})
    assert store.save_enrichments(clinic.id, items) == [False, True, False, False]
    assert _consultations(store, clinic.id)[ids[0]]["notes"] == "S: bright. Addendum"


def test_no_items_is_no_write(store, clinic):
    assert store.save_enrichments(clinic.id, []) == []


def test_another_clinics_case_refuses_the_whole_batch(store, clinic):
    other = store.create_clinic(name="Other", timezone="UTC")
    store.upsert_cases(clinic.id, make_cases(clinic.id, 2))
    store.upsert_cases(other.id, make_cases(other.id, 1))
    mine = sorted(_ids(store, clinic.id).values())
    (theirs,) = _ids(store, other.id).values()
    items = [(mine[0], {"id": "a"}), (theirs, {"id": "b"}), (mine[1], {"id": "c"})]
    with pytest.raises(NotFound):
        store.save_enrichments(clinic.id, items)
    # all or nothing: neither clinic's cases were written
    assert set(_consultations(store, clinic.id).values()) == {None}
    assert set(_consultations(store, other.id).values()) == {None}
    with pytest.raises(NotFound):
        store.save_enrichments(clinic.id, [(mine[0], {"id": "a"}), ("00000000-0000-0000-0000-000000000000", {})])
    with pytest.raises(NotFound):
        store.save_enrichments(clinic.id, [(mine[0], {"id": "a"}), ("not-a-uuid", {})])
    assert set(_consultations(store, clinic.id).values()) == {None}
