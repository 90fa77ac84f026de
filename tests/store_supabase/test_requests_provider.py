"""SupabaseStore's other-provider tables over PostgREST: the requests it sends for
pims_sync_provider_credentials and pims_sync_provider_state (the same rules as PostgresStore;
tests/store/test_provider_tables.py runs both stores against real databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, ValidationError
from pims_sync.store._provider_credentials import EncryptedProviderCredentials

from .fake_postgrest import expect
from .sample_rows import CLINIC_ID

SEALED = b"\x00\x01sealed-fields\xff"


def _creds(**changes) -> EncryptedProviderCredentials:
    base = {"clinic_id": CLINIC_ID, "provider": "ezyvet", "fields_encrypted": SEALED, "encryption_key_id": "k2"}
    return EncryptedProviderCredentials(**{**base, **changes})


def test_save_provider_credentials_checks_the_clinic_then_upserts_hex_bytea(sb, postgrest):
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}])
    sb.save_provider_credentials(_creds())
    clinic, upsert = postgrest.take()
    expect(clinic, "GET", "clinics", [("select", "id"), ("id", f"eq.{CLINIC_ID}")])
    expect(upsert, "POST", "pims_sync_provider_credentials", [("on_conflict", "clinic_id,provider")],
           prefer={"return=minimal", "resolution=merge-duplicates"},
           body={"clinic_id": CLINIC_ID, "provider": "ezyvet", "fields_encrypted": "\\x" + SEALED.hex(),
                 "encryption_key_id": "k2", "is_active": True, "validation_status": None,
                 "last_validated_at": None})
    # an unknown clinic: NotFound, nothing written
    with pytest.raises(NotFound, match=CLINIC_ID):
        sb.save_provider_credentials(_creds())
    assert len(postgrest.take()) == 1


def test_get_provider_credentials_decodes_bytea_and_says_what_is_missing(sb, postgrest):
    row = {"clinic_id": CLINIC_ID, "provider": "ezyvet", "fields_encrypted": "\\x" + SEALED.hex(),
           "encryption_key_id": "k2", "is_active": True, "validation_status": "invalid"}
    postgrest.reply("GET", "pims_sync_provider_credentials", [row])
    got = sb.get_provider_credentials(CLINIC_ID, "ezyvet")
    assert (got.fields_encrypted, got.encryption_key_id, got.validation_status) == (SEALED, "k2", "invalid")
    (req,) = postgrest.take()
    expect(req, "GET", "pims_sync_provider_credentials",
           [("select", "*"), ("clinic_id", f"eq.{CLINIC_ID}"), ("provider", "eq.ezyvet"), ("is_active", "eq.true")])
    with pytest.raises(CredentialsMissing, match="ezyvet"):
        sb.get_provider_credentials(CLINIC_ID, "ezyvet")


def test_mark_provider_credentials_validated_patches_the_providers_row(sb, postgrest):
    postgrest.reply("PATCH", "pims_sync_provider_credentials", [{"clinic_id": CLINIC_ID}])
    before = datetime.now(UTC)
    sb.mark_credentials_validated(CLINIC_ID, "ezyvet", status="invalid")  # routed like PostgresStore
    (req,) = postgrest.take()
    expect(req, "PATCH", "pims_sync_provider_credentials",
           [("clinic_id", f"eq.{CLINIC_ID}"), ("provider", "eq.ezyvet"), ("select", "clinic_id")],
           prefer={"return=representation"})
    assert req.body["validation_status"] == "invalid"
    assert datetime.fromisoformat(req.body["last_validated_at"]) >= before - timedelta(seconds=1)
    with pytest.raises(CredentialsMissing, match="pims_sync_provider_credentials"):
        sb.mark_provider_credentials_validated(CLINIC_ID, "ezyvet", status="valid")


def test_provider_state_reads_and_upserts_the_watermark(sb, postgrest):
    since = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    window = (datetime(2026, 11, 30, 5, tzinfo=UTC), datetime(2026, 12, 8, 5, tzinfo=UTC))
    assert sb.get_provider_state(CLINIC_ID, "ezyvet") is None
    postgrest.reply("GET", "pims_sync_provider_state", [{
        "clinic_id": CLINIC_ID, "provider": "ezyvet", "modified_since": "2026-12-01T03:00:00+00:00",
        "covered_start": "2026-11-30T05:00:00+00:00", "covered_end": "2026-12-08T05:00:00+00:00",
        "site_timezone": "Pacific/Auckland", "site_checked_at": "2026-12-01T03:00:05+00:00",
        "updated_at": "2026-12-01T03:00:05+00:00"}])
    state = sb.get_provider_state(CLINIC_ID, "ezyvet")
    assert (state.modified_since, state.site_timezone) == (since, "Pacific/Auckland")
    assert state.covers(window[0] + timedelta(days=1), window[1]) and not state.covers(window[0], window[1] + timedelta(1))
    missing, found = postgrest.take()
    expect(found, "GET", "pims_sync_provider_state",
           [("select", "*"), ("clinic_id", f"eq.{CLINIC_ID}"), ("provider", "eq.ezyvet")])

    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}])
    sb.save_sync_watermark(CLINIC_ID, "ezyvet", modified_since=since, window=window, site_timezone="Pacific/Auckland")
    postgrest.reply("GET", "clinics", [{"id": CLINIC_ID}])
    sb.save_sync_watermark(CLINIC_ID, "ezyvet", modified_since=since, window=window)  # zone not learnt
    _, with_zone, _, without = postgrest.take()
    expected = {"clinic_id": CLINIC_ID, "provider": "ezyvet", "modified_since": since.isoformat(),
                "covered_start": window[0].isoformat(), "covered_end": window[1].isoformat()}
    expect(without, "POST", "pims_sync_provider_state", [("on_conflict", "clinic_id,provider")],
           prefer={"return=minimal", "resolution=merge-duplicates"}, body=expected)  # the stored zone stays
    assert with_zone.body.pop("site_timezone") == "Pacific/Auckland" and with_zone.body.pop("site_checked_at")
    assert with_zone.body == expected
    # checked before any request; an unknown clinic is NotFound
    with pytest.raises(ValidationError):
        sb.save_sync_watermark(CLINIC_ID, "ezyvet", modified_since=since.replace(tzinfo=None), window=window)
    with pytest.raises(NotFound):
        sb.save_sync_watermark(CLINIC_ID, "ezyvet", modified_since=since, window=window)
    assert len(postgrest.take()) == 1
