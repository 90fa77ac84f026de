"""PostgresStore on a database adopted from the product (tests/fixtures/product_db.py, then
`db migrate`): ENUM status and type, the product's NOT NULLs on cases/keys/credentials, several
credentials rows per clinic, keys whose clinic_id the product dropped, product columns the store
must read past and never write."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from pims_sync.apikeys import generate_api_key
from pims_sync.errors import StoreError, ValidationError
from pims_sync.models import CASE_SOURCE_IDEXX, EncryptedCredentials, UpsertResult
from pims_sync.store.migrate import apply_migrations
from pims_sync.store.postgres import PostgresStore
from tests.fixtures.product_db import ProductFixture, scratch_product_database

from .factories import make_case, with_pims_status


@pytest.fixture(scope="module", params=[False, True], ids=["keys-clinic-null", "keys-clinic-dropped"])
def adopted(request) -> Iterator[ProductFixture]:
    with scratch_product_database(keys_without_clinic_column=request.param) as fx:
        apply_migrations(fx.url)
        yield fx


@pytest.fixture
def pstore(adopted) -> Iterator[PostgresStore]:
    s = PostgresStore(adopted.url, min_size=1, max_size=2)
    try:
        yield s
    finally:
        s.close()


def _sql(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_product_clinics_read_with_the_take_over_defaults(adopted, pstore):
    clinic = pstore.get_clinic(adopted.clinic_id)
    assert (clinic.name, clinic.timezone, clinic.pims_provider) == (
        "Paws & Claws Veterinary",
        "America/Los_Angeles",
        "idexx-neo",
    )
    assert clinic.sync_owner == "legacy"  # it existed before pims-sync: the old service keeps it
    assert clinic.sync_enabled is True and clinic.owner_user_id is None
    # a bad zone a person wrote by hand is read as it is (refused only on our writes)
    closed = next(c for c in pstore.list_clinics(active_only=False) if c.id == adopted.inactive_clinic_id)
    assert (closed.timezone, closed.is_active) == ("Not/AZone", False)
    assert adopted.inactive_clinic_id not in {c.id for c in pstore.list_clinics()}


def test_update_clinic_leaves_the_products_columns(adopted, pstore):
    before = _sql(adopted.url, "select address, phone from clinics where id = %s", (adopted.other_clinic_id,))
    changed = pstore.update_clinic(
        adopted.other_clinic_id, sync_owner="pims-sync", pims_host="ca.idexxneo.com"
    )
    assert (changed.sync_owner, changed.pims_host, changed.name) == (
        "pims-sync",
        "ca.idexxneo.com",
        "Whiskers Animal Hospital",
    )
    assert (
        _sql(adopted.url, "select address, phone from clinics where id = %s", (adopted.other_clinic_id,))
        == before
    )
    with pytest.raises(ValidationError, match="timezone"):
        pstore.update_clinic(adopted.inactive_clinic_id, timezone="Not/AZone")


def test_credentials_come_from_the_newer_active_row(adopted, pstore):
    older, newer = adopted.credential_ids
    (blobs,) = _sql(adopted.url, "select password_encrypted from idexx_credentials where id = %s", (newer,))
    assert pstore.get_credentials(adopted.clinic_id).password_encrypted == bytes(blobs[0])

    # saving rewrites that row and keeps its user (the product requires one); no row is added
    creds = EncryptedCredentials(
        clinic_id=adopted.clinic_id,
        provider="idexx-neo",
        username_encrypted=b"u2",
        password_encrypted=b"p2",
        company_id_encrypted=b"c2",
    )
    pstore.save_credentials(creds)
    rows = {
        row_id: (user, bytes(password))
        for row_id, user, password in _sql(
            adopted.url,
            "select id::text, user_id::text, password_encrypted from idexx_credentials where clinic_id = %s",
            (adopted.clinic_id,),
        )
    }
    assert set(rows) == {older, newer}
    assert rows[newer] == (adopted.owner_user_id, b"p2")
    assert pstore.get_credentials(adopted.clinic_id, "idexx").password_encrypted == b"p2"


def test_sync_enabled_is_the_cut_over_flag_on_every_row(adopted, pstore):
    pstore.set_sync_enabled(adopted.clinic_id, False)
    assert pstore.get_clinic(adopted.clinic_id).sync_enabled is False
    flags = _sql(
        adopted.url, "select sync_enabled from idexx_credentials where clinic_id = %s", (adopted.clinic_id,)
    )
    assert flags == [(False,), (False,)]
    pstore.set_sync_enabled(adopted.clinic_id, True)
    assert pstore.get_clinic(adopted.clinic_id).sync_enabled is True
    assert pstore.get_credentials(adopted.clinic_id).encryption_key_id == "default"  # still the newer row


def test_the_products_shared_key_is_found_and_can_be_bound(adopted, pstore):
    shared = adopted.keys["shared"]
    key = pstore.find_api_key(_hash(shared.key))
    assert (key.id, key.clinic_id, key.granted_clinic_ids) == (shared.id, None, ())
    assert key.name == "shared sync key"
    assert key.permissions == ("sync:inbound", "sync:cases", "sync:reconcile")  # the product's spellings
    assert shared.id in {k.id for k in pstore.list_api_keys(None)}

    granted = pstore.grant_api_key_clinics(shared.id, [adopted.other_clinic_id])
    assert granted.granted_clinic_ids == (adopted.other_clinic_id,)
    assert pstore.revoke_api_key_grant(shared.id, adopted.other_clinic_id) is True

    bound = pstore.bind_api_key(shared.id, adopted.clinic_id)
    assert bound.clinic_id == adopted.clinic_id
    assert pstore.find_api_key(_hash(shared.key)) == bound
    if not adopted.keys_without_clinic_column:  # the product's own bound key
        assert pstore.find_api_key(_hash(adopted.keys["bound"].key)).clinic_id == adopted.clinic_id


def test_new_keys_keep_the_products_constraints(adopted, pstore):
    with pytest.raises(StoreError, match="user_id.*--owner-user"):  # the product's NOT NULL user stays
        pstore.create_api_key(clinic_id=None, name="shared ops", key_prefix="pk_shared", key_hash="a" * 64)
    # a clinic with an owner: its keys belong to the owner, as the product's own keys do
    pstore.update_clinic(adopted.clinic_id, owner_user_id=adopted.owner_user_id)
    with pytest.raises(StoreError, match='"name"'):  # the product's NOT NULL name stays too
        pstore.create_api_key(clinic_id=adopted.clinic_id, key_prefix="pk_ops123", key_hash="a" * 64)
    generated = generate_api_key()  # what `pims-sync keys create` stores: within the product's 8-12 prefix CHECK
    key = pstore.create_api_key(
        clinic_id=adopted.clinic_id, name="ops sync", key_prefix=generated.key_prefix, key_hash=generated.key_hash
    )
    assert _sql(adopted.url, "select user_id::text from clinic_api_keys where id = %s", (key.id,)) == [
        (adopted.owner_user_id,)
    ]


def test_new_cases_of_a_clinic_without_owner_name_the_fix(adopted, pstore):
    before = pstore.list_cases(adopted.other_clinic_id)
    new = make_case(adopted.other_clinic_id, 8)
    with pytest.raises(StoreError, match="user_id.*--owner-user") as err:
        pstore.upsert_cases(adopted.other_clinic_id, [new])
    assert new.client_email not in str(err.value)  # no row values in the message
    assert pstore.list_cases(adopted.other_clinic_id) == before


@pytest.fixture
def owned(adopted, pstore):
    """The clinic with its owner set (cases.user_id is NOT NULL in the product)."""
    return pstore.update_clinic(adopted.clinic_id, owner_user_id=adopted.owner_user_id)


def _existing(adopted, role: str):
    """The case inbound writes for the appointment behind one of the product's cases."""
    return make_case(adopted.clinic_id, 0, external_id=adopted.external_id(role))


