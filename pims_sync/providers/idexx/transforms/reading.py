"""Reading one IDEXX JSON object field by field, with errors that never quote it.

Every problem becomes a PimsProtocolError naming the endpoint, the record (by its id) and the
field. Values are never copied into a message: the bodies hold patient and client data, and
these messages reach audit rows, API answers and CLI output.

Types follow docs (IDEXX_FACTS.md): ids are strings or numbers; text is a string (a number is
accepted as text too); times are ``YYYY-MM-DD HH:MM:SS`` clinic wall time or ISO 8601.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from ....errors import PimsProtocolError
from ..clock import wall_to_utc

# an id we are willing to print in a message; anything else is "an unreadable id"
_PRINTABLE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_WALL = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE
)
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})


def parse_when(text: str, tz: ZoneInfo) -> datetime | None:
    """An aware UTC instant, or None when ``text`` is neither format.

    ``YYYY-MM-DD HH:MM:SS`` and naive ISO 8601 are clinic wall time (DST rules in clock.py);
    ISO 8601 with ``Z`` or an offset is an instant.
    """
    text = text.strip()
    try:
        if _WALL.fullmatch(text):
            return wall_to_utc(datetime.fromisoformat(text), tz)
        if _ISO.fullmatch(text):
            value = datetime.fromisoformat(text.replace(",", ".").replace("z", "Z"))
            if value.tzinfo is None:
                return wall_to_utc(value, tz)
            return value.astimezone(UTC)
    except ValueError:  # right shape, impossible date (month 13, hour 25)
        return None
    return None


def printable_id(value: str | None) -> str:
    return value if value is not None and _PRINTABLE_ID.fullmatch(value) else "(unreadable id)"


class Record:
    """One JSON object of a response, read by field name.

    ``label`` says which record it is ("appointment 100234", "data[3]"); ``path`` is the field
    prefix inside it ("patient." for a nested object), so messages read
    ``consultation 55012: field 'patient.name' is not text [endpoint /consultations/{id}/page-data]``.
    """

    __slots__ = ("data", "endpoint", "label", "path")

    def __init__(self, data: Any, *, endpoint: str, label: str, path: str = ""):
        if not isinstance(data, Mapping):
            where = f"{label}: field '{path.rstrip('.')}'" if path else label
            raise PimsProtocolError(f"{where} is not an object", endpoint=endpoint)
        self.data, self.endpoint, self.label, self.path = data, endpoint, label, path

    def named(self, kind: str, record_id: str | None) -> Record:
        """The same record, labelled by its id once that is known."""
        return Record(self.data, endpoint=self.endpoint, label=f"{kind} {printable_id(record_id)}", path=self.path)

    def error(self, key: str, problem: str) -> PimsProtocolError:
        return PimsProtocolError(f"{self.label}: field '{self.path}{key}' {problem}", endpoint=self.endpoint)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    # --- scalars -----------------------------------------------------------------------------

    @overload
    def ident(self, key: str, *, required: Literal[True]) -> str: ...
    @overload
    def ident(self, key: str, *, required: bool = False) -> str | None: ...
    def ident(self, key: str, *, required: bool = False) -> str | None:
        """An id (string or number) as our string; None, "" mean absent."""
        value = self.data.get(key)
        if isinstance(value, bool):
            raise self.error(key, "is not an id")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is None or isinstance(value, int | str):
            text = None if value is None else str(value).strip() or None
            if text is None and required:
                raise self.error(key, "is missing")
            return text
        raise self.error(key, "is not an id (string or number)")

    @overload
    def text(self, key: str, *, required: Literal[True]) -> str: ...
    @overload
    def text(self, key: str, *, required: bool = False) -> str | None: ...
    def text(self, key: str, *, required: bool = False) -> str | None:
        """A string (numbers accepted), stripped; None and "" mean absent."""
        value = self.data.get(key)
        if isinstance(value, bool) or not (value is None or isinstance(value, str | int | float)):
            raise self.error(key, "is not text")
        text = None if value is None else str(value).strip() or None
        if text is None and required:
            raise self.error(key, "is missing")
        return text

    @overload
    def number(self, key: str, *, required: Literal[True]) -> float: ...
    @overload
    def number(self, key: str, *, required: bool = False) -> float | None: ...
    def number(self, key: str, *, required: bool = False) -> float | None:
        """A number (a numeric string accepted, decimal comma too)."""
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(key, "is missing")
            return None
        if isinstance(value, bool):
            raise self.error(key, "is not a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip().replace(",", "."))
            except ValueError:
                pass
        raise self.error(key, "is not a number")

    @overload
    def whole(self, key: str, *, required: Literal[True]) -> int: ...
    @overload
    def whole(self, key: str, *, required: bool = False) -> int | None: ...
    def whole(self, key: str, *, required: bool = False) -> int | None:
        """A non-negative whole number (counts, minutes)."""
        value = self.number(key, required=required)
        if value is None:
            return None
        if not value.is_integer() or value < 0:
            raise self.error(key, "is not a non-negative whole number")
        return int(value)

    def flag(self, key: str) -> bool:
        """A boolean; absent means false (IDEXX omits is_block/is_roster on plain appointments)."""
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.error(key, "is not a boolean")

    @overload
    def when(self, key: str, tz: ZoneInfo, *, required: Literal[True] = True) -> datetime: ...
    @overload
    def when(self, key: str, tz: ZoneInfo, *, required: bool) -> datetime | None: ...
    def when(self, key: str, tz: ZoneInfo, *, required: bool = True) -> datetime | None:
        """A time as an aware UTC instant (see parse_when)."""
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(key, "is missing")
            return None
        found = parse_when(value, tz) if isinstance(value, str) else None
        if found is None:
            raise self.error(key, "is not a time (YYYY-MM-DD HH:MM:SS or ISO 8601)")
        return found

    # --- nesting -----------------------------------------------------------------------------

    @overload
    def child(self, key: str, *, required: Literal[True]) -> Record: ...
    @overload
    def child(self, key: str, *, required: bool = False) -> Record | None: ...
    def child(self, key: str, *, required: bool = False) -> Record | None:
        """A nested object, or None when absent."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is missing")
            return None
        return Record(value, endpoint=self.endpoint, label=self.label, path=f"{self.path}{key}.")

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        """A list (its elements unchecked); absent is an empty list unless required."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is missing")
            return []
        if not isinstance(value, list):
            raise self.error(key, "is not a list")
        return value

    def children(self, key: str, *, required: bool = False) -> list[Record]:
        """A list of objects, each readable as a Record."""
        return [
            Record(v, endpoint=self.endpoint, label=self.label, path=f"{self.path}{key}[{i}].")
            for i, v in enumerate(self.items(key, required=required))
        ]
