"""Turning PostgREST and network errors into StoreError/NotFound messages that name the fix.

PostgREST answers errors as ``{code, message, details, hint}``; ``code`` is a SQLSTATE when
Postgres raised it (23505, P0002, ...) and ``PGRSTnnn`` when PostgREST itself refused. Bodies that
are not PostgREST JSON (a proxy's HTML page, an empty 503) reach us as the HTTP status in
``code``. Every message says what we tried (the table or function) and what to do about it, and
never carries the service-role key.
"""

from __future__ import annotations

import re

import httpx
from postgrest.exceptions import APIError

from ..errors import NotFound, StoreError
from ._errors import NO_DATA_FOUND, NOT_NULL, OWNER_FIX, safe_detail

MIGRATE_FIX = "apply the migrations: `supabase db push` or `pims-sync db migrate`"
SCHEMA_CACHE_FIX = "if they are applied, reload PostgREST's schema cache (`NOTIFY pgrst, 'reload schema'`)"
KEY_FIX = (
    "set SUPABASE_SERVICE_ROLE_KEY to the project's current service_role key "
    "(Supabase dashboard: Project Settings → API Keys); the anon key is not enough"
)

_AUTH_CODES = {"PGRST300", "PGRST301", "PGRST302", "PGRST303", "401", "403"}
_MISSING_FUNCTION = {"PGRST202", "42883"}
_MISSING_TABLE = {"PGRST205", "42P01", "PGRST200"}
_FOREIGN_KEY = "23503"
_PERMISSION_DENIED = "42501"
_HTTP_STATUS = re.compile(r"^[1-5]\d\d$")


def redact_key(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


def _postgrest_words(e: APIError) -> str:
    """PostgREST's message, hint and code; row values in details are dropped (client PII)."""
    parts = [str(e.message or "").strip() or "error without a message"]
    details = e.details if isinstance(e.details, str) else None
    if details and not _HTTP_STATUS.match(str(e.code or "")):
        safe = safe_detail(details)
        if safe:
            parts.append(f"DETAIL: {safe}")
    if e.hint:
        parts.append(f"HINT: {e.hint}")
    if e.code:
        parts.append(f"[{e.code}]")
    return " ".join(parts)


def translate_api_error(e: APIError, what: str, *, target: str, key: str | None) -> StoreError:
    """The StoreError (or NotFound) for a failed request on ``target`` ("table cases", "function f")."""
    code = str(e.code or "")
    words = _postgrest_words(e)
    message = str(e.message or "")
    cls: type[StoreError]
    if code == NO_DATA_FOUND:
        cls, text = NotFound, words
    elif code == _FOREIGN_KEY:
        cls, text = NotFound, f"{what} failed: {words}"  # the clinic or parent it points at is gone
    elif code in _MISSING_FUNCTION or "could not find the function" in message.lower():
        cls, text = (
            StoreError,
            (
                f"{what} failed: the Supabase project has no {target} (or not with these argument "
                f"names): {MIGRATE_FIX}; {SCHEMA_CACHE_FIX}. PostgREST said: {words}"
            ),
        )
    elif code in _MISSING_TABLE or "could not find the table" in message.lower():
        cls, text = (
            StoreError,
            (
                f"{what} failed: the Supabase project has no {target}: {MIGRATE_FIX}; "
                f"{SCHEMA_CACHE_FIX}. PostgREST said: {words}"
            ),
        )
    elif code in _AUTH_CODES or re.search(r"\bJWT\b|api key", message, re.I):
        cls, text = (
            StoreError,
            (f"{what} failed: Supabase refused the key for {target}: {KEY_FIX}. PostgREST said: {words}"),
        )
    elif code == _PERMISSION_DENIED:
        cls, text = (
            StoreError,
            (
                f"{what} failed: permission denied on {target}; pims-sync needs the service_role key, "
                f"which bypasses row level security: {KEY_FIX}. PostgREST said: {words}"
            ),
        )
    elif _HTTP_STATUS.match(code):
        cls, text = (
            StoreError,
            (
                f"{what} failed: Supabase answered HTTP {code} {message} for {target} without a PostgREST "
                "error body (the API gateway or the project is unavailable: check the project's status "
                "in the dashboard and SUPABASE_URL, then retry)"
            ),
        )
    elif code == NOT_NULL and '"user_id"' in message:
        cls, text = StoreError, f"{what} failed on {target}: {words}{OWNER_FIX}"
    else:
        cls, text = StoreError, (f"{what} failed on {target}: {words}")
    return cls(redact_key(text, key))


def translate_transport_error(e: httpx.HTTPError, what: str, *, url: str, key: str | None) -> StoreError:
    """The network failed before PostgREST could answer: name the URL, never the key."""
    reason = str(e).strip() or type(e).__name__
    hint = (
        "no answer in time; check the network and the project's status"
        if isinstance(e, httpx.TimeoutException)
        else "check SUPABASE_URL and that the project is running (paused projects refuse connections)"
    )
    return StoreError(redact_key(f"{what} failed: cannot reach Supabase at {url} ({reason}): {hint}", key))
