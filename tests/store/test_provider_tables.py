"""Other providers' credentials and state (pims_sync_provider_credentials, pims_sync_provider_state):
the store contract, run against every Store (the Supabase run needs a project: tests/fixtures/db.py)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.errors import CredentialsMissing, NotFound, ValidationError
from pims_sync.store._provider_credentials import EncryptedProviderCredentials

pytestmark = pytest.mark.store_contract

MISSING = "7e1c0a44-1111-4c2d-9e3f-0123456789ab"


def test_provider_credentials_save_replace_validate(store, clinic):
    with pytest.raises(CredentialsMissing, match="ezyvet"):
        store.get_provider_credentials(clinic.id, "ezyvet")
    sealed = secrets.token_bytes(40)
    store.save_provider_credentials(EncryptedProviderCredentials(clinic.id, "ezyvet", sealed, "k1"))
    got = store.get_provider_credentials(clinic.id, "ezyvet")
    assert (got.fields_encrypted, got.encryption_key_id, got.validation_status) == (sealed, "k1", None)
    store.mark_credentials_validated(clinic.id, "ezyvet", status="invalid")  # routed to the provider table
    assert store.get_provider_credentials(clinic.id, "ezyvet").validation_status == "invalid"
    again = secrets.token_bytes(40)
    store.save_provider_credentials(EncryptedProviderCredentials(clinic.id, "ezyvet", again, "k2"))
    got = store.get_provider_credentials(clinic.id, "ezyvet")
    assert (got.fields_encrypted, got.encryption_key_id, got.validation_status) == (again, "k2", None)
    with pytest.raises(NotFound):
        store.save_provider_credentials(EncryptedProviderCredentials(MISSING, "ezyvet", sealed))
    with pytest.raises(CredentialsMissing):
        store.mark_provider_credentials_validated(clinic.id, "other-pims", status="valid")


def test_provider_state_keeps_the_watermark_and_the_sites_zone(store, clinic):
    assert store.get_provider_state(clinic.id, "ezyvet") is None
    since = datetime.now(UTC).replace(microsecond=0)
    window = (since - timedelta(hours=5), since + timedelta(days=3))
    store.save_sync_watermark(clinic.id, "ezyvet", modified_since=since, window=window, site_timezone="Europe/London")
    state = store.get_provider_state(clinic.id, "ezyvet")
    assert (state.modified_since, state.covered_start, state.covered_end) == (since, *window)
    assert state.site_timezone == "Europe/London" and state.site_checked_at is not None
    assert state.covers(window[0], window[1] - timedelta(days=1)) and not state.covers(window[0] - timedelta(1), window[1])
    later = since + timedelta(minutes=10)
    store.save_sync_watermark(clinic.id, "ezyvet", modified_since=later, window=(window[0], window[1]))
    moved = store.get_provider_state(clinic.id, "ezyvet")
    assert moved.modified_since == later and moved.site_timezone == "Europe/London"  # a run that did not learn it
    assert store.get_provider_state(clinic.id, "other-pims") is None
    with pytest.raises(NotFound):
        store.save_sync_watermark(MISSING, "ezyvet", modified_since=since, window=window)
    with pytest.raises(ValidationError):
        store.save_sync_watermark(clinic.id, "ezyvet", modified_since=since, window=(window[1], window[0]))
