"""IDEXX Neo JSON -> domain models. The only module that knows IDEXX field names.

Shapes: docs/IDEXX_API_ENDPOINTS.md. Every function here is pure (no I/O) so the mapping
rules are unit-tested without a network. Anything malformed raises PimsProtocolError
naming the endpoint and the field; it never turns into "nothing there". Error messages
name record ids and fields, never patient or client data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...errors import PimsProtocolError
from ...models import (
    Appointment,
    BusinessHours,
    Consultation,
    ConsultationSummary,
    Diagnosis,
    ProductLine,
    ScheduleConfig,
    Vitals,
)
from ...phone import normalize_phone
from .clock import CALENDAR_FORMAT, format_calendar, format_search, wall_to_utc
from .units import to_celsius, to_kilograms

# --- endpoints -------------------------------------------------------------------------------

CALENDAR = "/appointments/getCalendarEventData"
SCHEDULE = "/schedule/getScheduleConfigs"
SEARCH = "/consultations/search"


def page_data_path(consultation_id: str) -> str:
    return f"/consultations/{_path_id(consultation_id)}/page-data"


def view_path(consultation_id: str) -> str:
    return f"/consultations/view/{_path_id(consultation_id)}"


PAGE_DATA = "/consultations/{id}/page-data"  # endpoint labels for stats and errors
VIEW = "/consultations/view/{id}"


def _path_id(value: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError(f"not a consultation id: {value!r}")
    return text


def calendar_params(start_wall: datetime, end_wall: datetime) -> dict[str, str]:
    """Query for the calendar: naive clinic wall times, ``YYYY-MM-DD HH:MM:SS``."""
    return {"start": format_calendar(start_wall), "end": format_calendar(end_wall)}


def search_params(page: int, start_wall: datetime, end_wall: datetime) -> dict[str, str]:
    """Query for the consultation search: ``DD.MM.YYYY HH:mm:ss`` wall times, pages from 1."""
    return {"page": str(page), "date_start": format_search(start_wall), "date_end": format_search(end_wall)}


# --- shapes (the client's ``expect``) ----------------------------------------------------------


def calendar_shape(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("events"), list)


def schedule_shape(body: Any) -> bool:
    return isinstance(body, dict) and all(
        isinstance(body.get(k), list) for k in ("business_hours", "providers", "rooms")
    )


def search_shape(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("data"), list) and "total" in body


def consultation_shape(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("consultation"), dict)


# --- appointments ----------------------------------------------------------------------------

# current_status / status_label, normalised (lower case, "-" and spaces -> "_") -> CASE_STATUSES
_STATUS = {
    "booked": "scheduled",
    "scheduled": "scheduled",
    "pending": "scheduled",
    "confirmed": "confirmed",
    "arrived": "checked_in",
    "checked_in": "checked_in",
    "checkedin": "checked_in",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "in_consult": "in_progress",
    "in_consultation": "in_progress",
    "finalised": "completed",
    "finalized": "completed",
    "completed": "completed",
    "complete": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "no_show": "no_show",
    "noshow": "no_show",
    "did_not_attend": "no_show",
}

# type_description keywords -> CASE_TYPES; first match wins, in this order
_TYPE_KEYWORDS = (
    ("vaccination", ("vaccin", "booster", "immunis", "immuniz")),
    ("surgery", ("surg", "spay", "neuter", "castrat", "desex")),
    ("dental", ("dental", "dentist", "teeth", "tooth")),
    ("emergency", ("emergency", "urgent", "critical")),
    ("checkup", ("checkup", "check-up", "check up", "wellness", "annual", "health check")),
    ("follow_up", ("follow-up", "follow up", "followup", "recheck", "re-check", "revisit")),
    ("consultation", ("consult",)),
    ("grooming", ("groom",)),
)

COMPLETE_STATUSES = frozenset({"finalised", "finalized", "completed", "complete"})


def map_status(current_status: Any, status_label: Any = None) -> str:
    """A CASE_STATUSES value; unknown spellings are "scheduled" (the label is kept elsewhere)."""
    for raw in (current_status, status_label):
        if isinstance(raw, str) and raw.strip():
            key = re.sub(r"[\s\-]+", "_", raw.strip().lower())
            if key in _STATUS:
                return _STATUS[key]
    return "scheduled"


def map_type(type_description: Any) -> str:
    """A CASE_TYPES value from IDEXX's free-text appointment type; "other" when nothing fits."""
    if not isinstance(type_description, str):
        return "other"
    text = type_description.strip().lower()
    for case_type, keywords in _TYPE_KEYWORDS:
        if any(k in text for k in keywords):
            return case_type
    return "other"


