"""Credentials of providers other than IDEXX: one sealed JSON object per clinic and provider.

IDEXX's stay in the product's ``idexx_credentials`` (three columns, the product reads them too).
Every other provider's fields (registry.py declares them) are encrypted together with the same
cipher and key ids (:mod:`pims_sync.crypto`) into ``pims_sync_provider_credentials``
(migration 20261201000009), so adding a provider never adds a column. Errors name the clinic,
the provider and field names, never a value. PostgresStore and SupabaseStore get their methods
for the table from the two mixins here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from postgrest.types import ReturnMethod

from ..errors import CredentialDecryptError, CredentialsMissing, NotFound, ValidationError
from . import _rows as rows
from ._host import PostgresHost, SupabaseHost

TABLE = "pims_sync_provider_credentials"


@dataclass(frozen=True)
class ProviderCredentials:
    """Decrypted fields of one provider. Lives only inside a worker; repr never shows values."""

    provider: str
    fields: Mapping[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    def __repr__(self) -> str:
        return f"ProviderCredentials({self.provider}, <redacted>)"


@dataclass(frozen=True)
class EncryptedProviderCredentials:
    clinic_id: str
    provider: str
    fields_encrypted: bytes = field(repr=False)
    encryption_key_id: str = "default"
    is_active: bool = True
    validation_status: str | None = None


def seal(cipher: Any, *, clinic_id: str, provider: str, fields: Mapping[str, str],
         required: tuple[str, ...], key_id: str = "default") -> EncryptedProviderCredentials:
    """Check every declared field is there and non-empty, then encrypt them as one object."""
    missing = [n for n in required if not str(fields.get(n) or "").strip()]
    extra = sorted(set(fields) - set(required))
    if missing or extra:
        raise ValidationError(
            f"{provider} credentials: missing {missing or 'nothing'}, unknown {extra or 'nothing'}",
            details={"missing": missing, "unknown": extra},
        )
    blob = cipher.encrypt_json({n: str(fields[n]).strip() for n in required}, key_id=key_id)
    return EncryptedProviderCredentials(clinic_id=clinic_id, provider=provider, fields_encrypted=blob,
                                        encryption_key_id=key_id)


def unseal(cipher: Any, enc: EncryptedProviderCredentials) -> ProviderCredentials:
    try:
        data = cipher.decrypt_json(enc.fields_encrypted, key_id=enc.encryption_key_id or "default")
    except CredentialDecryptError as e:
        raise CredentialDecryptError(f"credentials of clinic {enc.clinic_id} ({enc.provider}): {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CredentialDecryptError(f"credentials of clinic {enc.clinic_id} ({enc.provider}): not a field map")
    return ProviderCredentials(enc.provider, dict(data))


def _row(row: Mapping[str, Any]) -> EncryptedProviderCredentials:
    return EncryptedProviderCredentials(
        clinic_id=str(row["clinic_id"]),
        provider=row["provider"],
        fields_encrypted=bytes(row["fields_encrypted"]),
        encryption_key_id=row.get("encryption_key_id") or "default",
        is_active=bool(row["is_active"]),
        validation_status=row.get("validation_status"),
    )


class ProviderCredentialQueries(PostgresHost):
    """PostgresStore's methods for the generic table (a mixin over its ``_one``/``_count``)."""

    def save_provider_credentials(self, creds: EncryptedProviderCredentials) -> None:
        """Insert or replace; a new secret clears any remembered refusal (validation_status)."""
        cid = rows.parse_uuid(creds.clinic_id, "clinic")
        row = self._one(
            "save provider credentials",
            f"""insert into {TABLE} (clinic_id, provider, fields_encrypted, encryption_key_id, is_active)
                select c.id, %s, %s, %s, %s from clinics c where c.id = %s
                on conflict (clinic_id, provider) do update set
                    fields_encrypted = excluded.fields_encrypted, encryption_key_id = excluded.encryption_key_id,
                    is_active = excluded.is_active, validation_status = null, last_validated_at = null
                returning clinic_id""",
            (creds.provider, creds.fields_encrypted, creds.encryption_key_id, creds.is_active, cid),
        )
        if row is None:
            raise NotFound(f"clinic {cid} not found")

    def get_provider_credentials(self, clinic_id: str, provider: str) -> EncryptedProviderCredentials:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "get provider credentials",
            f"select * from {TABLE} where clinic_id = %s and provider = %s and is_active",
            (cid, provider),
        )
        if row is None:
            raise CredentialsMissing(f"clinic {cid} has no active {provider} credentials ({TABLE})")
        return _row(row)

    def mark_provider_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        n = self._count(
            "mark provider credentials validated",
            f"update {TABLE} set validation_status = %s, last_validated_at = now() "
            "where clinic_id = %s and provider = %s",
            (status, cid, provider),
        )
        if n == 0:
            raise CredentialsMissing(f"clinic {cid} has no {provider} credentials ({TABLE})")


def _bytea(value: Any) -> bytes:
    """PostgREST renders bytea as ``\\x<hex>``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    text = str(value)
    return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()


class SupabaseProviderCredentials(SupabaseHost):
    """SupabaseStore's methods for the same table over PostgREST (a mixin over its ``table`` and
    ``_read``): the statements of :class:`ProviderCredentialQueries`, each as a clinic read and one
    write where Postgres needs one statement. ``last_validated_at`` comes from this machine's clock."""

    def save_provider_credentials(self, creds: EncryptedProviderCredentials) -> None:
        """Insert or replace; a new secret clears any remembered refusal (validation_status)."""
        cid = rows.parse_uuid(creds.clinic_id, "clinic")
        found = self._read(
            "save provider credentials", "clinics", self.table("clinics").select("id").eq("id", cid)
        )
        if not found:
            raise NotFound(f"clinic {cid} not found")
        row = {
            "clinic_id": cid,
            "provider": creds.provider,
            "fields_encrypted": "\\x" + creds.fields_encrypted.hex(),  # bytea over JSON: Postgres's hex form
            "encryption_key_id": creds.encryption_key_id,
            "is_active": creds.is_active,
            "validation_status": None,
            "last_validated_at": None,
        }
        query = self.table(TABLE).upsert(
            row, on_conflict="clinic_id,provider", returning=ReturnMethod.minimal
        )
        self._read("save provider credentials", TABLE, query)

    def get_provider_credentials(self, clinic_id: str, provider: str) -> EncryptedProviderCredentials:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = (
            self.table(TABLE)
            .select("*")
            .eq("clinic_id", cid)
            .eq("provider", provider)
            .eq("is_active", True)
        )
        found = self._read("get provider credentials", TABLE, query)
        if not found:
            raise CredentialsMissing(f"clinic {cid} has no active {provider} credentials ({TABLE})")
        return _row({**found[0], "fields_encrypted": _bytea(found[0]["fields_encrypted"])})

    def mark_provider_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = (
            self.table(TABLE)
            .update({"validation_status": status, "last_validated_at": datetime.now(UTC).isoformat()})
            .eq("clinic_id", cid)
            .eq("provider", provider)
            .select("clinic_id")
        )
        if not self._read("mark provider credentials validated", TABLE, query):
            raise CredentialsMissing(f"clinic {cid} has no {provider} credentials ({TABLE})")
