"""What the data endpoints serve: generated days with the control API's mutations laid on top.

A mutated appointment or consultation is *materialised*: copied out of its generated day
into the overlay, edited there, and from then on the generated copy is skipped. Deleting
hides both the appointment and its consultation. Everything here takes the overlay lock
only to copy what it needs, so long generations never block other requests.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from ..errors import NotFound  # the project's one NotFound; control.py maps it to the simulator's 404
from ..models import JsonObject
from . import people
from .clinical import consultation_record
from .data import (
    ADDED_BASE,
    CONSULTATION_OFFSET,
    ID_CLINIC,
    STATUS_LABELS,
    WALL,
    Clinic,
    Day,
    World,
    check_per_day,
    decode_id,
    rng_for,
)


class Records:
    """The live data of every clinic. Thread-safe."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._per_day: dict[str, int] = {}
            self._events: dict[int, JsonObject] = {}  # materialised appointments, by id
            self._consultations: dict[int, JsonObject] = {}  # materialised consultations, by id
            self._deleted: set[int] = set()
            self._added = 0

    # -- configuration ------------------------------------------------------------------------
    def set_appointments_per_day(self, clinic: Clinic, value: int | None) -> None:
        """Changes how many appointments each day has; the clinic's days are generated anew."""
        value = check_per_day(value)
        with self._lock:
            if value is None:
                self._per_day.pop(clinic.id, None)
            else:
                self._per_day[clinic.id] = value

    def appointments_per_day(self, clinic: Clinic) -> int | None:
        with self._lock:
            return self._per_day.get(clinic.id, self.world.appointments_per_day)

    def _day(self, clinic: Clinic, d: date) -> Day:
        with self._lock:
            count = self._per_day.get(clinic.id)
        if count is None:
            count = self.world.default_count(clinic, d)
        return self.world.day(clinic.number, d, count)

    def _snapshot(self, clinic: Clinic) -> tuple[set[int], set[int], list[JsonObject], list[JsonObject]]:
        """(deleted ids, materialised ids, materialised events, materialised consultations)."""
        with self._lock:
            lo, hi = clinic.number * ID_CLINIC, (clinic.number + 1) * ID_CLINIC
            materialised = set(self._events) | set(self._consultations)
            events = [copy.deepcopy(e) for i, e in self._events.items() if lo <= i < hi]
            consultations = [copy.deepcopy(c) for i, c in self._consultations.items()
                             if lo <= i - CONSULTATION_OFFSET < hi and c["appointment_id"] not in self._deleted]
            return set(self._deleted), materialised, events, consultations

    # -- queries ------------------------------------------------------------------------------
    def events(self, clinic: Clinic, start: datetime, end: datetime) -> list[JsonObject]:
        """Calendar events whose start (clinic-local wall time) is in [start, end)."""
        lo, hi = start.strftime(WALL), end.strftime(WALL)
        deleted, materialised, extra, _ = self._snapshot(clinic)
        out = []
        for d in _dates(start.date(), end.date()):
            for e in self._day(clinic, d).events:
                if lo <= e["start"] < hi and e["id"] not in deleted and e["id"] not in materialised:
                    out.append(dict(e))
        out.extend(e for e in extra if lo <= e["start"] < hi)
        out.sort(key=lambda e: (e["start"], e["id"]))
        return out

    def consultations(self, clinic: Clinic, start: datetime, end: datetime) -> list[JsonObject]:
        """Full consultation records dated in [start, end] (inclusive), ordered by date then id."""
        lo, hi = start.strftime(WALL), end.strftime(WALL)
        deleted, materialised, _, extra = self._snapshot(clinic)
        out = []
        for d in _dates(start.date(), end.date()):
            for c in self._day(clinic, d).consultations.values():
                if lo <= c["date"] <= hi and c["appointment_id"] not in deleted and c["id"] not in materialised:
                    out.append(copy.deepcopy(c))
        out.extend(c for c in extra if lo <= c["date"] <= hi)
        out.sort(key=lambda c: (c["date"], c["id"]))
        return out

    def consultation(self, clinic: Clinic, consultation_id: int) -> JsonObject:
        with self._lock:
            if consultation_id in self._consultations:
                record = self._consultations[consultation_id]
                if record["appointment_id"] in self._deleted or not _owned(clinic, consultation_id):
                    raise NotFound(consultation_id)
                return copy.deepcopy(record)
            if consultation_id - CONSULTATION_OFFSET in self._deleted:
                raise NotFound(consultation_id)
        return copy.deepcopy(self._generated(clinic, consultation_id, consultations=True))

    def appointment(self, clinic: Clinic, appointment_id: int) -> JsonObject:
        with self._lock:
            if appointment_id in self._deleted:
                raise NotFound(appointment_id)
            if appointment_id in self._events:
                if not _owned(clinic, appointment_id):
                    raise NotFound(appointment_id)
                return copy.deepcopy(self._events[appointment_id])
        return dict(self._generated(clinic, appointment_id, consultations=False))

    def _generated(self, clinic: Clinic, any_id: int, *, consultations: bool) -> JsonObject:
        where = decode_id(any_id)
        if where is None or where[0] != clinic.number or (any_id >= CONSULTATION_OFFSET) != consultations:
            raise NotFound(any_id)
        try:
            day = self._day(clinic, where[1])
        except ValueError as e:
            raise NotFound(any_id) from e
        if consultations:
            if any_id in day.consultations:
                return day.consultations[any_id]
        else:
            for event in day.events:
                if event["id"] == any_id:
                    return event
        raise NotFound(any_id)

    # -- mutations ----------------------------------------------------------------------------
    def add_appointment(self, clinic: Clinic, fields: JsonObject) -> JsonObject:
        """A new appointment; ``consultation`` = finalised|in_progress|draft adds one."""
        start = parse_wall(fields["start"])
        end = parse_wall(fields["end"]) if fields.get("end") else start + timedelta(minutes=30)
        status = fields.get("current_status", "booked")
        with self._lock:
            self._added += 1
            appt_id = clinic.number * ID_CLINIC + ADDED_BASE + self._added
        client = clinic.clients[appt_id % len(clinic.clients)]
        pet = client["pets"][0]
        provider, room = clinic.providers[0], clinic.rooms[0]
        event = {
            "id": appt_id, "appointment_id": appt_id, "consultation_id": None,
            "start": start.strftime(WALL), "end": end.strftime(WALL),
            "patient_id": pet["patient_id"], "patient_name": pet["name"], "species": pet["species"],
            "client_id": client["client_id"], "first_name": client["first_name"],
            "last_name": client["last_name"], "email": client["email"], "phone_number": client["phone_number"],
            "provider": provider["name"], "provider_id": provider["id"], "resourceId": room["id"],
            "title": f"{pet['name']} - Consultation", "type_description": "Consultation",
            "reason": "Added by the simulator control API", "current_status": status,
            "status_label": STATUS_LABELS.get(_canonical(status), str(status).title()),
            "is_block": False, "is_roster": False, "stage": _canonical(status),
        }
        event.update({k: v for k, v in fields.items() if k not in ("id", "appointment_id", "consultation")})
        event["start"], event["end"] = start.strftime(WALL), end.strftime(WALL)
        stage = fields.get("consultation")
        with self._lock:
            if stage:
                cid = appt_id + CONSULTATION_OFFSET
                event["consultation_id"] = cid
                self._consultations[cid] = consultation_record(
                    rng_for(self.world.seed, "added", appt_id), consultation_id=cid, event=event,
                    date=event["start"], stage=stage, breed=people.pet_details(pet["patient_id"], pet["species"])[0],
                    branch=clinic.branch)
            self._events[appt_id] = event
            return copy.deepcopy(event)

    def update_appointment(self, clinic: Clinic, appointment_id: int, changes: JsonObject) -> JsonObject:
        with self._lock:
            event = self.appointment(clinic, appointment_id)
            event.update(changes)
            if "stage" not in changes and ("current_status" in changes or "status_label" in changes):
                event["stage"] = _canonical(event.get("current_status") or event.get("status_label") or "booked")
            self._events[appointment_id] = event
            cid = event.get("consultation_id")
            if cid and "start" in changes:
                record = self.consultation(clinic, cid)
                record["date"] = changes["start"]
                self._consultations[cid] = record
            return copy.deepcopy(event)

    def cancel(self, clinic: Clinic, appointment_id: int) -> JsonObject:
        return self.update_appointment(clinic, appointment_id,
                                       {"current_status": "cancelled", "status_label": "Cancelled"})

    def reschedule(self, clinic: Clinic, appointment_id: int, start: str, end: str | None) -> JsonObject:
        current = self.appointment(clinic, appointment_id)
        new_start = parse_wall(start)
        if end:
            new_end = parse_wall(end)
        else:
            new_end = new_start + (parse_wall(current["end"]) - parse_wall(current["start"]))
        return self.update_appointment(clinic, appointment_id,
                                       {"start": new_start.strftime(WALL), "end": new_end.strftime(WALL)})

    def delete(self, clinic: Clinic, appointment_id: int) -> None:
        with self._lock:
            self.appointment(clinic, appointment_id)  # 404 if unknown
            self._deleted.add(appointment_id)
            self._events.pop(appointment_id, None)

    def edit_consultation(self, clinic: Clinic, consultation_id: int, changes: JsonObject) -> JsonObject:
        with self._lock:
            record = self.consultation(clinic, consultation_id)
            record.update({k: v for k, v in changes.items() if k not in ("id", "appointment_id")})
            self._consultations[consultation_id] = record
            return copy.deepcopy(record)


def parse_wall(value: str) -> datetime:
    """Clinic-local wall time: ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DDTHH:MM:SS`` or ``YYYY-MM-DD``."""
    text = str(value).strip().replace("T", " ")
    for fmt in (WALL, "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a wall time like 2026-11-26 09:00:00")


def _dates(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def _owned(clinic: Clinic, any_id: int) -> bool:
    raw = any_id - CONSULTATION_OFFSET if any_id >= CONSULTATION_OFFSET else any_id
    return raw // ID_CLINIC == clinic.number


def _canonical(status: str) -> str:
    s = str(status).lower().replace("-", "_").replace(" ", "_")
    return {"finalized": "finalised", "completed": "finalised", "ready_to_pay": "finalised", "canceled": "cancelled",
            "not_arrived": "booked", "scheduled": "booked"}.get(s, s)
