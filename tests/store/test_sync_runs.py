"""create_sync_runs: a sync's queued rows in one statement, with create_audit's semantics."""

from __future__ import annotations

import uuid

import pytest

from pims_sync.errors import NotFound, ValidationError
from pims_sync.sync.runner import create_sync_audits

pytestmark = pytest.mark.store_contract

PHASE_TYPES = ["inbound", "cases", "reconciliation"]


def test_full_sync_rows_in_one_call(store, clinic):
    top, children = store.create_sync_runs(clinic_id=clinic.id, sync_type="full", trigger="api",
                                           phase_types=PHASE_TYPES)
    assert (top.sync_type, top.status, top.parent_id, top.trigger) == ("full", "queued", None, "api")
    assert [c.sync_type for c in children] == PHASE_TYPES
    assert {c.parent_id for c in children} == {top.id}
    assert {(c.status, c.trigger, c.clinic_id) for c in children} == {("queued", "api", clinic.id)}
    # the phases' order is the rows' order wherever they are read back
    assert [c.id for c in store.child_audits(top.id)] == [c.id for c in children]


def test_idempotent_on_the_sync_id_and_tenant_scoped(store, clinic):
    other_clinic = store.create_clinic(name="Other", timezone="UTC")
    sync_id = str(uuid.uuid4())
    first, _ = store.create_sync_runs(clinic_id=clinic.id, sync_type="inbound", trigger="cli", audit_id=sync_id)
    again, children = store.create_sync_runs(clinic_id=clinic.id, sync_type="inbound", trigger="cli",
                                              audit_id=sync_id)
    assert first.id == again.id == sync_id and children == []
    assert again.created_at == first.created_at  # the existing row, not a new one
    with pytest.raises(NotFound):
        store.create_sync_runs(clinic_id=other_clinic.id, sync_type="inbound", trigger="cli", audit_id=sync_id)


def test_bad_values_are_refused_before_the_database(store, clinic):
    with pytest.raises(ValidationError):
        store.create_sync_runs(clinic_id=clinic.id, sync_type="full", trigger="api", phase_types=["bogus"])
    with pytest.raises(ValidationError):
        store.create_sync_runs(clinic_id=clinic.id, sync_type="full", trigger="nobody")


def test_create_sync_audits_maps_each_phase_to_its_row(store, clinic):
    audits = create_sync_audits(store, clinic_id=clinic.id, sync_type="full", trigger="schedule")
    rows = {a.id: a for a in store.child_audits(audits.sync_id)}
    assert {phase: rows[audit_id].sync_type for phase, audit_id in audits.phases.items()} == {
        "inbound": "inbound", "cases": "cases", "reconcile": "reconciliation"}
    assert store.get_audit(audits.sync_id).sync_type == "full"
