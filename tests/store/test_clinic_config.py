"""Clinics, credentials, API keys, schedule configs and snapshots through the Store."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, StoreError, ValidationError
from pims_sync.models import EncryptedCredentials


def test_clinic_create_get_list(store):
    cid = str(uuid.uuid4())
    made = store.create_clinic(name="Harbor Vets", timezone="America/Los_Angeles", clinic_id=cid)
    assert made.id == cid and made.timezone == "America/Los_Angeles" and made.is_active
    assert made.pims_provider == "idexx" and made.phone_region == "US"
    assert store.get_clinic(cid) == made
    assert made in store.list_clinics()
    assert made in store.list_clinics(active_only=False)


def test_clinic_errors(store, clinic):
    with pytest.raises(NotFound):
        store.get_clinic(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.get_clinic("not-a-uuid")
    with pytest.raises(ValidationError):
        store.create_clinic(name="X", timezone="Mars/Olympus")
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


def _hash() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def test_api_keys_create_find_list_revoke_touch(store, clinic):
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
            clinic_id=clinic.id, name="x", key_prefix="p", key_hash=_hash(), permissions=["admin:all"]
        )
    with pytest.raises(StoreError):
        store.create_api_key(clinic_id=clinic.id, name="x", key_prefix="p", key_hash="not-hex")
    h = _hash()
    store.create_api_key(clinic_id=clinic.id, name="x", key_prefix="p", key_hash=h)
    with pytest.raises(StoreError, match="clinic_api_keys_key_hash_key") as err:
        store.create_api_key(clinic_id=clinic.id, name="y", key_prefix="p", key_hash=h)
    assert h not in str(err.value)  # the hash stays out of messages and logs


def test_api_key_repr_hides_hash(store, clinic):
    h = _hash()
    key = store.create_api_key(clinic_id=clinic.id, name="x", key_prefix="p", key_hash=h)
    assert h not in repr(key)


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
