"""ezyVet JSON -> our models: pure functions, no I/O.

Read defensively (EZYVET_FACTS.md): v1 sends numbers and flags as strings, v2 as real ints and
booleans, so every field is coerced here; fields the facts mark unknown (consult shape, vitals)
are mapped only where present. Errors name the endpoint, field and record id, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import PimsProtocolError
from ...models import Appointment, Consultation, ConsultationSummary, Vitals
from ...phone import normalize_phone

APPOINTMENT = "/v2/appointment"
STATUS = "/v1/appointmentstatus"
TYPE = "/v1/appointmenttype"
RESOURCE = "/v1/resource"
SPECIES = "/v1/species"
ANIMAL = "/v1/animal"
CONTACT = "/v1/contact"
CONTACT_DETAIL = "/v1/contactdetail"
CONSULT = "/v1/consult"
SITE_INFORMATION = "/v3/siteInformation"

# (words in the site's own status name, our PIMS_STATUSES value); first match wins. Status names
# are configured per site (EZYVET_FACTS.md §5), so this is a best reading of common wording.
_STATUS_WORDS = (
    (("cancel",), "cancelled"),
    (("no show", "no-show", "did not arrive", "dna", "missed"), "no_show"),
    (("complete", "finished", "checked out", "discharged", "departed"), "completed"),
    (("in progress", "in consult", "with vet", "in treatment"), "in_progress"),
    (("arrived", "checked in", "waiting", "admitted"), "arrived"),
    (("confirm",), "confirmed"),
)
_TYPE_WORDS = (
    (("vacc",), "vaccination"),
    (("surg", "operation", "desex", "spay", "neuter"), "surgery"),
    (("dent",), "dental"),
    (("emerg", "urgent"), "emergency"),
    (("follow", "recheck", "re-check", "revisit"), "follow_up"),
    (("check", "health", "wellness", "annual"), "checkup"),
    (("groom",), "grooming"),
    (("consult", "exam"), "consultation"),
)
_BLOCK_WORDS = ("block", "roster", "unavailable", "lunch", "break")


def unwrap(body: Any, wrapper: str, endpoint: str) -> tuple[list[dict[str, Any]], int]:
    """The records of one list page and ``items_page_total``; PimsProtocolError on another shape."""
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise PimsProtocolError("expected {meta, items: [...]}", endpoint=endpoint)
    records = []
    for i, item in enumerate(body["items"]):
        record = item.get(wrapper) if isinstance(item, Mapping) else None
        if not isinstance(record, Mapping):
            raise PimsProtocolError(f"items[{i}] has no {wrapper!r} object", endpoint=endpoint)
        records.append(dict(record))
    meta = body.get("meta")
    pages = as_int(meta.get("items_page_total")) if isinstance(meta, Mapping) else None
    return records, max(1, pages or 1)


def as_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def as_bool(value: Any, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def text(value: Any) -> str | None:
    s = "" if value is None else str(value).strip()
    return s or None


def epoch(value: Any, *, field: str, record: Any, endpoint: str) -> datetime:
    n = as_int(value)
    if n is None:
        raise PimsProtocolError(f"record {record}: {field} is not epoch seconds", endpoint=endpoint)
    return datetime.fromtimestamp(n, UTC)


def _match(name: str | None, table: tuple[tuple[tuple[str, ...], str], ...], default: str) -> str:
    lowered = (name or "").lower()
    return next((value for words, value in table if any(w in lowered for w in words)), default)


def status_for(name: str | None, *, active: bool = True) -> str:
    """The normalised status of a site's status name; an inactive appointment is cancelled."""
    return "cancelled" if not active else _match(name, _STATUS_WORDS, "scheduled")


def type_for(name: str | None) -> str:
    return _match(name, _TYPE_WORDS, "other")


def is_block(type_name: str | None, record: Mapping[str, Any]) -> bool:
    """Block-outs are appointments with a block type and no animal (EZYVET_FACTS.md §5)."""
    lowered = (type_name or "").lower()
    return any(w in lowered for w in _BLOCK_WORDS) or as_int(record.get("animal_id")) is None


def names(records: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """id -> name of a lookup table (statuses, types, resources, species)."""
    out = {}
    for r in records:
        rid, name = as_int(r.get("id")), text(r.get("name"))
        if rid is not None and name:
            out[rid] = name
    return out


def contact_points(details: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, str]]:
    """contact id -> {"phone", "email"}: the first active detail of each kind. Kinds are read
    from the value's shape (an @ is an email), since contact detail type ids are per site."""
    out: dict[int, dict[str, str]] = {}
    for d in details:
        cid, value = as_int(d.get("contact_id")), text(d.get("value"))
        if cid is None or value is None or not as_bool(d.get("active")):
            continue
        kind = "email" if "@" in value else "phone"
        out.setdefault(cid, {}).setdefault(kind, value)
    return out


