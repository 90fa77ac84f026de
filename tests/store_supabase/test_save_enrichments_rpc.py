"""SupabaseStore.save_enrichments through the rpc path on real PostgreSQL: the same answers as PostgresStore's."""

from __future__ import annotations

import pytest

from pims_sync.errors import NotFound
from tests.store.factories import make_cases

from .test_rpc_on_postgres import rest  # noqa: F401  (the fixture: a SupabaseStore on PostgREST's rpc semantics)


def test_save_enrichments_through_rpc(rest, store, clinic):  # noqa: F811
    cases = make_cases(clinic.id, 3)
    store.upsert_cases(clinic.id, cases)
    ids = {r["external_id"]: r["id"] for r in store.list_cases(clinic.id)}
    a, b, c = (ids[x.external_id] for x in cases)
    items = [(c, {"id": "cons-c", "complete": True}), (a, {"id": "cons-a", "vitals": {"weight_kg": 4.2}})]
    assert rest.save_enrichments(clinic.id, items) == [True, True]
    assert rest.save_enrichments(clinic.id, [*items, (b, {"id": "cons-b"})]) == [False, False, True]
    stored = {r["id"]: r["metadata"].get("pimsConsultation") for r in store.list_cases(clinic.id)}
    assert stored == {c: {"id": "cons-c", "complete": True}, a: {"id": "cons-a", "vitals": {"weight_kg": 4.2}},
                      b: {"id": "cons-b"}}
    assert rest.save_enrichments(clinic.id, []) == []

    other = store.create_clinic(name="Other", timezone="UTC")
    with pytest.raises(NotFound):
        rest.save_enrichments(other.id, [(a, {"id": "changed"})])
    with pytest.raises(NotFound):
        rest.save_enrichments(clinic.id, [(a, {"id": "changed"}), ("00000000-0000-0000-0000-000000000000", {})])
    assert all(r["metadata"]["pimsConsultation"]["id"] != "changed" for r in store.list_cases(clinic.id))
