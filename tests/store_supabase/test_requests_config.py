"""The exact PostgREST requests SupabaseStore sends for clinic configuration, and what it makes of the answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, ValidationError
from pims_sync.models import EncryptedCredentials

from .fake_postgrest import PAGE, expect
from .sample_rows import (
    CLINIC_ID,
    CREDENTIALS_ID,
    KEY_ID,
    OTHER_CLINIC_ID,
    OWNER_ID,
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


CLINIC_SELECT = ("select", "*,idexx_credentials(id,is_active,updated_at,created_at,sync_enabled)")
CREDENTIALS_ORDER = (
    "order",
    "is_active.desc.nullslast,updated_at.desc.nullslast,created_at.desc.nullslast,id.desc.nullslast",
)
KEY_SELECT = ("select", "*,pims_sync_key_clinics(clinic_id)")
NEW_CLINIC = {
    "name": "Harbor Vets",
    "timezone": "America/Los_Angeles",
    "pims_provider": "idexx-neo",
    "pims_host": None,
    "owner_user_id": None,
    "is_active": True,
    "phone_region": "US",
}


def test_create_clinic_inserts_one_row_and_reads_it_back(sb, postgrest):
    postgrest.reply("POST", "clinics", [clinic_row()], status=201)
    made = sb.create_clinic(
        name="Harbor Vets", timezone="America/Los_Angeles", pims_provider="idexx", clinic_id=CLINIC_ID.upper()
    )
    (req,) = postgrest.take()
    expect(req, "POST", "clinics", prefer={"return=representation"}, body={"id": CLINIC_ID, **NEW_CLINIC})
    assert made.id == CLINIC_ID and made.timezone == "America/Los_Angeles" and made.is_active
    assert (made.pims_provider, made.sync_owner, made.sync_enabled) == ("idexx-neo", "pims-sync", True)


def test_create_clinic_without_id_lets_the_database_choose(sb, postgrest):
    postgrest.reply("POST", "clinics", [clinic_row()], status=201)
    sb.create_clinic(
        name="Harbor Vets",
        timezone="UTC",
        pims_host="ca.idexxneo.com",
        owner_user_id=OWNER_ID,
        phone_region="CA",
    )
    (req,) = postgrest.take()
    assert req.body == {
        **NEW_CLINIC,
        "timezone": "UTC",
        "pims_host": "ca.idexxneo.com",
        "owner_user_id": OWNER_ID,
        "phone_region": "CA",
    }


def test_create_clinic_checks_fields_before_any_request(sb, postgrest):
    for zone in ("Mars/Olympus", "", "../../etc/localtime"):
        with pytest.raises(ValidationError, match="timezone"):
            sb.create_clinic(name="X", timezone=zone)
    with pytest.raises(ValidationError, match="clinic_id"):
        sb.create_clinic(name="X", timezone="UTC", clinic_id="nope")
    with pytest.raises(ValidationError, match="owner_user_id"):
        sb.create_clinic(name="X", timezone="UTC", owner_user_id="bob")
    assert postgrest.take() == []


def test_update_clinic_patches_only_the_given_fields(sb, postgrest):
    postgrest.reply("PATCH", "clinics", [clinic_row(sync_owner="legacy", timezone="Europe/London")])
    changed = sb.update_clinic(
        CLINIC_ID, sync_owner="legacy", timezone="Europe/London", pims_provider="idexx"
    )
    assert (changed.sync_owner, changed.timezone, changed.sync_enabled) == ("legacy", "Europe/London", True)
    with pytest.raises(NotFound):  # nothing matched: PostgREST's empty array
        sb.update_clinic(CLINIC_ID, name="Ghost")
    patched, missing = postgrest.take()
    expect(
        patched,
        "PATCH",
        "clinics",
        [CLINIC_SELECT, ("id", f"eq.{CLINIC_ID}")],
        prefer={"return=representation"},
        body={"sync_owner": "legacy", "timezone": "Europe/London", "pims_provider": "idexx-neo"},
    )
    assert missing.body == {"name": "Ghost"}
    for bad in ({"timezone": "Mars/Olympus"}, {"sync_enabled": False}, {"sync_owner": "both"}):
        with pytest.raises(ValidationError):
            sb.update_clinic(CLINIC_ID, **bad)
    assert postgrest.take() == []


def test_get_clinic(sb, postgrest):
    postgrest.reply("GET", "clinics", [clinic_row()])
    assert sb.get_clinic(CLINIC_ID).name == "Harbor Vets"
    (req,) = postgrest.take()
    expect(req, "GET", "clinics", [CLINIC_SELECT, ("id", f"eq.{CLINIC_ID}")])

    with pytest.raises(NotFound, match=CLINIC_ID):  # nothing queued: PostgREST's empty array
        sb.get_clinic(CLINIC_ID)
    with pytest.raises(NotFound):
        sb.get_clinic("not-a-uuid")
    assert len(postgrest.take()) == 1  # the malformed id never left the process


def test_clinic_sync_enabled_is_the_chosen_credentials_rows_flag(sb, postgrest):
    creds = [
        {
            "id": "1" * 8 + CREDENTIALS_ID[8:],
            "is_active": True,
            "updated_at": "2026-03-01T10:00:00+00:00",
            "created_at": STAMP,
            "sync_enabled": True,
        },
        {
            "id": "2" * 8 + CREDENTIALS_ID[8:],
            "is_active": True,
            "updated_at": "2026-03-01T10:00:00.5+00:00",
            "created_at": STAMP,
            "sync_enabled": False,
        },  # active and the latest: this one decides
        {
            "id": "3" * 8 + CREDENTIALS_ID[8:],
            "is_active": False,
            "updated_at": "2026-03-05T10:00:00+00:00",
            "created_at": STAMP,
            "sync_enabled": True,
        },
    ]
    postgrest.reply("GET", "clinics", [clinic_row(idexx_credentials=creds, pims_provider="idexx")])
    clinic = sb.get_clinic(CLINIC_ID)
    assert clinic.sync_enabled is False and clinic.pims_provider == "idexx-neo"


def test_list_clinics_filters_orders_and_pages(sb, postgrest):
    postgrest.reply("GET", "clinics", [clinic_row()])
    assert [c.id for c in sb.list_clinics()] == [CLINIC_ID]
    sb.list_clinics(active_only=False)
    active, every = postgrest.take()
    expect(
        active,
        "GET",
        "clinics",
        [CLINIC_SELECT, ("is_active", "eq.true"), ("order", "name.asc,id.asc"), *PAGE],
    )
    expect(every, "GET", "clinics", [CLINIC_SELECT, ("order", "name.asc,id.asc"), *PAGE])


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


def _creds(**changes) -> EncryptedCredentials:
    creds = EncryptedCredentials(
        clinic_id=CLINIC_ID,
        provider="idexx",
        username_encrypted=b"\x00use",
        password_encrypted=b"\x00pas",
        company_id_encrypted=b"\x00com",
        encryption_key_id="k2024",
    )
    return replace(creds, **changes)


SECRET_BODY = {
    "username_encrypted": "\\x00757365",
    "password_encrypted": "\\x00706173",
    "company_id_encrypted": "\\x00636f6d",
    "encryption_key_id": "k2024",
    "is_active": True,
    "validation_status": None,
}
SAVE_READ = ("select", "id,owner_user_id,idexx_credentials(id,is_active,updated_at,created_at,sync_enabled)")


def test_first_credentials_are_inserted_for_the_clinics_owner_with_bytea_hex(sb, postgrest):
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID, "owner_user_id": OWNER_ID, "idexx_credentials": []}])
    sb.save_credentials(_creds())
    read, inserted = postgrest.take()
    expect(read, "GET", "clinics", [SAVE_READ, ("id", f"eq.{CLINIC_ID}")])
    expect(
        inserted,
        "POST",
        "idexx_credentials",
        prefer={"return=minimal"},
        body={"clinic_id": CLINIC_ID, "user_id": OWNER_ID, **SECRET_BODY},
    )


def test_saved_credentials_replace_the_clinics_chosen_row(sb, postgrest):
    rows = [
        credentials_row(id="1" * 8 + CREDENTIALS_ID[8:], updated_at="2026-03-01T00:00:00+00:00"),
        credentials_row(updated_at="2026-03-02T00:00:00+00:00"),
        credentials_row(
            id="3" * 8 + CREDENTIALS_ID[8:], is_active=False, updated_at="2026-03-09T00:00:00+00:00"
        ),
    ]
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID, "owner_user_id": None, "idexx_credentials": rows}])
    sb.save_credentials(_creds())
    _, patched = postgrest.take()
    expect(
        patched,
        "PATCH",
        "idexx_credentials",
        [("id", f"eq.{CREDENTIALS_ID}")],
        prefer={"return=minimal"},
        body={**SECRET_BODY, "last_validated_at": None},
    )


def test_credentials_errors_before_writing(sb, postgrest):
    with pytest.raises(NotFound):  # no such clinic: the read came back empty
        sb.save_credentials(_creds())
    with pytest.raises(ValidationError, match="ezyvet"):
        sb.save_credentials(_creds(provider="ezyvet"))
    with pytest.raises(CredentialsMissing, match="ezyvet"):
        sb.get_credentials(CLINIC_ID, "ezyvet")
    (read,) = postgrest.take()
    assert read.method == "GET"


def test_get_credentials_decodes_bytea(sb, postgrest):
    postgrest.reply("GET", "idexx_credentials", [credentials_row()])
    got = sb.get_credentials(CLINIC_ID, "idexx-neo")
    assert (got.username_encrypted, got.password_encrypted, got.company_id_encrypted) == (
        b"\x00use",
        b"\x00pas",
        b"\x00com",
    )
    assert got.provider == "idexx-neo"
    (req,) = postgrest.take()
    expect(
        req,
        "GET",
        "idexx_credentials",
        [
            ("select", "*"),
            ("clinic_id", f"eq.{CLINIC_ID}"),
            ("is_active", "eq.true"),
            CREDENTIALS_ORDER,
            ("limit", "1"),
        ],
    )
    with pytest.raises(CredentialsMissing):
        sb.get_credentials(CLINIC_ID)


def test_mark_credentials_validated_patches_the_chosen_row(sb, postgrest):
    postgrest.reply("GET", "idexx_credentials", [{"id": CREDENTIALS_ID}])
    postgrest.reply("PATCH", "idexx_credentials", [{"id": CREDENTIALS_ID}])
    before = datetime.now(UTC)
    sb.mark_credentials_validated(CLINIC_ID, "idexx", status="valid")
    chosen, req = postgrest.take()
    expect(
        chosen,
        "GET",
        "idexx_credentials",
        [("select", "id"), ("clinic_id", f"eq.{CLINIC_ID}"), CREDENTIALS_ORDER, ("limit", "1")],
    )
    expect(
        req,
        "PATCH",
        "idexx_credentials",
        [("id", f"eq.{CREDENTIALS_ID}"), ("select", "id")],
        prefer={"return=representation"},
    )
    assert req.body["validation_status"] == "valid"
    stamped = datetime.fromisoformat(req.body["last_validated_at"])
    assert stamped.tzinfo is not None and stamped >= before - timedelta(seconds=1)
    with pytest.raises(CredentialsMissing):  # no row to choose
        sb.mark_credentials_validated(CLINIC_ID, "idexx", status="valid")
    assert len(postgrest.take()) == 1
    # another provider's mark goes to its own table (as PostgresStore routes it): no row there either
    with pytest.raises(CredentialsMissing, match="pims_sync_provider_credentials"):
        sb.mark_credentials_validated(CLINIC_ID, "other-pims", status="valid")
    (other,) = postgrest.take()
    assert (other.method, other.path) == ("PATCH", "/rest/v1/pims_sync_provider_credentials")


def test_set_sync_enabled_writes_every_row_and_the_chosen_one_last(sb, postgrest):
    postgrest.reply("GET", "idexx_credentials", [{"id": CREDENTIALS_ID}])
    sb.set_sync_enabled(CLINIC_ID, False)
    chosen, others, last = postgrest.take()
    expect(
        chosen,
        "GET",
        "idexx_credentials",
        [("select", "id"), ("clinic_id", f"eq.{CLINIC_ID}"), CREDENTIALS_ORDER, ("limit", "1")],
    )
    for req, pick in ((others, "neq"), (last, "eq")):
        expect(
            req,
            "PATCH",
            "idexx_credentials",
            [
                ("clinic_id", f"eq.{CLINIC_ID}"),
                ("id", f"{pick}.{CREDENTIALS_ID}"),
                ("sync_enabled", "not.is.false"),
            ],
            prefer={"return=minimal"},
            body={"sync_enabled": False},
        )
    with pytest.raises(CredentialsMissing):
        sb.set_sync_enabled(CLINIC_ID, True)  # no row to hold the flag


def test_create_api_key_sends_canonical_permissions_and_the_owner(sb, postgrest):
    postgrest.reply("GET", "clinics", [{"owner_user_id": OWNER_ID}])
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
    owner, req = postgrest.take()
    expect(owner, "GET", "clinics", [("select", "owner_user_id"), ("id", f"eq.{CLINIC_ID}")])
    expect(
        req,
        "POST",
        "clinic_api_keys",
        prefer={"return=representation"},
        body={
            "clinic_id": CLINIC_ID,
            "user_id": OWNER_ID,
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
            clinic_id=CLINIC_ID, name="xyz", key_prefix="p", key_hash="a" * 64, permissions=["root"]
        )
    with pytest.raises(ValidationError, match="name"):
        sb.create_api_key(clinic_id=CLINIC_ID, name="x", key_prefix="p", key_hash="a" * 64)
    assert postgrest.take() == []
    with pytest.raises(NotFound):  # the clinic read came back empty
        sb.create_api_key(clinic_id=CLINIC_ID, name="ops", key_prefix="p", key_hash="a" * 64)


def test_create_shared_api_key_without_name(sb, postgrest):
    postgrest.reply("POST", "clinic_api_keys", [api_key_row(clinic_id=None, name=None)], status=201)
    key = sb.create_api_key(clinic_id=None, key_prefix="pk_abc", key_hash="a" * 64)
    (req,) = postgrest.take()
    assert req.body["clinic_id"] is None and req.body["name"] is None and req.body["user_id"] is None
    assert "permissions" not in req.body  # every permission: the column's default (the product's is NOT NULL)
    assert (key.clinic_id, key.name) == (None, None)


def test_find_and_list_api_keys_with_their_grants(sb, postgrest):
    grants = [{"clinic_id": OTHER_CLINIC_ID}, {"clinic_id": CLINIC_ID}]
    postgrest.reply("GET", "clinic_api_keys", [api_key_row(clinic_id=None, pims_sync_key_clinics=grants)])
    found = sb.find_api_key("a" * 64)
    assert found.id == KEY_ID and found.granted_clinic_ids == tuple(sorted([CLINIC_ID, OTHER_CLINIC_ID]))
    assert sb.find_api_key("b" * 64) is None
    assert sb.list_api_keys(CLINIC_ID) == []
    assert sb.list_api_keys(None) == []
    found_req, missing, listed, shared = postgrest.take()
    expect(found_req, "GET", "clinic_api_keys", [KEY_SELECT, ("key_hash", "eq." + "a" * 64)])
    expect(missing, "GET", "clinic_api_keys", [KEY_SELECT, ("key_hash", "eq." + "b" * 64)])
    order = ("order", "created_at.asc,id.asc")
    expect(listed, "GET", "clinic_api_keys", [KEY_SELECT, ("clinic_id", f"eq.{CLINIC_ID}"), order, *PAGE])
    expect(shared, "GET", "clinic_api_keys", [KEY_SELECT, ("clinic_id", "is.null"), order, *PAGE])


def test_product_permission_spellings_read_canonically(sb, postgrest):
    postgrest.reply(
        "GET", "clinic_api_keys", [api_key_row(permissions=["inbound", "cases", "reconciliation"])]
    )
    assert sb.get_api_key(KEY_ID).permissions == ("sync:inbound", "sync:cases", "sync:reconcile")
    with pytest.raises(NotFound):
        sb.get_api_key(KEY_ID)
    for req in postgrest.take():
        expect(req, "GET", "clinic_api_keys", [KEY_SELECT, ("id", f"eq.{KEY_ID}")])


def test_bind_api_key_only_while_shared(sb, postgrest):
    postgrest.reply("GET", "clinic_api_keys", [api_key_row(clinic_id=None)])
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}])
    postgrest.reply("PATCH", "clinic_api_keys", [{"id": KEY_ID}])
    postgrest.reply("GET", "clinic_api_keys", [api_key_row()])
    assert sb.bind_api_key(KEY_ID, CLINIC_ID).clinic_id == CLINIC_ID
    _, clinic, bound, _ = postgrest.take()
    expect(clinic, "GET", "clinics", [("select", "id"), ("id", f"eq.{CLINIC_ID}")])
    expect(
        bound,
        "PATCH",
        "clinic_api_keys",
        [("id", f"eq.{KEY_ID}"), ("clinic_id", "is.null"), ("select", "id")],
        prefer={"return=representation"},
        body={"clinic_id": CLINIC_ID},
    )

    postgrest.reply("GET", "clinic_api_keys", [api_key_row()])
    with pytest.raises(ValidationError, match=CLINIC_ID):  # bound to another clinic already
        sb.bind_api_key(KEY_ID, OTHER_CLINIC_ID)
    postgrest.reply("GET", "clinic_api_keys", [api_key_row()])
    with pytest.raises(ValidationError, match="shared"):
        sb.grant_api_key_clinics(KEY_ID, [OTHER_CLINIC_ID])
    assert [r.method for r in postgrest.take()] == ["GET", "GET"]  # refused before any write


def test_grant_and_revoke_grants_of_a_shared_key(sb, postgrest):
    postgrest.reply("GET", "clinic_api_keys", [api_key_row(clinic_id=None)])
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}, {"id": OTHER_CLINIC_ID}])
    granted_row = api_key_row(
        clinic_id=None, pims_sync_key_clinics=[{"clinic_id": CLINIC_ID}, {"clinic_id": OTHER_CLINIC_ID}]
    )
    postgrest.reply("GET", "clinic_api_keys", [granted_row])
    key = sb.grant_api_key_clinics(KEY_ID, [OTHER_CLINIC_ID, CLINIC_ID])
    assert key.granted_clinic_ids == tuple(sorted([CLINIC_ID, OTHER_CLINIC_ID]))
    _, known, inserted, _ = postgrest.take()
    ids = sorted([CLINIC_ID, OTHER_CLINIC_ID])
    expect(known, "GET", "clinics", [("select", "id"), ("id", f"in.({','.join(ids)})")])
    # postgrest-py lists a bulk body's columns from a set: their order varies between runs
    columns = dict(inserted.query).get("columns", "")
    assert sorted(columns.split(",")) == ['"clinic_id"', '"key_id"']
    expect(
        replace(inserted, query=[q for q in inserted.query if q[0] != "columns"]),
        "POST",
        "pims_sync_key_clinics",
        [("on_conflict", "key_id,clinic_id")],
        prefer={"return=minimal", "resolution=ignore-duplicates"},
        body=[{"key_id": KEY_ID, "clinic_id": c} for c in ids],
    )

    postgrest.reply("GET", "clinic_api_keys", [api_key_row(clinic_id=None)])
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}])
    with pytest.raises(NotFound, match=OTHER_CLINIC_ID):
        sb.grant_api_key_clinics(KEY_ID, [CLINIC_ID, OTHER_CLINIC_ID])
    assert [r.method for r in postgrest.take()] == ["GET", "GET"]  # nothing written

    postgrest.reply("DELETE", "pims_sync_key_clinics", [{"key_id": KEY_ID}])
    assert sb.revoke_api_key_grant(KEY_ID, CLINIC_ID) is True
    assert sb.revoke_api_key_grant(KEY_ID, CLINIC_ID) is False
    assert sb.revoke_api_key_grant("junk", CLINIC_ID) is False
    deleted, _ = postgrest.take()
    expect(
        deleted,
        "DELETE",
        "pims_sync_key_clinics",
        [("key_id", f"eq.{KEY_ID}"), ("clinic_id", f"eq.{CLINIC_ID}"), ("select", "key_id")],
        prefer={"return=representation"},
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