def appointments_from_calendar(
    body: Any, *, tz: ZoneInfo, phone_region: str = "US", rooms: Mapping[str, str] | None = None
) -> list[Appointment]:
    """Calendar events -> appointments; blocks and rosters are dropped, not errors."""
    if not calendar_shape(body):
        raise PimsProtocolError("expected an object with an 'events' list", endpoint=CALENDAR)
    rooms = rooms or {}
    result = []
    for index, event in enumerate(body["events"]):
        if not isinstance(event, dict):
            raise PimsProtocolError(f"events[{index}] is not an object", endpoint=CALENDAR)
        if _flag(event.get("is_block")) or _flag(event.get("is_roster")):
            continue
        result.append(_appointment(event, index, tz, phone_region, rooms))
    return result


def _appointment(event: dict, index: int, tz: ZoneInfo, region: str, rooms: Mapping[str, str]) -> Appointment:
    appt_id = _id(event.get("id")) or _id(event.get("appointment_id"))
    if appt_id is None:
        raise PimsProtocolError(f"events[{index}]: missing 'id'/'appointment_id'", endpoint=CALENDAR)
    where = f"event {appt_id}"
    start = _wall(event.get("start"), tz, f"{where}: 'start'", CALENDAR)
    end = _wall(event.get("end"), tz, f"{where}: 'end'", CALENDAR)
    phone_raw = _text(event.get("phone_number"))
    phone_e164 = None
    if phone_raw:
        phone_e164 = normalize_phone(phone_raw, region=region).e164
    resource = _id(event.get("resourceId"))
    status_label = _text(event.get("status_label")) or _text(event.get("current_status"))
    return Appointment(
        id=appt_id,
        start=start,
        end=end,
        status=map_status(event.get("current_status"), event.get("status_label")),
        type=map_type(event.get("type_description")),
        consultation_id=_id(event.get("consultation_id")),
        patient_id=_id(event.get("patient_id")),
        patient_name=_text(event.get("patient_name")),
        species=_text(event.get("species")),
        client_id=_id(event.get("client_id")),
        client_first_name=_text(event.get("first_name")),
        client_last_name=_text(event.get("last_name")),
        client_email=_text(event.get("email")),
        client_phone_raw=phone_raw,
        client_phone_e164=phone_e164,
        provider_name=_text(event.get("provider")),
        room=None if resource is None else rooms.get(resource, resource),
        title=_text(event.get("title")),
        type_description=_text(event.get("type_description")),
        reason=_text(event.get("reason")),
        status_label=status_label,
    )


# --- schedule configuration ----------------------------------------------------------------


def schedule_config_from_json(body: Any) -> ScheduleConfig:
    """Business hours (IDEXX day 1=Monday..7=Sunday -> weekday 0..6), slot length, names."""
    if not schedule_shape(body):
        raise PimsProtocolError("expected business_hours, providers and rooms lists", endpoint=SCHEDULE)
    slot = body.get("slot_duration")
    if isinstance(slot, bool) or not isinstance(slot, int | str) or not str(slot).strip().isdigit():
        raise PimsProtocolError(f"'slot_duration' is not a whole number of minutes: {slot!r}", endpoint=SCHEDULE)
    hours = []
    for index, row in enumerate(body["business_hours"]):
        day = row.get("day") if isinstance(row, dict) else None
        if isinstance(day, bool) or day not in range(1, 8):
            raise PimsProtocolError(f"business_hours[{index}]: 'day' must be 1..7, got {day!r}", endpoint=SCHEDULE)
        opens, closes = row.get("open"), row.get("close")
        for name, value in (("open", opens), ("close", closes)):
            if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value.strip()):
                raise PimsProtocolError(f"business_hours[{index}]: '{name}' is not HH:MM", endpoint=SCHEDULE)
        hours.append(BusinessHours(weekday=day - 1, opens=opens.strip(), closes=closes.strip()))
    return ScheduleConfig(
        slot_minutes=int(slot),
        business_hours=tuple(sorted(hours, key=lambda h: (h.weekday, h.opens))),
        providers=tuple(_names(body["providers"], "providers")),
        rooms=tuple(_names(body["rooms"], "rooms")),
    )


