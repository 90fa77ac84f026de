"""Turning database errors into StoreError without leaking the connection string's password."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

import psycopg

from ..errors import NotFound, StoreError

# SQLSTATE P0002 (no_data_found): what our SQL functions raise for a row that does not exist
NO_DATA_FOUND = "P0002"
NOT_NULL = "23502"
# the product's cases, keys and credentials may require a user: new rows take the clinic's owner
OWNER_FIX = (
    " (the product's table requires a user: set the clinic's owner with "
    "`pims-sync clinics set CLINIC_ID --owner-user USER_ID`; its cases, keys and credentials get that user)"
)

_KEY_DETAIL = re.compile(r"^Key \((?P<cols>.*?)\)=\((?P<vals>.*)\)(?P<rest>[^()]*)$", re.S)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def safe_detail(detail: str) -> str | None:
    """Postgres's DETAIL without row values: they can be client PII, key hashes or ciphertext."""
    if detail.startswith("Failing row contains"):
        return None
    match = _KEY_DETAIL.match(detail)
    if match:
        values = match["vals"]
        shown = values if all(_UUID.match(v.strip()) for v in values.split(",")) else "…"
        return f"Key ({match['cols']})=({shown}){match['rest']}"
    return detail


def redact(message: str, database_url: str | None) -> str:
    """Remove the URL's password (raw and percent-decoded) from a message."""
    if not database_url:
        return message
    try:
        password = urlparse(database_url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password) if password else None}:
        if secret:
            message = message.replace(secret, "***")
    return message


def safe_url(database_url: str) -> str:
    """The URL with its password masked, for messages ("postgresql://u:***@host/db")."""
    parsed = urlparse(database_url)
    if parsed.password is None:
        return database_url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


def describe_pg_error(e: BaseException, database_url: str | None = None) -> str:
    """Postgres's own words (message, detail, hint, SQLSTATE), password removed."""
    diag = getattr(e, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    parts = [primary or str(e).strip() or type(e).__name__]
    if diag is not None:
        detail = safe_detail(diag.message_detail) if diag.message_detail else None
        if detail:
            parts.append(f"DETAIL: {detail}")
        if diag.message_hint:
            parts.append(f"HINT: {diag.message_hint}")
        if diag.context and "line" in diag.context and primary:
            parts.append(f"CONTEXT: {diag.context.strip().splitlines()[0]}")
    sqlstate = getattr(e, "sqlstate", None)
    text = " ".join(parts) + (f" [SQLSTATE {sqlstate}]" if sqlstate else "")
    return redact(text, database_url)


def translate(e: psycopg.Error, what: str, database_url: str | None = None) -> StoreError:
    """The StoreError (NotFound for P0002) to raise ``from e`` for a failed operation."""
    message = f"{what} failed: {describe_pg_error(e, database_url)}"
    if getattr(e, "sqlstate", None) == NO_DATA_FOUND:
        return NotFound(describe_pg_error(e, database_url))
    if isinstance(e, psycopg.errors.ForeignKeyViolation):
        # the row it points at (a clinic, a parent audit) does not exist
        return NotFound(message)
    if isinstance(e, psycopg.errors.UndefinedFunction | psycopg.errors.UndefinedTable):
        message += " (are the migrations applied? run `pims-sync db migrate`)"
    diag = getattr(e, "diag", None)
    if isinstance(e, psycopg.errors.NotNullViolation) and getattr(diag, "column_name", None) == "user_id":
        message += OWNER_FIX
    return StoreError(message)
