"""Clinic API keys: generation, hashing, constant-time verification, permissions.

Only the sha256 of a key is stored (``clinic_api_keys.key_hash``); the full key is shown once,
at creation. A short human-visible prefix (``pims_live_ab12cd34``) is stored too, so an operator
can tell keys apart in lists and logs without the secret part ever being printed.

Why sha256 and not a slow password hash: the key carries 256 bits of randomness, so brute force
is hopeless anyway, and the API must look keys up by hash on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ValidationError
from .models import PERMISSION_ALIASES, PERMISSIONS

SECRET_BYTES = 32
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
# <prefix>_<env>_<8 hex> then "_" then the urlsafe secret (which may itself contain "_" or "-")
_KEY_RE = re.compile(
    r"^[a-z][a-z0-9]{0,15}_[a-z]{1,8}_(?P<display>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43,})$"
)
_ALL = {"*", "all"}


@dataclass(frozen=True)
class GeneratedKey:
    """A freshly generated key: show ``key`` once, store ``key_prefix`` and ``key_hash``."""

    key: str = field(repr=False)
    key_prefix: str
    key_hash: str = field(repr=False)

    def __repr__(self) -> str:
        return f"GeneratedKey(key_prefix={self.key_prefix!r}, key=<redacted>)"


def generate_api_key(prefix: str = "pims", *, env: str = "live") -> GeneratedKey:
    """A new key ``<prefix>_<env>_<8 hex>_<32 random bytes, urlsafe base64>``."""
    if not _PREFIX_RE.match(prefix):
        raise ValidationError(
            "API key prefix must be 1-16 lower-case letters or digits, starting with a letter"
        )
    if not re.fullmatch(r"[a-z]{1,8}", env):
        raise ValidationError("API key env must be 1-8 lower-case letters (e.g. live, test)")
    key_id = secrets.token_hex(4)
    key = f"{prefix}_{env}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    # what humans see and clinic_api_keys.key_prefix stores: the key's 8-hex id, because the
    # product's table allows 8-12 characters there (ORIGINAL_SCHEMA.md)
    return GeneratedKey(key=key, key_prefix=key_id, key_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    """sha256 hex of the key as presented (surrounding whitespace ignored)."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def verify_api_key(key: str | None, key_hash: str | None) -> bool:
    """Constant-time comparison of a presented key against a stored hash."""
    if not isinstance(key, str) or not isinstance(key_hash, str) or not key.strip():
        return False
    return hmac.compare_digest(hash_api_key(key).encode(), key_hash.strip().lower().encode())


def display_prefix(key: str) -> str:
    """The part of a key that is safe to show: its 8-hex id (what keys list shows), or the first 8
    characters of a legacy key."""
    key = (key or "").strip()
    match = _KEY_RE.match(key)
    if match:
        return match.group("display")
    return key[:8] + "…" if len(key) > 8 else "…"


def normalize_permissions(perms: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """Canonical permissions in a stable order; ``None`` (or ``*``) means every permission.

    ``sync:reconciliation`` is accepted as an alias of ``sync:reconcile``; anything else unknown
    is a ValidationError listing the unknown and the allowed values.
    """
    if perms is None:
        return None
    if isinstance(perms, str):
        perms = [p for p in re.split(r"[,\s]+", perms) if p]
    wanted: set[str] = set()
    unknown: list[str] = []
    for raw in perms:
        if not isinstance(raw, str):
            unknown.append(repr(raw))
            continue
        name = raw.strip().lower()
        if name in _ALL:
            return None
        name = PERMISSION_ALIASES.get(name, name)
        if name in PERMISSIONS:
            wanted.add(name)
        else:
            unknown.append(raw)
    if unknown:
        raise ValidationError(
            f"unknown permission(s): {', '.join(unknown)}; allowed: {', '.join(PERMISSIONS)}",
            details={"unknown": unknown, "allowed": list(PERMISSIONS)},
        )
    return tuple(p for p in PERMISSIONS if p in wanted)


def has_permissions(granted: Iterable[str] | None, needed: Iterable[str]) -> bool:
    """True when ``granted`` (None = all) covers every permission in ``needed``."""
    if granted is None:
        return True
    have = {PERMISSION_ALIASES.get(p, p) for p in granted}
    return all(PERMISSION_ALIASES.get(p, p) in have for p in needed)