def room_names(body: Any) -> dict[str, str]:
    """Room id (as a string) -> room name; calendar events name their room by ``resourceId``."""
    if not schedule_shape(body):
        raise PimsProtocolError("expected business_hours, providers and rooms lists", endpoint=SCHEDULE)
    names = _names(body["rooms"], "rooms")
    return {_id(row.get("id")) or name: name for row, name in zip(body["rooms"], names, strict=True)}


def _names(rows: list, key: str) -> list[str]:
    names = []
    for index, row in enumerate(rows):
        name = _text(row.get("name")) if isinstance(row, dict) else None
        if name is None:
            raise PimsProtocolError(f"{key}[{index}]: missing 'name'", endpoint=SCHEDULE)
        names.append(name)
    return names


# --- consultations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    rows: tuple[ConsultationSummary, ...]
    total: int
    page: int
    per_page: int


def search_page(body: Any, *, tz: ZoneInfo) -> SearchPage:
    """One page of the consultation search."""
    if not search_shape(body):
        raise PimsProtocolError("expected an object with a 'data' list and 'total'", endpoint=SEARCH)
    total, page, per_page = (_count(body.get(k), k) for k in ("total", "page", "perPage"))
    rows = []
    for index, row in enumerate(body["data"]):
        if not isinstance(row, dict) or _id(row.get("id")) is None:
            raise PimsProtocolError(f"data[{index}]: missing 'id'", endpoint=SEARCH)
        cid = _id(row["id"])
        rows.append(
            ConsultationSummary(
                id=cid,
                appointment_id=_id(row.get("appointment_id")),
                patient_id=_id(row.get("patient_id")),
                patient_name=_text(row.get("patient_name")),
                date=_wall(row.get("date"), tz, f"consultation {cid}: 'date'", SEARCH),
                status=(_text(row.get("status")) or "").lower(),
            )
        )
    return SearchPage(rows=tuple(rows), total=total, page=page, per_page=per_page)


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise PimsProtocolError(f"'{key}' is not a non-negative integer: {value!r}", endpoint=SEARCH)
    return int(value)


def consultation_from_page_data(body: Any, *, tz: ZoneInfo) -> Consultation:
    """``/consultations/{id}/page-data`` -> a Consultation with SOAP parts and combined notes."""
    return _consultation(body, tz, PAGE_DATA)


def consultation_from_view(body: Any, *, tz: ZoneInfo) -> Consultation:
    """``/consultations/view/{id}`` (legacy): the notes come as one ``clinical_notes`` block."""
    return _consultation(body, tz, VIEW)


def _consultation(body: Any, tz: ZoneInfo, endpoint: str) -> Consultation:
    if not consultation_shape(body):
        raise PimsProtocolError("expected an object with a 'consultation' object", endpoint=endpoint)
    c = body["consultation"]
    cid = _id(c.get("id"))
    if cid is None:
        raise PimsProtocolError("consultation: missing 'id'", endpoint=endpoint)
    where = f"consultation {cid}"
    notes = c.get("notes")
    if notes is not None and not isinstance(notes, dict):
        raise PimsProtocolError(f"{where}: 'notes' is not an object", endpoint=endpoint)
    soap = {k: _text((notes or {}).get(k)) for k in ("subjective", "objective", "assessment", "plan")}
    combined = "\n\n".join(f"{k.capitalize()}: {v}" for k, v in soap.items() if v) or None
    status = (_text(c.get("status")) or "").lower()
    return Consultation(
        id=cid,
        appointment_id=_id(c.get("appointment_id")),
        patient_id=_id(c.get("patient_id")),
        date=_wall(c.get("date"), tz, f"{where}: 'date'", endpoint),
        status=status,
        notes=_text(c.get("clinical_notes")) or combined,
        discharge_summary=_text(c.get("discharge_summary")),
        vitals=_vitals(_list(c, "vitals", where, endpoint), where, endpoint),
        diagnoses=tuple(_diagnosis(d, where, endpoint) for d in _list(c, "diagnoses", where, endpoint)),
        products=tuple(_product(p, where, endpoint) for p in _list(c, "products", where, endpoint)),
        complete=status in COMPLETE_STATUSES,
        **soap,
    )


