"""idexx_credentials refuses another provider's credentials by saying where those live."""

from __future__ import annotations

import secrets

import pytest

from pims_sync.errors import CredentialsMissing


def test_asking_idexx_credentials_for_ezyvet_names_the_table_that_holds_them(store):
    clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone="UTC", pims_provider="ezyvet")
    with pytest.raises(CredentialsMissing) as refused:
        store.get_credentials(clinic.id, "ezyvet")
    message = str(refused.value)
    assert "'ezyvet'" in message and "pims_sync_provider_credentials" in message
    assert "pims-sync credentials set" in message and "yet" not in message
