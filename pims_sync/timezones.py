"""Clinic time zones: IANA names only, checked in one place.

A clinic's zone decides every sync window and schedule, and rows written by people (the
product's screens, SQL by hand) can hold anything: '', 'Mars/Olympus', '../../etc/localtime'.
Our own writes are refused with the field's name (the stores call :func:`check_timezone`), and a
worker checks the row again before a phase uses it, so a bad row fails its own sync with a
message naming the field and the fix instead of crashing the task.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from .errors import ValidationError

# files in a zoneinfo directory that are not zones: the host's own setting, build leftovers
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


def check_timezone(value: Any, field: str = "timezone") -> str:
    """An IANA zone name zoneinfo can load; never a path, an empty string or 'localtime'."""
    if not isinstance(value, str) or value not in _iana_names():
        raise ValidationError(
            f"{field}: unknown time zone {value!r} (expected an IANA name such as America/New_York)",
            details={"field": field},
        )
    try:
        ZoneInfo(value)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValidationError(f"{field}: time zone {value!r} cannot be loaded", details={"field": field}) from None
    return value
