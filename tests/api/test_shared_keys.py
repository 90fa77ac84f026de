"""Shared keys (no clinic, as the product's later migration left them) and clinicId in requests.

The rule under test: nothing lets a key reach a clinic it was not given. A shared key is
refused until an operator binds it or grants it clinics; a granted one names the clinic and
reaches only those; a bound key may repeat its clinic but never name another.
"""

from __future__ import annotations

import psycopg
import pytest

from pims_sync.apikeys import generate_api_key
from pims_sync.errors import PimsSyncError

from .conftest import Key


@pytest.fixture
def make_shared_key(store):
    def make(*, permissions=None) -> Key:
        generated = generate_api_key(env="test")
        record = store.create_api_key(clinic_id=None, name=None, key_prefix=generated.key_prefix,
                                      key_hash=generated.key_hash, permissions=permissions)
        assert record.clinic_id is None
        return Key(generated.key, record.id, None)

    return make


@pytest.fixture
def other(store):
    return store.create_clinic(name="Other Clinic", timezone="Europe/London")


def _refused(resp, status: int, code: str, *words: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["success"] is False and body["error"]["code"] == code
    for w in words:
        assert w in body["error"]["message"], body["error"]["message"]
    return body


def test_a_shared_key_is_refused_by_default_saying_how_to_allow_it(client, make_shared_key, clinic, api_redis):
    shared = make_shared_key()
    for resp in (
        client.post("/api/sync/inbound", headers=shared.headers, json={"clinicId": clinic.id}),
        client.get(f"/api/sync/history?clinicId={clinic.id}", headers=shared.headers),
        client.get(f"/api/idexx/status?clinicId={clinic.id}", headers=shared.headers),
    ):
        body = _refused(resp, 403, "forbidden", "shared", f"pims-sync keys bind {shared.id}",
                        f"pims-sync keys grant {shared.id}")
        assert body["error"]["details"]["reason"] == "shared_key_not_allowed"
    assert api_redis.llen("sync") == 0, "nothing was enqueued"


def test_a_shared_key_is_refused_before_its_body_is_read(client, make_shared_key):
    shared = make_shared_key()
    resp = client.post("/api/sync/inbound", headers=shared.headers, data="{not json", content_type="application/json")
    _refused(resp, 403, "forbidden", "shared")


def test_a_granted_shared_key_acts_only_for_its_granted_clinics(client, store, make_shared_key, clinic, other):
    shared = make_shared_key()
    store.grant_api_key_clinics(shared.id, [clinic.id])

    ok = client.post("/api/sync/inbound", headers=shared.headers, json={"clinicId": clinic.id})
    assert ok.status_code == 202, ok.get_json()
    sync_id = ok.get_json()["syncId"]
    assert store.get_audit(sync_id).clinic_id == clinic.id

    body = _refused(client.post("/api/sync/inbound", headers=shared.headers, json={"clinicId": other.id}),
                    403, "forbidden", f"not granted clinic {other.id}", f"pims-sync keys grant {shared.id}")
    assert body["error"]["details"]["reason"] == "clinic_not_granted"
    _refused(client.post("/api/sync/inbound", headers=shared.headers), 400, "validation_error", "clinicId")
    _refused(client.get(f"/api/sync/history?clinicId={other.id}", headers=shared.headers), 403, "forbidden")
    _refused(client.post("/api/idexx/scrape", headers=shared.headers,
                         json={"type": "schedule", "clinicId": other.id}), 403, "forbidden")
    _refused(client.get(f"/api/idexx/status?clinicId={other.id}", headers=shared.headers), 403, "forbidden")

    history = client.get(f"/api/sync/history?clinicId={clinic.id}", headers=shared.headers)
    assert [s["syncId"] for s in history.get_json()["syncs"]] == [sync_id]
    # the status of a sync: by id alone among its clinics, or with the clinic named
    assert client.get(f"/api/sync/{sync_id}", headers=shared.headers).get_json()["clinicId"] == clinic.id
    assert client.get(f"/api/sync/{sync_id}?clinicId={clinic.id}", headers=shared.headers).status_code == 200
    _refused(client.get(f"/api/sync/{sync_id}?clinicId={other.id}", headers=shared.headers), 403, "forbidden")


def test_a_shared_key_cannot_read_a_sync_of_a_clinic_it_was_not_granted(client, store, make_shared_key, make_key,
                                                                       clinic, other):
    foreign = client.post("/api/sync/inbound", headers=make_key(other.id).headers).get_json()["syncId"]
    shared = make_shared_key()
    store.grant_api_key_clinics(shared.id, [clinic.id])
    _refused(client.get(f"/api/sync/{foreign}", headers=shared.headers), 404, "not_found")


def test_revoking_the_grant_refuses_the_key_again(client, store, make_shared_key, clinic, other, api_redis):
    shared = make_shared_key()
    store.grant_api_key_clinics(shared.id, [clinic.id, other.id])
    assert client.post("/api/sync/inbound", headers=shared.headers, json={"clinicId": other.id}).status_code == 202
    assert store.revoke_api_key_grant(shared.id, other.id) is True
    _refused(client.post("/api/sync/cases", headers=shared.headers, json={"clinicId": other.id}), 403, "forbidden",
             "not granted")
    assert store.revoke_api_key_grant(shared.id, clinic.id) is True
    _refused(client.get(f"/api/sync/history?clinicId={clinic.id}", headers=shared.headers), 403, "forbidden",
             "shared keys are refused")


def test_a_bound_shared_key_acts_for_its_clinic_without_naming_it(client, store, make_shared_key, clinic, other):
    shared = make_shared_key()
    bound = store.bind_api_key(shared.id, clinic.id)
    assert bound.clinic_id == clinic.id
    resp = client.post("/api/sync/inbound", headers=shared.headers)
    assert resp.status_code == 202, resp.get_json()
    assert store.get_audit(resp.get_json()["syncId"]).clinic_id == clinic.id
    _refused(client.get(f"/api/sync/history?clinicId={other.id}", headers=shared.headers), 403, "forbidden",
             "not this API key's clinic")


def test_a_bound_key_may_repeat_its_clinic_but_never_name_another(client, key, clinic, other, api_redis):
    _refused(client.post("/api/sync/inbound", headers=key.headers, json={"clinicId": other.id}), 403, "forbidden",
             "not this API key's clinic")
    _refused(client.get(f"/api/sync/history?clinicId={other.id}", headers=key.headers), 403, "forbidden")
    assert api_redis.llen("sync") == 0
    resp = client.post("/api/sync/inbound", headers=key.headers, json={"clinicId": clinic.id})
    assert resp.status_code == 202, resp.get_json()


def test_a_grant_on_a_bound_key_gives_it_nothing_more(client, store, key, other):
    """Grants are for shared keys: a bound key stays with its own clinic whatever is granted."""
    try:
        store.grant_api_key_clinics(key.id, [other.id])
    except PimsSyncError:  # the store may refuse outright; either way the API must not widen the key
        pass
    _refused(client.post("/api/sync/inbound", headers=key.headers, json={"clinicId": other.id}), 403, "forbidden")


@pytest.mark.parametrize(
    ("stored", "endpoint"),
    [
        (["inbound", "cases", "reconciliation"], "full"),  # the product's bare spellings
        (["inbound"], "inbound"),
        (["cases"], "cases"),
        (["reconciliation"], "reconcile"),
        (["sync:reconciliation"], "reconcile"),
    ],
)
def test_the_products_permission_spellings_are_honoured(client, database_url, make_key, clinic, stored, endpoint):
    """Written straight into the table, as the product's screens store them."""
    k = make_key(clinic.id)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update clinic_api_keys set permissions = %s where id = %s", (stored, k.id))
    resp = client.post(f"/api/sync/{endpoint}", headers=k.headers)
    assert resp.status_code == 202, resp.get_json()


def test_a_product_permission_does_not_grant_another(client, database_url, make_key, clinic):
    k = make_key(clinic.id)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update clinic_api_keys set permissions = %s where id = %s", (["inbound"], k.id))
    _refused(client.post("/api/sync/reconcile", headers=k.headers), 403, "forbidden", "lacks permission")
