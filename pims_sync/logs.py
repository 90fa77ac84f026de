"""Log output: readable text or one JSON object per line (``LOG_FORMAT``), always redacted.

Every pims-sync process calls :func:`configure` once (Celery's ``after_setup_logger`` for the
worker and beat, ``api.wsgi`` for gunicorn). It puts a :class:`RedactingFilter` on the root
handlers and, for ``LOG_FORMAT=json``, a :class:`JsonFormatter`. A JSON line carries ``time``,
``level``, ``logger``, ``syncId``, ``clinicId``, ``phase`` and ``message`` (plus ``exception``):
the ids come from the record's ``extra`` or from the task being run (:func:`sync_context`, set
by workers.signals around each sync task), so a log search by sync id finds every line of it.

Redaction is the same as elsewhere, applied once more at the last moment: a password in a URL
becomes ``***`` (as the CLI prints URLs), and API keys, webhook secrets, bearer tokens and
``password=``/``secret=``-style pairs are masked to their non-secret prefix. Messages already
name ids and fields rather than values; this catches what slips through (a library's message,
an exception's text).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

_context: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "pims_sync_log_context", default=None)
_PATTERNS = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.I), r"\g<head>***"),
    # an API key: keep its display prefix (pims_live_ab12cd34), drop the secret part
    (re.compile(r"\b(?P<head>[a-z][a-z0-9]{0,15}_[a-z]{1,8}_[0-9a-f]{8})_[A-Za-z0-9_-]{43,}"), r"\g<head>_***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), "whsec_***"),
    (re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.I), r"\g<head>***"),
    (re.compile(r"(?P<head>(?:password|passwd|pwd|secret|token|api[_-]?key|authorization)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s\"',;&}]+", re.I), r"\g<head>***"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def sync_context(*, sync_id: str | None = None, clinic_id: str | None = None,
                 phase: str | None = None) -> Iterator[None]:
    token = _context.set({"syncId": sync_id, "clinicId": clinic_id, "phase": phase})
    try:
        yield
    finally:
        _context.reset(token)


def set_sync_context(*, sync_id: str | None, clinic_id: str | None, phase: str | None) -> None:
    """For signal handlers that cannot wrap the task (task_prerun/postrun); cleared by clear_sync_context."""
    _context.set({"syncId": sync_id, "clinicId": clinic_id, "phase": phase})


def clear_sync_context() -> None:
    _context.set(None)


class RedactingFilter(logging.Filter):
    """Formats the message once, redacted; the record's args are dropped so nothing re-adds them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, never the args
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = _context.get() or {}
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "syncId": getattr(record, "sync_id", None) or context.get("syncId"),
            "clinicId": getattr(record, "clinic_id", None) or context.get("clinicId"),
            "phase": getattr(record, "phase", None) or context.get("phase"),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(settings: Settings, *, root: logging.Logger | None = None) -> None:
    """Redaction on every root handler (one added when there is none); JSON when LOG_FORMAT=json."""
    root = root or logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
        root.setLevel(settings.log_level)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
