"""``/appointments/getCalendarEventData`` -> Appointments; IDEXX's status words -> PIMS_STATUSES.

The envelope IDEXX sends is unknown (IDEXX_FACTS.md): the production parser accepted, in this
order, ``{"appointments": [...]}``, ``{"data": [...]}``, ``{"events": [...]}`` or a bare list, and
so do we. Anything else is a protocol error, never "no appointments" (that mistake once made a
reconciliation delete real cases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ....errors import PimsProtocolError
from ....models import Appointment
from ....phone import normalize_phone
from .endpoints import CALENDAR
from .reading import Record

ENVELOPE_KEYS = ("appointments", "data", "events")
DEFAULT_STATUS_WORD = "Scheduled"  # what the production code assumed when IDEXX said nothing

# IDEXX's status words, normalised (lower case; spaces and "-" -> "_") -> models.PIMS_STATUSES.
# The full chain, with the product's case status, is in docs/IDEXX_STATUS.md.
STATUS_WORDS: dict[str, str] = {
    "scheduled": "scheduled",
    "booked": "scheduled",
    "pending": "scheduled",
    "not_arrived": "scheduled",
    "confirmed": "confirmed",
    "arrived": "arrived",
    "checked_in": "arrived",
    "checkedin": "arrived",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "in_consult": "in_progress",
    "in_consultation": "in_progress",
    "ready_to_pay": "completed",  # the visit happened; only the bill is open
    "finalized": "completed",
    "finalised": "completed",
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


def status_key(word: str) -> str:
    return re.sub(r"[\s\-]+", "_", word.strip().lower())


def map_status(current_status: Any, status_label: Any = None) -> str:
    """A PIMS_STATUSES value: ``current_status``, else ``status_label``, else "Scheduled".

    The first of the two that we recognise wins; a word we do not know is "scheduled" (the
    nearest harmless reading) and the word itself stays on the appointment as status_label.
    """
    for raw in (current_status, status_label, DEFAULT_STATUS_WORD):
        if isinstance(raw, str) and raw.strip():
            found = STATUS_WORDS.get(status_key(raw))
            if found is not None:
                return found
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


def calendar_items(body: Any) -> list[Any]:
    """The list of calendar items, whichever of the four envelopes carries it."""
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        for key in ENVELOPE_KEYS:
            items = body.get(key)
            if isinstance(items, list):
                return items
    raise PimsProtocolError(
        "expected a list of appointments: a bare list, or one under 'appointments', 'data' or 'events'",
        endpoint=CALENDAR,
    )


def appointments_from_calendar(
    body: Any, *, tz: ZoneInfo, phone_region: str = "US", rooms: Mapping[str, str] | None = None
) -> list[Appointment]:
    """Calendar items -> appointments; blocks and rosters are dropped, not errors.

    ``rooms`` maps a room id to its name (from the schedule settings); without it, or for an
    id it does not know, the room is shown by its id.
    """
    result = []
    for index, item in enumerate(calendar_items(body)):
        row = Record(item, endpoint=CALENDAR, label=f"calendar item {index}")
        appt_id = row.ident("appointment_id") or row.ident("id")  # the production code preferred appointment_id
        if appt_id is not None:
            row = row.named("appointment", appt_id)
        if row.flag("is_block") or row.flag("is_roster"):
            continue
        if appt_id is None:
            raise row.error("appointment_id", "and 'id' are both missing")
        result.append(_appointment(row, appt_id, tz, phone_region, rooms or {}))
    return result


def _appointment(row: Record, appt_id: str, tz: ZoneInfo, region: str, rooms: Mapping[str, str]) -> Appointment:
    phone_raw = row.text("phone_number")
    phone_e164 = normalize_phone(phone_raw, region=region).e164 if phone_raw else None
    resource = row.ident("resourceId")
    current, label = row.text("current_status"), row.text("status_label")
    type_description = row.text("type_description")
    return Appointment(
        id=appt_id,
        start=row.when("start", tz),
        end=row.when("end", tz),
        status=map_status(current, label),
        type=map_type(type_description),
        consultation_id=row.ident("consultation_id"),
        patient_id=row.ident("patient_id"),
        patient_name=row.text("patient_name"),
        species=row.text("species"),  # not in the facts; read when a deployment sends it
        client_id=row.ident("client_id"),
        client_first_name=row.text("first_name"),
        client_last_name=row.text("last_name"),
        client_email=row.text("email"),
        client_phone_raw=phone_raw,
        client_phone_e164=phone_e164,
        provider_name=row.text("provider"),
        room=None if resource is None else rooms.get(resource, resource),
        title=row.text("title"),
        type_description=type_description,
        reason=row.text("reason"),
        status_label=label or current,
    )