def test_inbound_updates_the_products_cases_in_its_vocabulary(adopted, pstore, owned):
    day = pstore.list_cases(adopted.clinic_id)[0]["scheduled_at"]
    draft = replace(_existing(adopted, "draft"), scheduled_at=day, type="follow_up")
    human = with_pims_status(replace(_existing(adopted, "human_completed"), scheduled_at=day), "arrived")
    new = replace(make_case(adopted.clinic_id, 7, type="grooming"), scheduled_at=day)
    result = pstore.upsert_cases(adopted.clinic_id, [draft, human, new])
    assert (result.created, result.updated) == (1, 2)

    rows = {r["external_id"]: r for r in pstore.list_cases(adopted.clinic_id)}
    assert rows[draft.external_id]["id"] == adopted.cases["draft"]  # the product's row, not a new one
    assert rows[draft.external_id]["type"] == "follow-up"  # the enum's own label for our follow_up
    assert rows[draft.external_id]["metadata"]["productFlags"] == {"reminderSent": True}
    assert rows[draft.external_id]["is_urgent"] is True  # product columns read, never written
    assert (rows[human.external_id]["status"], rows[human.external_id]["pims_status"]) == (
        "completed",
        "arrived",
    )
    assert rows[new.external_id]["type"] is None and rows[new.external_id]["pims_type"] == "grooming"
    assert str(rows[new.external_id]["user_id"]) == adopted.owner_user_id

    window = pstore.cases_in_window(adopted.clinic_id, day - timedelta(hours=12), day + timedelta(hours=12),
                                    source=CASE_SOURCE_IDEXX)  # fmt: skip
    by_id = {r.id: r for r in window}
    assert by_id[adopted.cases["human_completed"]].status == "completed"  # the ENUM read as text
    assert pstore.upsert_cases(adopted.clinic_id, [draft, human, new]) == UpsertResult(unchanged=3)