def _list(c: dict, key: str, where: str, endpoint: str) -> list:
    value = c.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PimsProtocolError(f"{where}: '{key}' is not a list of objects", endpoint=endpoint)
    return value


def _vitals(rows: list[dict], where: str, endpoint: str) -> Vitals | None:
    """Readings to °C / kg / per-minute; empty readings are skipped, the raw text is kept.

    With several readings of one kind the last one wins (IDEXX lists them in order taken).
    An unknown unit or a non-numeric reading raises: a silent None would hide a changed format.
    """
    values: dict[str, Any] = {}
    raw = []
    for row in rows:
        kind = (_text(row.get("type")) or "").lower().replace(" ", "_")
        text, unit = _text(row.get("value")), _text(row.get("unit"))
        if not kind or text is None:
            continue
        raw.append((kind, f"{text} {unit}" if unit else text))
        if kind in ("blood_pressure", "bp"):
            values["blood_pressure"] = text
            continue
        number = _number(text, f"{where}: vital '{kind}'", endpoint)
        if kind in ("temperature", "temp"):
            values["temperature_c"] = _unit(to_celsius(number, unit), kind, unit, where, endpoint)
        elif kind in ("weight", "body_weight"):
            values["weight_kg"] = _unit(to_kilograms(number, unit), kind, unit, where, endpoint)
        elif kind in ("pulse", "heart_rate", "hr"):
            values["pulse_bpm"] = round(number)
        elif kind in ("respiration", "respiratory_rate", "rr"):
            values["respiration_rpm"] = round(number)
    if not raw:
        return None
    return Vitals(raw=tuple(raw), **values)


def _unit(converted: float | None, kind: str, unit: str | None, where: str, endpoint: str) -> float:
    if converted is None:
        raise PimsProtocolError(f"{where}: vital '{kind}' has an unknown unit {unit!r}", endpoint=endpoint)
    return converted


def _number(text: str, what: str, endpoint: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise PimsProtocolError(f"{what} is not a number: {text[:20]!r}", endpoint=endpoint) from None


def _diagnosis(row: dict, where: str, endpoint: str) -> Diagnosis:
    name = _text(row.get("name"))
    if name is None:
        raise PimsProtocolError(f"{where}: a diagnosis has no 'name'", endpoint=endpoint)
    return Diagnosis(name=name, code=_text(row.get("code")), status=_text(row.get("status")))


def _product(row: dict, where: str, endpoint: str) -> ProductLine:
    name = _text(row.get("name"))
    if name is None:
        raise PimsProtocolError(f"{where}: a product has no 'name'", endpoint=endpoint)
    quantity = row.get("quantity", 1)
    quantity = 1.0 if quantity is None else _number(str(quantity), f"{where}: product quantity", endpoint)
    kind = (_text(row.get("type")) or "service").lower()
    return ProductLine(name=name, quantity=quantity, kind=kind, code=_text(row.get("code")))


# --- scalars ---------------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """IDEXX ids arrive as ints or strings; ours are strings. None/""/bool mean absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return bool(value)


_WALL_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _wall(value: Any, tz: ZoneInfo, what: str, endpoint: str) -> datetime:
    if not isinstance(value, str):
        raise PimsProtocolError(f"{what} is missing or not text", endpoint=endpoint)
    text = value.strip()
    try:
        # fromisoformat is ~50x faster than strptime; the regex keeps the format exactly as strict
        naive = datetime.fromisoformat(text) if _WALL_SHAPE.fullmatch(text) else datetime.strptime(text, CALENDAR_FORMAT)
    except ValueError:
        raise PimsProtocolError(f"{what} is not YYYY-MM-DD HH:MM:SS: {value[:30]!r}", endpoint=endpoint) from None
    return wall_to_utc(naive, tz)
