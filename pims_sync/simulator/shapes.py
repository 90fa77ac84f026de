"""The JSON IDEXX Neo answers, rendered from the canonical records in a clinic's dialect.

Pure functions: record(s) + clinic + dialect in, a JSON-ready value out. Field names, nesting
and types follow the facts file IDEXX_FACTS.md, and **nothing else is added** to the endpoints
the facts describe: the simulator once invented fields and the provider came to rely on them,
which proved nothing about the real IDEXX. Values the facts leave open (exact statuses, colours,
licence numbers, ...) are Sim choices, listed in docs/IDEXX_API_ENDPOINTS.md.

The dialect's ``optionalFields: absent`` leaves out the fields the facts call optional when
they hold nothing (null, false, empty); a value that carries information is always served, so
every dialect tells the same truth.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..models import JsonObject
from .clinical import TYPE_WEIGHTS, search_status, soap_parts
from .data import HOURS, WALL, Clinic
from .dialects import Dialect

CALENDAR_FIELDS = (
    "id", "appointment_id", "consultation_id", "start", "end", "patient_id", "patient_name", "client_id",
    "first_name", "last_name", "email", "phone_number", "provider", "resourceId", "title",
    "type_description", "reason", "current_status", "status_label", "is_block", "is_roster",
)
CALENDAR_OPTIONAL = frozenset({
    "consultation_id", "provider", "resourceId", "type_description", "reason", "current_status", "status_label",
    "is_block", "is_roster",
})
VITAL_KEYS = ("temperature", "temperatureUnit", "pulse", "respiration", "weight", "weightUnit", "bloodPressure")
SLOT_MINUTES = 15
TYPE_DURATIONS = {"Surgery": 60, "Dental": 60, "Vaccination": 15, "Grooming": 30}
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


# -- encodings the dialect decides ---------------------------------------------------------------

def when(wall: str | None, clinic: Clinic, dialect: Dialect) -> str | None:
    """A clinic-local wall time as the dialect writes it (``iso`` carries the zone's offset)."""
    if wall is None or dialect.date_format == "wall":
        return wall
    naive = datetime.strptime(wall, WALL)
    if dialect.date_format == "iso_local":
        return naive.isoformat()
    return naive.replace(tzinfo=ZoneInfo(clinic.timezone), fold=0).isoformat()


def ident(value: int | None, dialect: Dialect) -> int | str | None:
    return str(value) if value is not None and dialect.ids == "strings" else value


def _prune(obj: JsonObject, optional: Container[str], dialect: Dialect) -> JsonObject:
    if not dialect.omit_empty:
        return obj
    return {k: v for k, v in obj.items() if k not in optional or v not in (None, False, "", [], {})}


# -- calendar ------------------------------------------------------------------------------------

def calendar_item(event: JsonObject, clinic: Clinic, dialect: Dialect) -> JsonObject:
    item = {key: event.get(key) for key in CALENDAR_FIELDS}
    item["id"], item["appointment_id"] = ident(event["id"], dialect), ident(event["appointment_id"], dialect)
    item["start"], item["end"] = when(event["start"], clinic, dialect), when(event["end"], clinic, dialect)
    if event.get("resourceId") is not None:
        item["resourceId"] = str(event["resourceId"])  # facts: a string (the room's id)
    item["is_block"], item["is_roster"] = bool(event.get("is_block")), bool(event.get("is_roster"))
    return _prune(item, CALENDAR_OPTIONAL, dialect)


def calendar_body(events: list[JsonObject], clinic: Clinic, dialect: Dialect) -> JsonObject | list[JsonObject]:
    items = [calendar_item(e, clinic, dialect) for e in events]
    return items if dialect.calendar_envelope == "bare" else {dialect.calendar_envelope: items}


# -- schedule settings ---------------------------------------------------------------------------

def _provider_extras(provider: JsonObject, clinic: Clinic) -> JsonObject:
    slug = provider["name"].lower().replace("dr. ", "").replace(" ", ".").replace("'", "")
    return {"email": f"{slug}@clinic{clinic.number}.example.com", "licenseNumber": f"VET-{provider['id']:05d}"}


def schedule_configs(clinic: Clinic) -> JsonObject:
    """`GET /schedule/getScheduleConfigs`, the legacy shape (one business-hours object)."""
    weekday_open, weekday_close = HOURS[1]
    return {
        "businessHours": {"start": weekday_open, "end": weekday_close, "daysOfWeek": [1, 2, 3, 4, 5]},
        "slotDuration": SLOT_MINUTES,
        "minTime": min(o for o, _ in HOURS.values()),
        "maxTime": max(c for _, c in HOURS.values()),
        "providers": [{"id": p["id"], "name": p["name"], "color": COLORS[i % len(COLORS)]}
                      for i, p in enumerate(clinic.providers)],
        "rooms": [{"id": r["id"], "name": r["name"]} for r in clinic.rooms],
    }


def appointment_types(clinic: Clinic) -> list[JsonObject]:
    return [{"id": clinic.number * 100 + 80 + i, "name": name, "duration": TYPE_DURATIONS.get(name, 30),
             "color": COLORS[i % len(COLORS)]} for i, (name, _) in enumerate(TYPE_WEIGHTS)]


def appointment_view(clinic: Clinic) -> JsonObject:
    """`GET /appointments/getAppointmentView`, the production shape (hours grouped by day)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for iso_day, hours in HOURS.items():
        groups.setdefault(hours, []).append(iso_day % 7)  # 0 = Sunday, as FullCalendar counts
    return {
        "slotInterval": SLOT_MINUTES,
        "businessHours": [{"daysOfWeek": days, "startTime": o, "endTime": c} for (o, c), days in groups.items()],
        "appointmentTypes": appointment_types(clinic),
        "appointmentRooms": [{"id": r["id"], "name": r["name"], "capacity": 1 if "Surgery" not in r["name"] else 2}
                             for r in clinic.rooms],
        "providers": [{"id": p["id"], "name": p["name"], **_provider_extras(p, clinic)} for p in clinic.providers],
        "deputyEnabled": False,
    }


def appointment_detail(event: JsonObject, clinic: Clinic, dialect: Dialect, *, breed: str | None,
                       gender: str) -> JsonObject:
    """`GET /appointments/getAppointment?id=`: one appointment with nested patient, client, room."""
    local = Dialect(date_format="iso_local") if dialect.date_format != "wall" else dialect
    room = next((r for r in clinic.rooms if r["id"] == event.get("resourceId")), None)
    kind = next((t for t in appointment_types(clinic) if t["name"] == event.get("type_description")), None)
    start = datetime.strptime(event["start"], WALL)
    patient = None
    if event.get("patient_id") is not None:
        patient = {
            "id": event["patient_id"], "name": event.get("patient_name"),
            "breed": {"id": abs(hash_text(breed)) % 10_000, "name": breed} if breed else None,
            "species": {"id": abs(hash_text(event.get("species"))) % 1000, "name": event.get("species")},
            "gender": {"id": abs(hash_text(gender)) % 100, "name": gender},
            "client": {"id": event.get("client_id"), "firstName": event.get("first_name"),
                       "lastName": event.get("last_name"), "email": event.get("email"),
                       "homePhone": None, "mobilePhone": event.get("phone_number")},
        }
    cancelled = (event.get("stage") == "cancelled")
    return {
        "id": ident(event["id"], dialect),
        "status": event.get("current_status") or event.get("status_label") or "Scheduled",
        "startAtLocal": when(event["start"], clinic, local),
        "endAtLocal": when(event["end"], clinic, local),
        "notes": event.get("reason") or "",
        "deleted": False,
        "block": bool(event.get("is_block")),
        "bookedBy": "Front desk",
        "createdAt": (start - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "patient": patient,
        "appointmentType": kind,
        "appointmentRoom": {"id": room["id"], "name": room["name"], "position": clinic.rooms.index(room) + 1}
        if room else None,
        "provider": {"id": event.get("provider_id"), "name": event.get("provider")} if event.get("provider") else None,
        "cancelledReason": "Cancelled by the client" if cancelled else None,
    }


def hash_text(text: str | None) -> int:
    """A small stable number for a name (Python's hash() changes per process)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text or ""))


# -- consultations -------------------------------------------------------------------------------

def _vitals(record: JsonObject, dialect: Dialect) -> JsonObject:
    vitals = record.get("vitals") or {}
    obj = {key: vitals.get(key) for key in VITAL_KEYS}
    return _prune(obj, VITAL_KEYS, dialect)


def _diagnoses(record: JsonObject, dialect: Dialect) -> list[Any]:
    if dialect.diagnoses == "strings":
        return [d["name"] for d in record["diagnoses"]]
    return [_prune(dict(d), {"code", "status"}, dialect) for d in record["diagnoses"]]


def client_name(record: JsonObject) -> str | None:
    return " ".join(p for p in (record.get("client_first_name"), record.get("client_last_name")) if p) or None


def search_item(record: JsonObject, clinic: Clinic, dialect: Dialect) -> JsonObject:
    """One row of `GET /consultations/search` (the legacy camelCase item)."""
    return {
        "id": ident(record["id"], dialect),
        "appointmentId": ident(record.get("appointment_id"), dialect),
        "patientName": record.get("patient_name"),
        "clientName": client_name(record),
        "providerId": record.get("provider_id"),
        "providerName": record.get("vet"),
        "consultedAt": when(record["date"], clinic, dialect),
        "status": search_status(record),
        "clinicalNotes": record.get("notes"),
        "vitals": _vitals(record, dialect),
        "diagnoses": _diagnoses(record, dialect),
    }


def page_data(record: JsonObject, clinic: Clinic, dialect: Dialect) -> JsonObject:
    """`GET /consultations/{id}/page-data`, the production shape."""
    discharge = record.get("discharge_summary")
    in_consultation = dialect.discharge_summary == "consultation"
    consultation = _prune({
        "id": record["id"], "reason": record.get("reason") or "", "notes": record.get("notes") or "",
        "dischargeSummary": discharge if in_consultation else None,
        "date": when(record["date"], clinic, dialect), "status": record["status"],
    }, {"dischargeSummary"}, dialect)
    provider = next((p for p in clinic.providers if p["id"] == record.get("provider_id")), None)
    providers = [] if provider is None else [{
        "id": provider["id"], "name": provider["name"], **_provider_extras(provider, clinic),
        "userType": "nurse" if provider["name"].startswith("Nurse") else "vet",
        "companyId": clinic.number * 1000 + 1,
    }]
    lines = [_prune({"id": p["id"], "productService": p["name"], "quantity": p["quantity"],
                     "isDeclined": bool(p.get("declined"))}, {"isDeclined"}, dialect)
             for p in record.get("products") or ()]
    body = {
        "consultation": consultation,
        "patient": {"id": record.get("patient_id"), "name": record.get("patient_name"),
                    "species": record.get("species"), "breed": record.get("breed")},
        "client": _prune({"id": record.get("client_id"), "firstName": record.get("client_first_name"),
                          "lastName": record.get("client_last_name"), "phone": record.get("client_phone"),
                          "email": record.get("client_email")}, {"phone", "email"}, dialect),
        "pageData": {"providers": providers},
        "clientBranch": record.get("branch"),
        "consultationNotes": _prune({"notes": None if in_consultation else discharge}, {"notes"}, dialect),
        "consultationLines": lines,
    }
    return _prune(body, {"clientBranch", "consultationNotes", "consultationLines"}, dialect)


def consultation_view(record: JsonObject) -> JsonObject:
    """`GET /consultations/view/{id}`: the older endpoint, in the shape it always had (Sim)."""
    vitals = record.get("vitals") or {}
    readings = [
        ("temperature", vitals.get("temperature"), vitals.get("temperatureUnit")),
        ("pulse", vitals.get("pulse"), "bpm"),
        ("respiration", vitals.get("respiration"), "rpm"),
        ("weight", vitals.get("weight"), vitals.get("weightUnit")),
    ]
    notes = record.get("notes")
    return {"consultation": {
        "id": record["id"], "appointment_id": record.get("appointment_id"), "patient_id": record.get("patient_id"),
        "patient_name": record.get("patient_name"), "client_id": record.get("client_id"), "date": record["date"],
        "vet": record.get("vet"), "status": record["status"],
        "notes": soap_parts(notes),
        "discharge_summary": record.get("discharge_summary"),
        "vitals": [{"type": kind, "value": str(value), "unit": unit} for kind, value, unit in readings
                   if value is not None],
        "diagnoses": [dict(d) for d in record["diagnoses"]],
        "products": [{"name": p["name"], "quantity": p["quantity"], "type": p["type"], "code": p["code"]}
                     for p in record.get("products") or () if not p.get("declined")],
        "clinical_notes": notes or "",
    }}