def appointment(r: Mapping[str, Any], *, statuses: Mapping[int, str], types: Mapping[int, str],
                resources: Mapping[int, str], animals: Mapping[int, Mapping[str, Any]],
                contacts: Mapping[int, Mapping[str, Any]],
                points: Mapping[int, Mapping[str, str]], species: Mapping[int, str],
                phone_region: str) -> Appointment | None:
    """One v2 appointment as our model; None for a block-out. end = start_at + duration (seconds)."""
    rid = as_int(r.get("id"))
    if rid is None:
        raise PimsProtocolError("an appointment has no id", endpoint=APPOINTMENT)
    type_name = types.get(as_int(r.get("type_id")) or -1)
    if is_block(type_name, r):
        return None
    start = epoch(r.get("start_at"), field="start_at", record=rid, endpoint=APPOINTMENT)
    duration = as_int(r.get("duration")) or 0
    status_name = statuses.get(as_int(r.get("status_id")) or -1)
    animal = animals.get(as_int(r.get("animal_id")) or -1) or {}
    contact_id = as_int(r.get("contact_id")) or as_int(animal.get("contact_id"))
    contact = contacts.get(contact_id or -1) or {}
    point = points.get(contact_id or -1) or {}
    phone = normalize_phone(point.get("phone"), region=phone_region) if point.get("phone") else None
    resource_ids = [as_int(x.get("id")) for x in r.get("resources") or () if isinstance(x, Mapping)]
    vet = next((resources[i] for i in [as_int(r.get("sales_resource")), *resource_ids]
                if i is not None and i in resources), None)
    consult = as_int(r.get("consult_id"))
    return Appointment(
        id=str(rid),
        start=start,
        end=start + timedelta(seconds=max(0, duration)),
        status=status_for(status_name, active=as_bool(r.get("active"))),
        type=type_for(type_name),
        consultation_id=None if consult is None else str(consult),
        patient_id=None if not animal else text(animal.get("id")),
        patient_name=text(animal.get("name")),
        species=species.get(as_int(animal.get("species_id")) or -1),
        client_id=None if contact_id is None else str(contact_id),
        client_first_name=text(contact.get("first_name")) or text(contact.get("business_name")),
        client_last_name=text(contact.get("last_name")),
        client_email=point.get("email"),
        client_phone_raw=None if phone is None else phone.raw,
        client_phone_e164=None if phone is None else phone.e164,
        provider_name=vet,
        title=text(r.get("description")),
        type_description=type_name,
        reason=text(r.get("description")) or text(r.get("cancellation_reason_text")),
        status_label=status_name,
    )


def consultation(r: Mapping[str, Any], *, animals: Mapping[int, Mapping[str, Any]] | None = None) -> Consultation:
    """A /v1/consult record. Its fields are not documented (EZYVET_FACTS.md §6): ``date`` (epoch),
    ``description``, ``animal_id`` are read when present; ezyVet has no "closed" flag, so a
    consult is complete once its date has passed and it is active."""
    rid = as_int(r.get("id"))
    if rid is None:
        raise PimsProtocolError("a consult has no id", endpoint=CONSULT)
    when = epoch(r.get("date") or r.get("created_at"), field="date", record=rid, endpoint=CONSULT)
    animal = (animals or {}).get(as_int(r.get("animal_id")) or -1) or {}
    active = as_bool(r.get("active"))
    done = active and when <= datetime.now(UTC)
    weight = _float(animal.get("weight")) if (animal.get("weight_unit") or "kg") == "kg" else None
    return Consultation(
        id=str(rid),
        appointment_id=text(r.get("appointment_id")),
        patient_id=text(r.get("animal_id")),
        date=when,
        status="completed" if done else "cancelled" if not active else "in_progress",
        notes=text(r.get("description")) or text(r.get("notes")),
        vitals=Vitals(weight_kg=weight) if weight is not None else None,
        complete=done,
        patient_name=text(animal.get("name")),
    )


def summary(c: Consultation) -> ConsultationSummary:
    return ConsultationSummary(id=c.id, date=c.date, status=c.status, appointment_id=c.appointment_id,
                               patient_id=c.patient_id, patient_name=c.patient_name, clinical_notes=c.notes,
                               vitals=c.vitals)


def site_timezone(body: Any) -> str | None:
    """/v3/siteInformation's ``timezone``, wherever the first record keeps it (shape unknown)."""
    items = body.get("items") if isinstance(body, Mapping) else None
    first = items[0] if isinstance(items, list) and items else body
    if isinstance(first, Mapping) and len(first) == 1 and isinstance(next(iter(first.values())), Mapping):
        first = next(iter(first.values()))
    return text(first.get("timezone")) if isinstance(first, Mapping) else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
