"""The exact PostgREST requests SupabaseStore sends for clinic configuration, and what it makes of the answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, ValidationError
from pims_sync.models import EncryptedCredentials

from .fake_postgrest import PAGE, expect
from .sample_rows import (
    CLINIC_ID,
    KEY_ID,
    STAMP,
    api_key_row,
    clinic_row,
    config_row,
    credentials_row,
)

CONFIG_SELECT = ("select", "clinic_id,sync_schedules,version,updated_at,clinics(timezone,is_active)")


def test_ping_is_one_cheap_read(sb, postgrest):
    sb.ping()
    (req,) = postgrest.take()
    expect(req, "GET", "clinics", [("select", "id"), ("limit", "1")])


def test_create_clinic_inserts_one_row_and_reads_it_back(sb, postgrest):
    postgrest.reply("POST", "clinics", [clinic_row()], status=201)
    made = sb.create_clinic(name="Harbor Vets", timezone="America/Los_Angeles", clinic_id=CLINIC_ID.upper())
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "clinics",
        prefer={"return=representation"},
        body={
            "id": CLINIC_ID,
            "name": "Harbor Vets",
            "timezone": "America/Los_Angeles",
            "pims_provider": "idexx",
        },
    )
    assert made.id == CLINIC_ID and made.timezone == "America/Los_Angeles" and made.is_active


def test_create_clinic_without_id_lets_the_database_choose(sb, postgrest):
    postgrest.reply("POST", "clinics", [clinic_row()], status=201)
    sb.create_clinic(name="Harbor Vets", timezone="UTC")
    (req,) = postgrest.take()
    assert req.body == {"name": "Harbor Vets", "timezone": "UTC", "pims_provider": "idexx"}


def test_create_clinic_checks_zone_and_id_before_any_request(sb, postgrest):
    with pytest.raises(ValidationError, match="time zone"):
        sb.create_clinic(name="X", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="clinic_id"):
        sb.create_clinic(name="X", timezone="UTC", clinic_id="nope")
    assert postgrest.take() == []


def test_get_clinic(sb, postgrest):
    postgrest.reply("GET", "clinics", [clinic_row()])
    assert sb.get_clinic(CLINIC_ID).name == "Harbor Vets"
    (req,) = postgrest.take()
    expect(req, "GET", "clinics", [("select", "*"), ("id", f"eq.{CLINIC_ID}")])

    with pytest.raises(NotFound, match=CLINIC_ID):  # nothing queued: PostgREST's empty array
        sb.get_clinic(CLINIC_ID)
    with pytest.raises(NotFound):
        sb.get_clinic("not-a-uuid")
    assert len(postgrest.take()) == 1  # the malformed id never left the process


def test_list_clinics_filters_orders_and_pages(sb, postgrest):
    postgrest.reply("GET", "clinics", [clinic_row()])
    assert [c.id for c in sb.list_clinics()] == [CLINIC_ID]
    sb.list_clinics(active_only=False)
    active, every = postgrest.take()
    expect(
        active,
        "GET",
        "clinics",
        [("select", "*"), ("is_active", "eq.true"), ("order", "name.asc,id.asc"), *PAGE],
    )
    expect(every, "GET", "clinics", [("select", "*"), ("order", "name.asc,id.asc"), *PAGE])


def test_list_reads_every_page(sb, postgrest):
    sb.page_size = 2
    other = clinic_row(id="6c2d3e4f-5061-4a72-8b83-a4b5c6d7e8f9", name="Zed")
    third = clinic_row(id="7d3e4f50-6172-4a83-8c94-b5c6d7e8f9a0", name="Zoo")
    postgrest.reply("GET", "clinics", [clinic_row(), other])
    postgrest.reply("GET", "clinics", [third])
    assert len(sb.list_clinics()) == 3
    first, second = postgrest.take()
    assert ("offset", "0") in first.query and ("limit", "2") in first.query
    assert ("offset", "2") in second.query and ("limit", "2") in second.query


def _creds() -> EncryptedCredentials:
    return EncryptedCredentials(
        clinic_id=CLINIC_ID,
        provider="idexx",
        username_encrypted=b"\x00use",
        password_encrypted=b"\x00pas",
        company_id_encrypted=b"\x00com",
        encryption_key_id="k2024",
    )


def test_save_credentials_upserts_on_clinic_and_provider_with_bytea_hex(sb, postgrest):
    sb.save_credentials(_creds())
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "pims_credentials",
        [("on_conflict", "clinic_id,provider")],
        prefer={"return=minimal", "resolution=merge-duplicates"},
        body={
            "clinic_id": CLINIC_ID,
            "provider": "idexx",
            "username_encrypted": "\\x00757365",
            "password_encrypted": "\\x00706173",
            "company_id_encrypted": "\\x00636f6d",
            "encryption_key_id": "k2024",
            "is_active": True,
            "validation_status": None,
            "last_validated_at": None,
        },
    )


def test_get_credentials_decodes_bytea(sb, postgrest):
    postgrest.reply("GET", "pims_credentials", [credentials_row()])
    got = sb.get_credentials(CLINIC_ID)
    assert (got.username_encrypted, got.password_encrypted, got.company_id_encrypted) == (
        b"\x00use",
        b"\x00pas",
        b"\x00com",
    )
    (req,) = postgrest.take()
    expect(
        req,
        "GET",
        "pims_credentials",
        [
            ("select", "*"),
            ("clinic_id", f"eq.{CLINIC_ID}"),
            ("provider", "eq.idexx"),
            ("is_active", "eq.true"),
        ],
    )
    with pytest.raises(CredentialsMissing):
        sb.get_credentials(CLINIC_ID)


def test_mark_credentials_validated_patches_and_counts_rows(sb, postgrest):
    postgrest.reply("PATCH", "pims_credentials", [{"id": "e5f6a7b8-c9d0-4e1f-8a3b-4c5d6e7f8091"}])
    before = datetime.now(UTC)
    sb.mark_credentials_validated(CLINIC_ID, "idexx", status="valid")
    (req,) = postgrest.take()
    expect(
        req,
        "PATCH",
        "pims_credentials",
        [("clinic_id", f"eq.{CLINIC_ID}"), ("provider", "eq.idexx"), ("select", "id")],
        prefer={"return=representation"},
    )
    assert req.body["validation_status"] == "valid"
    stamped = datetime.fromisoformat(req.body["last_validated_at"])
    assert stamped.tzinfo is not None and stamped >= before - timedelta(seconds=1)
    with pytest.raises(CredentialsMissing):  # no row matched
        sb.mark_credentials_validated(CLINIC_ID, "idexx", status="valid")


def test_create_api_key_sends_canonical_permissions(sb, postgrest):
    postgrest.reply("POST", "clinic_api_keys", [api_key_row()], status=201)
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    key = sb.create_api_key(
        clinic_id=CLINIC_ID,
        name="ops",
        key_prefix="pk_abc",
        key_hash="a" * 64,
        permissions=["sync:inbound", "sync:reconciliation"],
        expires_at=expires,
    )
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "clinic_api_keys",
        prefer={"return=representation"},
        body={
            "clinic_id": CLINIC_ID,
            "name": "ops",
            "key_prefix": "pk_abc",
            "key_hash": "a" * 64,
            "permissions": ["sync:inbound", "sync:reconcile"],
            "expires_at": "2027-01-01T00:00:00+00:00",
        },
    )
    assert key.id == KEY_ID and key.permissions == ("sync:inbound", "sync:reconcile")
    with pytest.raises(ValidationError):
        sb.create_api_key(
            clinic_id=CLINIC_ID, name="x", key_prefix="p", key_hash="a" * 64, permissions=["root"]
        )
    assert postgrest.take() == []


def test_find_and_list_api_keys(sb, postgrest):
    postgrest.reply("GET", "clinic_api_keys", [api_key_row()])
    assert sb.find_api_key("a" * 64).id == KEY_ID
    assert sb.find_api_key("b" * 64) is None
    assert sb.list_api_keys(CLINIC_ID) == []
    found, missing, listed = postgrest.take()
    expect(found, "GET", "clinic_api_keys", [("select", "*"), ("key_hash", "eq." + "a" * 64)])
    expect(missing, "GET", "clinic_api_keys", [("select", "*"), ("key_hash", "eq." + "b" * 64)])
    expect(
        listed,
        "GET",
        "clinic_api_keys",
        [("select", "*"), ("clinic_id", f"eq.{CLINIC_ID}"), ("order", "created_at.asc,id.asc"), *PAGE],
    )


def test_revoke_api_key_only_active_and_own_clinic(sb, postgrest):
    postgrest.reply("PATCH", "clinic_api_keys", [{"id": KEY_ID}])
    assert sb.revoke_api_key(KEY_ID, clinic_id=CLINIC_ID) is True
    assert sb.revoke_api_key(KEY_ID) is False  # nothing matched (already revoked)
    assert sb.revoke_api_key("not-a-uuid") is False
    scoped, unscoped = postgrest.take()
    expect(
        scoped,
        "PATCH",
        "clinic_api_keys",
        [
            ("id", f"eq.{KEY_ID}"),
            ("is_active", "eq.true"),
            ("clinic_id", f"eq.{CLINIC_ID}"),
            ("select", "id"),
        ],
        prefer={"return=representation"},
        body={"is_active": False},
    )
    expect(
        unscoped,
        "PATCH",
        "clinic_api_keys",
        [("id", f"eq.{KEY_ID}"), ("is_active", "eq.true"), ("select", "id")],
        prefer={"return=representation"},
        body={"is_active": False},
    )


def test_touch_api_keys_never_moves_last_used_backwards(sb, postgrest):
    at = datetime(2026, 3, 2, 14, 0, 5, 250000, tzinfo=UTC)
    sb.touch_api_keys([KEY_ID, "junk", CLINIC_ID], at)
    sb.touch_api_keys(["junk"], at)  # nothing valid: no request
    (req,) = postgrest.take()
    stamp = "2026-03-02T14:00:05.250000+00:00"
    expect(
        req,
        "PATCH",
        "clinic_api_keys",
        [("id", f"in.({KEY_ID},{CLINIC_ID})"), ("or", f'(last_used_at.is.null,last_used_at.lt."{stamp}")')],
        prefer={"return=minimal"},
        body={"last_used_at": stamp},
    )


def test_set_schedule_config_upserts_and_embeds_the_clinic(sb, postgrest):
    schedules = [{"type": "inbound", "cron": "0 6 * * *", "enabled": True}]
    postgrest.reply("POST", "clinic_schedule_configs", [config_row()], status=201)
    row = sb.set_schedule_config(CLINIC_ID, schedules)
    (req,) = postgrest.take()
    expect(
        req,
        "POST",
        "clinic_schedule_configs",
        [("on_conflict", "clinic_id"), CONFIG_SELECT],
        prefer={"return=representation", "resolution=merge-duplicates"},
        body={"clinic_id": CLINIC_ID, "sync_schedules": schedules},
    )
    assert (row.version, row.timezone, row.clinic_active) == (3, "America/Los_Angeles", True)
    assert row.updated_at == datetime.fromisoformat(STAMP)


def test_get_schedule_config(sb, postgrest):
    postgrest.reply("GET", "clinic_schedule_configs", [config_row()])
    assert sb.get_schedule_config(CLINIC_ID).sync_schedules[0]["cron"] == "0 6 * * *"
    assert sb.get_schedule_config(CLINIC_ID) is None
    for req in postgrest.take():
        expect(req, "GET", "clinic_schedule_configs", [CONFIG_SELECT, ("clinic_id", f"eq.{CLINIC_ID}")])


def test_list_schedule_configs_polls_by_updated_at(sb, postgrest):
    """What the beat scheduler polls with: LISTEN needs a direct connection, REST has only this."""
    since = datetime(2026, 3, 2, 14, 0, 0, 123456, tzinfo=UTC)
    postgrest.reply(
        "GET", "clinic_schedule_configs", [config_row(clinics={"timezone": "UTC", "is_active": False})]
    )
    (changed,) = sb.list_schedule_configs(changed_since=since)
    assert (changed.timezone, changed.clinic_active) == ("UTC", False)
    sb.list_schedule_configs()
    polled, full = postgrest.take()
    order = ("order", "updated_at.asc,clinic_id.asc")
    expect(
        polled,
        "GET",
        "clinic_schedule_configs",
        [CONFIG_SELECT, ("updated_at", "gt.2026-03-02T14:00:00.123456+00:00"), order, *PAGE],
    )
    expect(full, "GET", "clinic_schedule_configs", [CONFIG_SELECT, order, *PAGE])


def test_schedule_snapshots(sb, postgrest):
    payload = {"slots": [{"start": "09:00"}], "rooms": ["1"]}
    sb.save_schedule_snapshot(CLINIC_ID, "2026-03-02", payload)
    postgrest.reply("GET", "clinic_schedule_snapshots", [{"payload": payload}])
    assert sb.get_schedule_snapshot(CLINIC_ID, "2026-03-02") == payload
    assert sb.get_schedule_snapshot(CLINIC_ID, "2026-03-03") is None
    with pytest.raises(ValidationError):
        sb.save_schedule_snapshot(CLINIC_ID, "02.03.2026", payload)
    saved, got, missing = postgrest.take()
    expect(
        saved,
        "POST",
        "clinic_schedule_snapshots",
        [("on_conflict", "clinic_id,day")],
        prefer={"return=minimal", "resolution=merge-duplicates"},
        body={"clinic_id": CLINIC_ID, "day": "2026-03-02", "payload": payload},
    )
    expect(
        got,
        "GET",
        "clinic_schedule_snapshots",
        [("select", "payload"), ("clinic_id", f"eq.{CLINIC_ID}"), ("day", "eq.2026-03-02")],
    )
    assert ("day", "eq.2026-03-03") in missing.query
