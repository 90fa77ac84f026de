"""The one error handler: every failure becomes ``{success: false, error: {...}, timestamp}``.

The whole :mod:`pims_sync.errors` tree, werkzeug's HTTP errors (404, 405, 415, ...) and the
API's own auth errors go through :func:`handle_error`, so a status code is decided in one
place and a caller never sees an HTML page or a stack trace. Anything unexpected is logged
with its traceback and answered with a generic 500 that names no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from pims_sync import errors as E
from pims_sync.sync.results import utc_timestamp

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP-level refusal raised by the API itself (auth, tenancy, content type)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class MalformedJson(ApiError):
    status, code = 400, "malformed_json"


# most specific first: the first isinstance match decides the status
_DOMAIN_STATUS: tuple[tuple[type[E.PimsSyncError], int], ...] = (
    (E.ValidationError, 400),
    (E.NotFound, 404),
    (E.SyncInProgress, 409),
    (E.SyncAborted, 409),
    (E.SyncDisabled, 409),
    (E.CredentialsMissing, 422),
    (E.CredentialError, 422),
    (E.RateLimited, 503),
    (E.ProviderError, 502),
    (E.QueueUnavailable, 503),
    (E.StoreError, 503),
    (E.ConfigError, 500),
)

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

# messages safe to show for these domain errors; others keep their own (already redacted) text
_GENERIC = {
    E.StoreError: "the database is unavailable; try again shortly",
    E.ConfigError: "the service is misconfigured; see its logs",
}


def error_body(status: int, code: str, message: str, details: Any = None) -> tuple[dict[str, Any], int]:
    body: dict[str, Any] = {
        "success": False,
        "error": {"code": code, "message": message, "details": details if details is not None else {}},
        "timestamp": utc_timestamp(),
    }
    return body, status


def _domain(e: E.PimsSyncError) -> tuple[dict[str, Any], int, dict[str, str]]:
    status = next((s for cls, s in _DOMAIN_STATUS if isinstance(e, cls)), 500)
    message = str(e)
    details: dict[str, Any] = {}
    if isinstance(e, E.ValidationError):
        details = e.details if isinstance(e.details, dict) else {"errors": e.details}
    elif isinstance(e, E.NotFound):
        pass
    elif isinstance(e, E.StoreError | E.ConfigError):
        log.error("%s: %s", type(e).__name__, e)
        message = next(m for cls, m in _GENERIC.items() if isinstance(e, cls))
    headers: dict[str, str] = {}
    if isinstance(e, E.SyncDisabled):  # which cut-over flag said no; the message says how to change it
        details = {"clinicId": e.clinic_id, "flag": e.flag, "value": e.value}
        if e.flag == "is_active":  # the clinic itself is switched off: its keys may not sync at all
            status = 403
    if isinstance(e, E.SyncInProgress):
        details = {"syncId": e.sync_id, "statusUrl": f"/api/sync/{e.sync_id}" if e.sync_id else None}
    if isinstance(e, E.RateLimited) and e.retry_after_s:
        headers["Retry-After"] = str(int(e.retry_after_s + 0.999))
    body, status = error_body(status, e.code, message, details)
    if isinstance(e, E.SyncInProgress):
        body["syncId"] = e.sync_id  # top level too: callers of the old service read it there
    return body, status, headers


def handle_error(e: Exception) -> Response:
    """Map any exception to the JSON error shape and a status."""
    headers: dict[str, str] = {}
    if isinstance(e, ApiError):
        body, status = error_body(e.status, e.code, e.message, e.details)
        headers = dict(e.headers)
    elif isinstance(e, E.PimsSyncError):
        body, status, headers = _domain(e)
    elif isinstance(e, HTTPException):
        status = e.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = e.description or e.name
        body, status = error_body(status, code, message)
        valid_methods = getattr(e, "valid_methods", None)  # MethodNotAllowed's
        if valid_methods:
            headers["Allow"] = ", ".join(sorted(valid_methods))
    else:
        log.exception("unhandled error")
        body, status = error_body(500, "internal_error", "an unexpected error occurred; it has been logged")
    response = jsonify(body)
    response.status_code = status
    for name, value in headers.items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