def test_a_batch_of_new_cases_converts_to_the_products_enums(adopted, pstore, owned):
    """All keys new: the plain INSERT path converts status and type to the ENUMs as the general one does."""
    batch = [make_case(adopted.clinic_id, 40, type="follow_up"),
             with_pims_status(make_case(adopted.clinic_id, 41, type="grooming"), "completed"),
             make_case(adopted.clinic_id, 42, type="follow_up")]
    assert pstore.upsert_cases(adopted.clinic_id, batch) == UpsertResult(created=3)

    rows = {r["external_id"]: r for r in pstore.list_cases(adopted.clinic_id)}
    first, second, third = (rows[c.external_id] for c in batch)
    assert (first["status"], first["type"], first["pims_type"]) == ("draft", "follow-up", "follow_up")
    assert (second["status"], second["type"], second["pims_type"]) == ("completed", None, "grooming")
    assert third["type"] == "follow-up" and str(third["user_id"]) == adopted.owner_user_id
    assert pstore.upsert_cases(adopted.clinic_id, batch) == UpsertResult(unchanged=3)


def test_reconciliation_marks_and_restores_the_products_way(adopted, pstore, owned):
    case_id = adopted.cases["duplicated_2"]
    assert pstore.soft_delete_cases(adopted.clinic_id, [case_id]) == 1
    row = next(r for r in pstore.list_cases(adopted.clinic_id, include_deleted=True) if r["id"] == case_id)
    assert row["status"] == "reviewed" and isinstance(row["metadata"]["reconciliation"], dict)
    assert pstore.restore_cases(adopted.clinic_id, [case_id]) == 1
    row = next(r for r in pstore.list_cases(adopted.clinic_id) if r["id"] == case_id)
    assert "reconciliation" not in row["metadata"] and row["deleted_at"] is None


def test_runs_reach_the_products_audit_screen(adopted, pstore):
    run = pstore.create_audit(clinic_id=adopted.clinic_id, sync_type="inbound", trigger="api")
    pstore.start_audit(run.id)
    pstore.update_audit_progress(run.id, processed=1, total=4, stats={})
    pstore.finish_audit(run.id, status="completed", stats={"casesUpdated": 2})
    ((status, updated, progress),) = _sql(
        adopted.url,
        "select status, cases_updated, progress_percentage from case_sync_audits where id = %s",
        (run.id,),
    )
    assert (status, updated, float(progress)) == ("completed", 2, 100.0)
    assert pstore.get_audit(run.id, clinic_id=adopted.clinic_id).cases_updated == 2
