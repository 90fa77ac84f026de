"""Rows to domain models, and the opaque history cursor.

Shared by both stores: psycopg hands back datetimes and UUIDs, PostgREST hands back ISO strings,
so every mapper accepts either.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import orjson

from ..errors import CredentialsMissing, NotFound, StoreError, ValidationError
from ..models import (
    AUDIT_STATUSES,
    PERMISSION_ALIASES,
    SYNC_TYPES,
    TRIGGERS,
    ApiKeyRecord,
    Audit,
    CaseRecord,
    CaseRef,
    Clinic,
    EncryptedCredentials,
    HistoryPage,
    ScheduleConfigRow,
)
from ._clinic_rules import PRODUCT_DEFAULT_TIMEZONE, provider_from_row

CASE_DATA_COLUMNS = (
    "source",
    "external_id",
    "status",
    "pims_status",
    "type",
    "scheduled_at",
    "ends_at",
    "patient_name",
    "patient_external_id",
    "species",
    "client_name",
    "client_external_id",
    "client_email",
    "client_phone",
    "client_phone_e164",
    "provider_name",
    "room",
    "consultation_external_id",
    "metadata",
)


def parse_uuid(value: Any, what: str) -> str:
    """A canonical UUID string; a malformed id names no row, so it is NotFound, not a crash."""
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError, AttributeError):
        raise NotFound(f"{what} {value!r} not found (not a valid id)") from None


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _at(value: Any) -> datetime:
    """A NOT NULL timestamp column."""
    found = _ts(value)
    if found is None:
        raise StoreError("a NOT NULL timestamp column came back NULL")
    return found


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"))


def dumps_bytes(value: Any) -> bytes:
    """``dumps`` as UTF-8 bytes, by orjson (what the Postgres store sends as jsonb).

    orjson writes datetimes, dates and UUIDs as ``json_default`` does; a value it refuses (an
    integer beyond 64 bits) goes through the standard library's encoder instead.
    """
    try:
        return orjson.dumps(value, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return dumps(value).encode()


def case_to_json(case: CaseRecord) -> dict[str, Any]:
    """The JSON object upsert_cases() takes for one case."""
    return {name: getattr(case, name) for name in CASE_DATA_COLUMNS}


def clinic(row: Mapping[str, Any]) -> Clinic:
    """A clinics row plus ``sync_enabled`` (its credentials row's flag; None: no row, so True)."""
    enabled = row.get("sync_enabled")
    return Clinic(
        id=str(row["id"]),
        name=row["name"],
        # NULL is the product's default zone; anything else (even '') is the row's, checked by the worker
        timezone=PRODUCT_DEFAULT_TIMEZONE if row.get("timezone") is None else row["timezone"],
        pims_provider=provider_from_row(row.get("pims_provider")),
        is_active=row.get("is_active") is not False,
        phone_region=row.get("phone_region") or "US",
        pims_host=row.get("pims_host"),
        owner_user_id=_s(row.get("owner_user_id")),
        sync_owner=row.get("sync_owner") or "pims-sync",
        sync_enabled=enabled is not False,
    )


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    text = str(value)  # PostgREST renders bytea as "\x<hex>"
    return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()


def credentials(row: Mapping[str, Any], provider: str) -> EncryptedCredentials:
    """An idexx_credentials row; ``provider`` is the name the caller asked for (the table has none)."""
    return EncryptedCredentials(
        clinic_id=str(row["clinic_id"]),
        provider=provider,
        username_encrypted=_bytes(row["username_encrypted"]),
        password_encrypted=_bytes(row["password_encrypted"]),
        company_id_encrypted=_bytes(row["company_id_encrypted"]),
        encryption_key_id=row.get("encryption_key_id") or "default",
        is_active=bool(row["is_active"]),
        validation_status=row.get("validation_status"),
    )


def api_key(row: Mapping[str, Any]) -> ApiKeyRecord:
    """A clinic_api_keys row; ``granted_clinic_ids`` is an array of ids or, from PostgREST, the
    embedded pims_sync_key_clinics rows. Product spellings of permissions read canonically."""
    perms = row.get("permissions")
    granted = row.get("granted_clinic_ids")
    if granted is None:
        granted = [g["clinic_id"] for g in row.get("pims_sync_key_clinics") or ()]
    return ApiKeyRecord(
        id=str(row["id"]),
        clinic_id=_s(row.get("clinic_id")),
        name=row.get("name"),
        key_prefix=row["key_prefix"],
        key_hash=row["key_hash"],
        permissions=None
        if perms is None
        else tuple(dict.fromkeys(PERMISSION_ALIASES.get(p, p) for p in perms)),
        expires_at=_ts(row.get("expires_at")),
        is_active=bool(row["is_active"]),
        last_used_at=_ts(row.get("last_used_at")),
        created_at=_ts(row.get("created_at")),
        granted_clinic_ids=tuple(sorted(str(g) for g in granted)),
    )


def schedule_config(row: Mapping[str, Any]) -> ScheduleConfigRow:
    return ScheduleConfigRow(
        clinic_id=str(row["clinic_id"]),
        timezone=row["timezone"],
        clinic_active=bool(row["clinic_active"]),
        sync_schedules=row["sync_schedules"],
        version=int(row["version"]),
        updated_at=_at(row["updated_at"]),
    )


def case_ref(row: Mapping[str, Any]) -> CaseRef:
    return CaseRef(
        id=str(row["id"]),
        external_id=row["external_id"],
        scheduled_at=_at(row["scheduled_at"]),
        status=row["status"],
        consultation_external_id=row.get("consultation_external_id"),
        enriched_at=_ts(row.get("enriched_at")),
        deleted_at=_ts(row.get("deleted_at")),
    )


_AUDIT_INTS = (
    "appointments_found",
    "cases_created",
    "cases_updated",
    "cases_skipped",
    "cases_deleted",
    "cases_restored",
    "cases_enriched",
    "failed",
    "total_items",
    "processed_items",
    "attempts",
)


def audit(row: Mapping[str, Any]) -> Audit:
    duration = row.get("duration_ms")
    return Audit(
        id=str(row["id"]),
        clinic_id=str(row["clinic_id"]),
        sync_type=row["sync_type"],
        status=row["status"],
        trigger=row["trigger"],
        parent_id=_s(row.get("parent_id")),
        phase=row.get("phase"),
        stats=dict(row.get("stats") or {}),
        error_message=row.get("error_message"),
        task_id=row.get("task_id"),
        created_at=_ts(row.get("created_at")),
        started_at=_ts(row.get("started_at")),
        finished_at=_ts(row.get("finished_at")),
        duration_ms=None if duration is None else int(duration),
        **{name: int(row.get(name) or 0) for name in _AUDIT_INTS},
    )


# --- history cursor: opaque to callers, (created_at, id) of the last row shown ----------------


def encode_cursor(created_at: datetime, audit_id: str) -> str:
    raw = f"{created_at.isoformat()}|{audit_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, audit_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
        return created_at, str(uuid.UUID(audit_id))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("invalid history cursor", details={"cursor": cursor}) from e


def history_page(found: list[dict[str, Any]], summary: Mapping[str, Any], *, limit: int) -> HistoryPage:
    """A history page from `limit + 1` rows of sync_history_page and sync_history_summary."""
    audits = tuple(audit(r) for r in found[:limit])
    next_cursor = None
    if len(found) > limit:  # the extra row says another page exists
        next_cursor = encode_cursor(_at(audits[-1].created_at), audits[-1].id)
    return HistoryPage(
        audits=audits,
        next_cursor=next_cursor,
        total=int(summary["total"]),
        succeeded=int(summary["succeeded"]),
        failed=int(summary["failed"]),
    )


# --- checks and messages both stores share ---------------------------------------------------

UPSERT_CHUNK = 500  # cases per upsert_cases call (one statement, or one REST request)
MAX_HISTORY_LIMIT = 200


def day(value: str | date) -> date:
    """A calendar day from a date or ``YYYY-MM-DD``."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"day must be YYYY-MM-DD, got {value!r}") from None


def choice(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def case_ids(values: Sequence[str]) -> list[str]:
    """Valid UUIDs only: an id that cannot exist cannot match a row either."""
    out = []
    for value in values:
        try:
            out.append(parse_uuid(value, "case"))
        except NotFound:
            continue
    return out


def history_limit(limit: int) -> int:
    """A history page size within 1..MAX_HISTORY_LIMIT."""
    return max(1, min(int(limit), MAX_HISTORY_LIMIT))


def new_audit_row(
    *, clinic_id: str, sync_type: str, trigger: str, status: str, audit_id: str | None, parent_id: str | None
) -> tuple[str | None, dict[str, Any]]:
    """(audit id or None, the validated columns of a new pims_sync_runs row)."""
    row = {
        "clinic_id": parse_uuid(clinic_id, "clinic"),
        "sync_type": choice(sync_type, SYNC_TYPES, "sync_type"),
        "trigger": choice(trigger, TRIGGERS, "trigger"),
        "parent_id": None if parent_id is None else parse_uuid(parent_id, "parent sync"),
        "status": choice(status, AUDIT_STATUSES, "status"),
    }
    return (None if audit_id is None else parse_uuid(audit_id, "sync")), row


def returned(row: Mapping[str, Any] | None, what: str) -> Mapping[str, Any]:
    """The row an ``insert ... returning`` answered (it always answers one, or raises)."""
    if row is None:
        raise StoreError(f"{what}: the database returned no row")
    return row


def clinic_not_found(clinic_id: str) -> NotFound:
    return NotFound(f"clinic {clinic_id} not found")


def sync_not_found(audit_id: str) -> NotFound:
    return NotFound(f"sync {audit_id} not found")


def foreign_case(clinic_id: str, other: str) -> ValidationError:
    return ValidationError(f"upsert_cases for clinic {clinic_id} got a case of clinic {other}")


def no_credentials(clinic_id: str, provider: str, *, active: bool = False) -> CredentialsMissing:
    which = "active " if active else ""
    return CredentialsMissing(f"clinic {clinic_id} has no {which}{provider} credentials (idexx_credentials)")


def other_provider(provider: str, clinic_id: str) -> str:
    """Why idexx_credentials cannot hold another provider's credentials: they live elsewhere."""
    return (
        f"clinic {clinic_id}: idexx_credentials holds IDEXX Neo credentials only; PIMS provider "
        f"{provider!r} keeps its credentials in pims_sync_provider_credentials "
        "(save_provider_credentials/get_provider_credentials, or `pims-sync credentials set`)"
    )
