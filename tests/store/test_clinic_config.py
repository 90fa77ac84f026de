"""Clinics, credentials, API keys, schedule configs and snapshots through the Store."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, StoreError, ValidationError
from pims_sync.models import EncryptedCredentials


def test_clinic_create_get_list(store):
    cid = str(uuid.uuid4())
    made = store.create_clinic(name="Harbor Vets", timezone="America/Los_Angeles", clinic_id=cid)
    assert made.id == cid and made.timezone == "America/Los_Angeles" and made.is_active
    assert made.pims_provider == "idexx-neo" and made.phone_region == "US"
    assert (made.pims_host, made.owner_user_id) == (None, None)
    assert made.sync_owner == "pims-sync" and made.sync_enabled is True  # no credentials row yet
    assert store.get_clinic(cid) == made
    assert made in store.list_clinics()
    assert made in store.list_clinics(active_only=False)


def test_clinic_create_with_every_field(store):
    owner = str(uuid.uuid4())
    made = store.create_clinic(
        name="  Bay Clinic ",
        timezone="Europe/London",
        pims_provider="idexx",  # the alias is stored as the registry name
        pims_host="https://uk.idexxneo.com/",
        owner_user_id=owner.upper(),
        is_active=False,
        phone_region="GB",
    )
    assert (made.name, made.timezone, made.pims_provider) == ("Bay Clinic", "Europe/London", "idexx-neo")
    assert (made.pims_host, made.owner_user_id) == ("https://uk.idexxneo.com", owner)
    assert (made.is_active, made.phone_region) == (False, "GB")
    assert store.get_clinic(made.id) == made
    assert made not in store.list_clinics() and made in store.list_clinics(active_only=False)


@pytest.mark.parametrize(
    "zone", ["", "Mars/Olympus", "../../etc/localtime", "/etc/localtime", "localtime", None]
)
def test_clinic_time_zone_is_checked_at_write_time(store, clinic, zone):
    with pytest.raises(ValidationError, match="timezone"):
        store.create_clinic(name="X", timezone=zone)
    with pytest.raises(ValidationError, match="timezone"):
        store.update_clinic(clinic.id, timezone=zone)
    assert store.get_clinic(clinic.id).timezone == "America/New_York"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "  "),
        ("pims_provider", "IDEXX Neo!"),
        ("pims_host", "not a host/with path"),
        ("pims_host", "ftp://ca.idexxneo.com"),
        ("owner_user_id", "someone"),
        ("is_active", "yes"),
        ("sync_owner", "both"),
        ("phone_region", "usa"),
    ],
)
def test_clinic_fields_are_checked(store, clinic, field, value):
    with pytest.raises(ValidationError, match=field):
        store.update_clinic(clinic.id, **{field: value})
    assert store.get_clinic(clinic.id) == clinic


def test_update_clinic_changes_only_what_it_is_given(store, clinic):
    owner = str(uuid.uuid4())
    changed = store.update_clinic(
        clinic.id,
        name="Renamed",
        timezone="America/Chicago",
        pims_provider="idexx",
        pims_host="ca.idexxneo.com",
        owner_user_id=owner,
        sync_owner="legacy",
        phone_region="CA",
    )
    assert (changed.id, changed.name, changed.timezone) == (clinic.id, "Renamed", "America/Chicago")
    assert (changed.pims_provider, changed.pims_host, changed.owner_user_id) == (
        "idexx-neo",
        "ca.idexxneo.com",
        owner,
    )
    assert (changed.sync_owner, changed.phone_region, changed.is_active) == ("legacy", "CA", True)
    assert store.get_clinic(clinic.id) == changed

    off = store.update_clinic(clinic.id, is_active=False, owner_user_id=None, pims_host=None)
    assert (off.is_active, off.owner_user_id, off.pims_host, off.name) == (False, None, None, "Renamed")
    assert store.update_clinic(clinic.id) == off  # nothing to change


def test_update_clinic_refuses_other_fields_and_unknown_clinics(store, clinic):
    with pytest.raises(ValidationError, match="sync_enabled"):
        store.update_clinic(clinic.id, sync_enabled=False)  # a credentials flag: set_sync_enabled
    with pytest.raises(ValidationError, match="id"):
        store.update_clinic(clinic.id, id=str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.update_clinic(str(uuid.uuid4()), name="Ghost")
    with pytest.raises(NotFound):
        store.update_clinic("not-a-uuid", name="Ghost")


def test_clinic_errors(store, clinic):
    with pytest.raises(NotFound):
        store.get_clinic(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.get_clinic("not-a-uuid")
    with pytest.raises(ValidationError):
        store.create_clinic(name="X", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="clinic_id"):
        store.create_clinic(name="X", timezone="UTC", clinic_id="nope")
    with pytest.raises(StoreError):
        store.create_clinic(name="Dup", timezone="UTC", clinic_id=clinic.id)


def _creds(clinic_id: str, tag: bytes = b"1", **kw) -> EncryptedCredentials:
    return EncryptedCredentials(
        clinic_id=clinic_id,
        provider="idexx",
        username_encrypted=b"\x00user" + tag,
        password_encrypted=b"\x00pass" + tag,
        company_id_encrypted=b"\x00comp" + tag,
        **kw,
    )


def test_credentials_save_replace_validate(store, clinic):
    with pytest.raises(CredentialsMissing):
        store.get_credentials(clinic.id)
    store.save_credentials(_creds(clinic.id))
    assert store.get_credentials(clinic.id) == _creds(clinic.id)

    store.save_credentials(_creds(clinic.id, b"2", encryption_key_id="k2024"))
    got = store.get_credentials(clinic.id, "idexx")
    assert got.password_encrypted == b"\x00pass2" and got.encryption_key_id == "k2024"

    store.mark_credentials_validated(clinic.id, "idexx", status="valid")
    assert store.get_credentials(clinic.id).validation_status == "valid"

    store.save_credentials(_creds(clinic.id, b"3", is_active=False))
    with pytest.raises(CredentialsMissing):
        store.get_credentials(clinic.id)
    with pytest.raises(CredentialsMissing):
        store.mark_credentials_validated(clinic.id, "other-pims", status="valid")


def test_credentials_for_unknown_clinic(store):
    with pytest.raises(NotFound):
        store.save_credentials(_creds(str(uuid.uuid4())))


def test_credentials_of_other_providers_are_refused_by_name(store, clinic):
    other = replace(_creds(clinic.id), provider="ezyvet")
    with pytest.raises(ValidationError, match="ezyvet"):
        store.save_credentials(other)
    with pytest.raises(CredentialsMissing, match="ezyvet"):
        store.get_credentials(clinic.id, "ezyvet")
    store.save_credentials(replace(_creds(clinic.id), provider="idexx-neo"))  # the registry name
    assert store.get_credentials(clinic.id, "idexx-neo").provider == "idexx-neo"
    assert store.get_credentials(clinic.id, "idexx").password_encrypted == b"\x00pass1"


def test_sync_enabled_reads_the_credentials_flag(store, clinic):
    with pytest.raises(CredentialsMissing):
        store.set_sync_enabled(clinic.id, False)  # nothing to hold the flag yet
    assert store.get_clinic(clinic.id).sync_enabled is True
    store.save_credentials(_creds(clinic.id))
    store.set_sync_enabled(clinic.id, False)
    assert store.get_clinic(clinic.id).sync_enabled is False
    assert next(c for c in store.list_clinics() if c.id == clinic.id).sync_enabled is False
    store.save_credentials(_creds(clinic.id, b"2"))  # new credentials do not re-enable syncing
    assert store.get_clinic(clinic.id).sync_enabled is False
    store.set_sync_enabled(clinic.id, True)
    assert store.get_clinic(clinic.id).sync_enabled is True
    assert store.update_clinic(clinic.id, name="Still enabled").sync_enabled is True
    with pytest.raises(ValidationError):
        store.set_sync_enabled(clinic.id, "no")


def _hash() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def test_api_keys_create_find_list_revoke_touch(store, clinic):
    """clinic keys read as before: grants empty, product permission spellings canonical."""
    h1, h2 = _hash(), _hash()
    k1 = store.create_api_key(clinic_id=clinic.id, name="ops", key_prefix="ps_ab12", key_hash=h1)
    expires = datetime.now(UTC) + timedelta(days=30)
    k2 = store.create_api_key(
        clinic_id=clinic.id,
        name="scheduler",
        key_prefix="ps_cd34",
        key_hash=h2,
        permissions=["sync:inbound", "sync:reconciliation"],
        expires_at=expires,
    )
    assert k1.permissions is None and k1.is_active
    assert k2.permissions == ("sync:inbound", "sync:reconcile")  # alias stored canonically
    assert k2.expires_at == expires
    assert store.find_api_key(h2) == k2
    assert store.find_api_key(_hash()) is None
    assert [k.id for k in store.list_api_keys(clinic.id)] == [k1.id, k2.id]

    at = datetime.now(UTC).replace(microsecond=0)
    store.touch_api_keys([k1.id, k2.id, "junk"], at)
    store.touch_api_keys([k1.id], at - timedelta(minutes=5))  # late batch never moves it back
    assert store.find_api_key(h1).last_used_at == at

    other = store.create_clinic(name="Other", timezone="UTC")
    assert store.revoke_api_key(k1.id, clinic_id=other.id) is False  # not theirs
    assert store.revoke_api_key(k1.id, clinic_id=clinic.id) is True
    assert store.revoke_api_key(k1.id) is False  # already revoked
    assert store.revoke_api_key("junk") is False
    assert store.find_api_key(h1).is_active is False


def test_api_key_validation(store, clinic):
    with pytest.raises(ValidationError):
        store.create_api_key(
            clinic_id=clinic.id, name="xyz", key_prefix="p", key_hash=_hash(), permissions=["admin:all"]
        )
    for bad_name in ("xy", "x" * 101):
        with pytest.raises(ValidationError, match="name"):
            store.create_api_key(clinic_id=clinic.id, name=bad_name, key_prefix="p", key_hash=_hash())
    with pytest.raises(StoreError):
        store.create_api_key(clinic_id=clinic.id, name="xyz", key_prefix="p", key_hash="not-hex")
    h = _hash()
    store.create_api_key(clinic_id=clinic.id, name="xyz", key_prefix="p", key_hash=h)
    with pytest.raises(StoreError, match="clinic_api_keys_key_hash_key") as err:
        store.create_api_key(clinic_id=clinic.id, name="yyy", key_prefix="p", key_hash=h)
    assert h not in str(err.value)  # the hash stays out of messages and logs
    with pytest.raises(NotFound):
        store.create_api_key(clinic_id=str(uuid.uuid4()), name="ghost", key_prefix="p", key_hash=_hash())


def test_api_key_repr_hides_hash(store, clinic):
    h = _hash()
    key = store.create_api_key(clinic_id=clinic.id, name="xyz", key_prefix="p", key_hash=h)
    assert h not in repr(key)


def test_shared_key_without_name_is_listed_apart_and_found(store, clinic):
    h = _hash()
    shared = store.create_api_key(clinic_id=None, name=None, key_prefix="pk_shared", key_hash=h)
    assert (shared.clinic_id, shared.name, shared.granted_clinic_ids) == (None, None, ())
    assert store.find_api_key(h) == shared == store.get_api_key(shared.id)
    assert shared.id in [k.id for k in store.list_api_keys(None)]
    assert shared.id not in [k.id for k in store.list_api_keys(clinic.id)]
    with pytest.raises(NotFound):
        store.get_api_key(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.get_api_key("junk")


def test_bind_a_shared_key_to_one_clinic(store, clinic):
    shared = store.create_api_key(clinic_id=None, key_prefix="pk_bind", key_hash=_hash())
    other = store.create_clinic(name="Other", timezone="UTC")
    with pytest.raises(NotFound):
        store.bind_api_key(shared.id, str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.bind_api_key(str(uuid.uuid4()), clinic.id)
    bound = store.bind_api_key(shared.id, clinic.id)
    assert bound.clinic_id == clinic.id and bound.id == shared.id
    assert store.bind_api_key(shared.id, clinic.id) == bound  # again: nothing changes
    with pytest.raises(ValidationError, match=clinic.id):
        store.bind_api_key(shared.id, other.id)
    assert store.get_api_key(shared.id).clinic_id == clinic.id
    assert [k.id for k in store.list_api_keys(clinic.id)] == [shared.id]
    assert shared.id not in [k.id for k in store.list_api_keys(None)]
    with pytest.raises(ValidationError, match="shared"):
        store.grant_api_key_clinics(shared.id, [other.id])  # a bound key acts on its clinic only


def test_grant_a_shared_key_clinics(store, clinic):
    h = _hash()
    shared = store.create_api_key(clinic_id=None, key_prefix="pk_grant", key_hash=h)
    second = store.create_clinic(name="Second", timezone="UTC")
    granted = store.grant_api_key_clinics(shared.id, [second.id, clinic.id, clinic.id.upper()])
    assert granted.granted_clinic_ids == tuple(sorted([clinic.id, second.id]))
    assert granted.clinic_id is None
    assert store.grant_api_key_clinics(shared.id, [clinic.id]) == granted  # idempotent
    assert store.find_api_key(h).granted_clinic_ids == granted.granted_clinic_ids
    assert next(k for k in store.list_api_keys(None) if k.id == shared.id) == granted

    with pytest.raises(NotFound):
        store.grant_api_key_clinics(shared.id, [str(uuid.uuid4())])
    with pytest.raises(ValidationError):
        store.grant_api_key_clinics(shared.id, [])
    assert store.get_api_key(shared.id) == granted  # a refused grant adds nothing

    assert store.revoke_api_key_grant(shared.id, second.id) is True
    assert store.revoke_api_key_grant(shared.id, second.id) is False
    assert store.revoke_api_key_grant("junk", second.id) is False
    assert store.get_api_key(shared.id).granted_clinic_ids == (clinic.id,)


SCHEDULES = [{"type": "inbound", "cron": "0 6 * * *", "enabled": True}]


def test_schedule_config_version_bumps_on_every_edit(store, clinic):
    assert store.get_schedule_config(clinic.id) is None
    first = store.set_schedule_config(clinic.id, SCHEDULES)
    assert first.version == 1 and first.sync_schedules == SCHEDULES
    assert first.timezone == "America/New_York" and first.clinic_active is True

    more = SCHEDULES + [{"type": "reconciliation", "cron": "0 23 * * *", "enabled": False}]
    second = store.set_schedule_config(clinic.id, more)
    assert second.version == 2 and second.updated_at > first.updated_at
    assert store.get_schedule_config(clinic.id) == second

    changed = store.list_schedule_configs(changed_since=first.updated_at)
    assert second in changed
    assert clinic.id not in {
        r.clinic_id for r in store.list_schedule_configs(changed_since=second.updated_at)
    }
    assert second in store.list_schedule_configs()


def test_schedule_config_must_be_a_list(store, clinic):
    with pytest.raises(StoreError):
        store.set_schedule_config(clinic.id, {"type": "inbound"})


def test_schedule_snapshots(store, clinic):
    assert store.get_schedule_snapshot(clinic.id, "2026-03-02") is None
    payload = {"slots": [{"start": "09:00", "provider": "Dr. Vet"}], "rooms": ["1"]}
    store.save_schedule_snapshot(clinic.id, "2026-03-02", payload)
    assert store.get_schedule_snapshot(clinic.id, "2026-03-02") == payload
    store.save_schedule_snapshot(clinic.id, "2026-03-02", {"slots": []})
    assert store.get_schedule_snapshot(clinic.id, "2026-03-02") == {"slots": []}
    with pytest.raises(ValidationError):
        store.save_schedule_snapshot(clinic.id, "02.03.2026", payload)


def test_ping(store):
    store.ping()
