"""What a clinic row, its credentials and its API keys may hold: checked before any write.

Both stores call these, so a bad time zone typed into the CLI or the API is refused with the
field's name before it can reach the database and break the clinic's schedules and windows.
Rows written by people (the product's own screens, SQL by hand) are read as they are: only our
writes are checked.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..errors import ValidationError
from ..models import PERMISSION_ALIASES, PERMISSIONS
from ..timezones import check_timezone  # noqa: F401  (the stores' write check)

# the product's default zone for clinics (ORIGINAL_SCHEMA.md): what a NULL timezone means there
PRODUCT_DEFAULT_TIMEZONE = "America/Los_Angeles"

DEFAULT_PROVIDER = "idexx-neo"
PROVIDER_ALIASES = {"idexx": "idexx-neo"}
# providers whose credentials live in idexx_credentials (the product's table)
IDEXX_PROVIDERS = frozenset({"idexx-neo", *PROVIDER_ALIASES})

# clinics.sync_owner: which service syncs the clinic during a cut-over (docs/MIGRATING.md)
SYNC_OWNERS = ("pims-sync", "legacy")

# the columns update_clinic may change; everything else on clinics is the product's or derived
CLINIC_UPDATABLE = (
    "name",
    "timezone",
    "pims_provider",
    "pims_host",
    "owner_user_id",
    "is_active",
    "sync_owner",
    "phone_region",
)

# Which idexx_credentials row is the clinic's when there are several (one per product user):
# an active one first, then the most recently updated. SQL, PostgREST and Python render this.
CREDENTIALS_ORDER = (("is_active", True), ("updated_at", True), ("created_at", True), ("id", True))

KEY_NAME_LENGTH = (3, 100)  # the product's CHECK on clinic_api_keys.name

_PROVIDER = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")


def canonical_provider(value: Any, field: str = "pims_provider") -> str:
    """The registry name of a PIMS provider ('idexx' is an alias of 'idexx-neo')."""
    if not isinstance(value, str) or not _PROVIDER.match(value):
        raise ValidationError(
            f"{field}: expected a provider name such as {DEFAULT_PROVIDER}, got {value!r}",
            details={"field": field},
        )
    return PROVIDER_ALIASES.get(value, value)


def provider_from_row(value: Any) -> str:
    """What a stored clinics.pims_provider means (the product's rows may say 'idexx' or nothing)."""
    if not value:
        return DEFAULT_PROVIDER
    return PROVIDER_ALIASES.get(str(value), str(value))


def is_idexx(provider: str) -> bool:
    return provider in IDEXX_PROVIDERS


def check_uuid(value: Any, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError, AttributeError):
        raise ValidationError(f"{field} must be a UUID, got {value!r}", details={"field": field}) from None


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("name: a clinic needs a non-empty name", details={"field": "name"})
    return value.strip()


def _host(value: Any) -> str | None:
    """A bare host (ca.idexxneo.com) or an http(s) URL without a path; None = the default host."""
    if value is None:
        return None
    text = value.strip().rstrip("/") if isinstance(value, str) else ""
    parts = urlsplit(text) if "://" in text else None
    host = parts.netloc if parts else text
    scheme_ok = parts is None or (parts.scheme in ("http", "https") and not parts.path and not parts.query)
    if not text or not scheme_ok or not _HOST.match(host):
        raise ValidationError(
            f"pims_host: expected a host such as ca.idexxneo.com or https://ca.idexxneo.com, got {value!r}",
            details={"field": "pims_host"},
        )
    return text


def check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false, got {value!r}", details={"field": field})
    return value


def _sync_owner(value: Any) -> str:
    if value not in SYNC_OWNERS:
        raise ValidationError(
            f"sync_owner must be one of {', '.join(SYNC_OWNERS)}, got {value!r}",
            details={"field": "sync_owner"},
        )
    return str(value)


def _region(value: Any) -> str:
    if not isinstance(value, str) or not _REGION.match(value):
        raise ValidationError(
            f"phone_region: expected a two-letter region such as US, got {value!r}",
            details={"field": "phone_region"},
        )
    return value


_CHECKS = {
    "name": _name,
    "timezone": check_timezone,
    "pims_provider": canonical_provider,
    "pims_host": _host,
    "owner_user_id": lambda v: None if v is None else check_uuid(v, "owner_user_id"),
    "is_active": lambda v: check_bool(v, "is_active"),
    "sync_owner": _sync_owner,
    "phone_region": _region,
}


def clinic_columns(changes: dict[str, Any]) -> dict[str, Any]:
    """The validated column values of a clinic write; an unknown key is a ValidationError naming it."""
    unknown = sorted(set(changes) - set(CLINIC_UPDATABLE))
    if unknown:
        raise ValidationError(
            f"cannot change clinic field(s) {', '.join(unknown)}; allowed: {', '.join(CLINIC_UPDATABLE)}",
            details={"fields": unknown},
        )
    return {key: _CHECKS[key](value) for key, value in changes.items()}


def check_key_name(name: Any) -> str | None:
    """An API key's name: optional, 3 to 100 characters when given (the product's constraint)."""
    if name is None:
        return None
    low, high = KEY_NAME_LENGTH
    if not isinstance(name, str) or not low <= len(name) <= high:
        raise ValidationError(
            f"name: an API key's name has {low} to {high} characters", details={"field": "name"}
        )
    return name


# --- which credentials row is the clinic's ---------------------------------------------------


def credentials_order_sql(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(
        f"{prefix}{col} {'desc' if desc else 'asc'} nulls last" for col, desc in CREDENTIALS_ORDER
    )


def preferred(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row CREDENTIALS_ORDER puts first, NULLs last as in SQL (rows from PostgREST carry ISO
    strings: timestamps are parsed, so '…:00.5+00:00' sorts after '…:00+00:00')."""

    def value(row: dict[str, Any], col: str) -> Any:
        found = row.get(col)
        if col.endswith("_at") and isinstance(found, str):
            return datetime.fromisoformat(found.replace("Z", "+00:00"))
        return None if found is None else (found if isinstance(found, bool | datetime) else str(found))

    ranked = list(candidates)
    for col, desc in reversed(CREDENTIALS_ORDER):  # stable sorts, least significant column first
        keyed = [(value(r, col), r) for r in ranked]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=operator.itemgetter(0), reverse=desc)
        ranked = [r for _, r in present] + [r for found, r in keyed if found is None]
    return ranked[0] if ranked else None


# --- API keys ----------------------------------------------------------------------------------


def permissions_arg(values: Sequence[str]) -> list[str]:
    """Canonical permission names (sync:reconciliation is accepted as sync:reconcile) — both stores."""
    out: list[str] = []
    for value in values:
        canonical = PERMISSION_ALIASES.get(value, value)
        if canonical not in PERMISSIONS:
            raise ValidationError(f"unknown permission {value!r}; expected one of {', '.join(PERMISSIONS)}")
        if canonical not in out:
            out.append(canonical)
    return out


def bound_elsewhere(key_id: str, bound_to: str, clinic_id: str) -> ValidationError:
    return ValidationError(
        f"API key {key_id} is bound to clinic {bound_to}, not {clinic_id}: "
        "revoke it and create a key for that clinic instead",
        details={"key_id": key_id},
    )


def grants_need_a_shared_key(key_id: str, bound_to: str) -> ValidationError:
    return ValidationError(
        f"API key {key_id} is bound to clinic {bound_to}: grants are for shared keys only "
        "(a bound key acts on its own clinic)",
        details={"key_id": key_id},
    )


def grant_ids(clinic_ids: Sequence[str]) -> list[str]:
    if isinstance(clinic_ids, str) or not clinic_ids:
        raise ValidationError(
            "clinic_ids: name at least one clinic to grant", details={"field": "clinic_ids"}
        )
    from ._rows import parse_uuid

    return sorted({parse_uuid(c, "clinic") for c in clinic_ids})
