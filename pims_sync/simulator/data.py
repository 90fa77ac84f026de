"""The simulated world: clinics, their users, staff, rooms, hours, clients and every day's calendar.

Everything derives from one seed. A day's calendar is generated from
``sha256(seed, clinic, local date)``, so any date range can be asked for, in any order, on
any run, and gets the same answer. Mutations from the control API live elsewhere
(``records.py``) and are laid over these generated days.

The events and consultation records made here are *canonical*: the ground truth that
`/__sim/truth` returns and the fidelity tests compare against. They carry a few keys IDEXX
does not send (``species``, ``provider_id``, ``stage``); `shapes.py` renders the answers IDEXX
gives, field by field as IDEXX_FACTS.md says, in the clinic's dialect.

Ids encode where they come from so a lookup never needs a scan:
``appointment = clinic_no·10¹⁰ + day_no·10⁴ + index`` and the consultation of that
appointment is the same number plus ``50·10¹⁰``; ``day_no`` counts days since 2000-01-01.
"""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..models import JsonObject
from . import people
from .clinical import REASONS, TYPE_WEIGHTS, consultation_record

EPOCH = date(2000, 1, 1)
ID_CLINIC = 10**10
ID_DAY = 10**4
CONSULTATION_OFFSET = 50 * ID_CLINIC
ADDED_BASE = 9 * 10**9  # within a clinic's id space, above any generated day
MAX_APPOINTMENTS_PER_DAY = 5000
WALL = "%Y-%m-%d %H:%M:%S"

TIMEZONES = (
    ("America/New_York", "US"), ("America/Los_Angeles", "US"), ("Australia/Sydney", "AU"),
    ("Europe/London", "GB"), ("America/Chicago", "US"), ("America/Denver", "US"),
)
CLINIC_NAMES = (
    "Riverside Veterinary Clinic", "Pawsitive Care Animal Hospital", "Harbour Bridge Vets",
    "St. Francis Vet Surgery", "Mountain View Pet Clinic", "Zoë's Animal Hospital & Café",
)
PROVIDER_NAMES = (
    "Dr. Amelia Chen", "Dr. José Ramírez", "Dr. Siobhán O'Connor", "Dr. Priya Natarajan",
    "Dr. Tom Müller", "Dr. Zoë Kowalski", "Dr. Liam O'Brien", "Dr. Hana Sato", "Nurse Kate", "Dr. Ben Adeyemi",
)
ROOM_NAMES = ("Exam 1", "Exam 2", "Exam 3", "Surgery", "Dental", "Treatment", "Cat-only room")
# (open, close) per ISO weekday 1..7, in clinic-local time; None = closed
HOURS = {
    1: ("08:00", "18:00"), 2: ("08:00", "18:00"), 3: ("08:00", "19:00"), 4: ("08:00", "18:00"),
    5: ("08:00", "17:30"), 6: ("09:00", "14:00"), 7: ("10:00", "13:00"),
}
CANONICAL_STATUS_SPELLINGS = {
    "booked": ("booked", "Booked", "not arrived"),
    "confirmed": ("confirmed", "Confirmed", "CONFIRMED"),
    "arrived": ("arrived", "Arrived"),
    "in_progress": ("in_progress", "In Progress", "in progress"),
    "finalised": ("finalised", "Finalised", "finalized", "Finalized", "completed", "Completed", "Ready to Pay"),
    "cancelled": ("cancelled", "Cancelled", "canceled"),
    "no_show": ("no_show", "No Show", "no-show"),
}
_DRAWN = {  # the spellings the day's generator picks from (unchanged, so the calendars stay put)
    "booked": ("booked", "Booked"),
    "finalised": ("finalised", "Finalised", "finalized", "completed", "Completed"),
}
RARE_SPELLINGS = {"booked": "not arrived", "finalised": ("Finalized", "Ready to Pay")}
STATUS_LABELS = {
    "booked": "Booked", "confirmed": "Confirmed", "arrived": "Arrived", "in_progress": "In Progress",
    "finalised": "Finalised", "cancelled": "Cancelled", "no_show": "No Show",
}
BRANCH_OFFSET = 7  # a clinic's branch id: number * 10 + BRANCH_OFFSET (Sim)


def rng_for(*parts: object) -> random.Random:
    """A Random seeded from the parts; stable across processes (unlike hash())."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


@dataclass(frozen=True)
class User:
    username: str
    password: str = field(repr=False)
    two_factor: bool = False


@dataclass(frozen=True)
class Clinic:
    number: int
    id: str
    name: str
    timezone: str
    region: str
    company_id: str = field(repr=False)
    users: tuple[User, ...] = field(repr=False)
    providers: tuple[JsonObject, ...] = field(repr=False)
    rooms: tuple[JsonObject, ...] = field(repr=False)
    clients: tuple[JsonObject, ...] = field(repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def branch(self) -> JsonObject:
        return {"id": self.number * 10 + BRANCH_OFFSET, "name": self.name}

    @property
    def path(self) -> str:
        """The clinic's own mount point: its login page there speaks its dialect (see app.py)."""
        return f"/c/{self.number}"

    def summary(self) -> JsonObject:
        """What `/__sim/clinics` shows: ids, zone and the demo credentials (fake by design)."""
        main = self.users[0]
        return {
            "id": self.id, "number": self.number, "name": self.name, "timezone": self.timezone,
            "phone_region": self.region, "path": self.path, "company_id": self.company_id,
            "username": main.username, "password": main.password,
            "users": [{"username": u.username, "password": u.password, "two_factor": u.two_factor}
                      for u in self.users],
        }


@dataclass(frozen=True)
class Day:
    """One generated clinic-local day: its calendar events and the consultations behind them."""

    events: tuple[JsonObject, ...]
    consultations: dict[int, JsonObject]


def day_number(d: date) -> int:
    n = (d - EPOCH).days
    if not 0 <= n < ID_CLINIC // ID_DAY:
        raise ValueError(f"date {d} is outside the simulated range (2000 onwards)")
    return n


def decode_id(any_id: int) -> tuple[int, date, int] | None:
    """(clinic number, local date, index) of a generated appointment or consultation id."""
    if any_id >= CONSULTATION_OFFSET:
        any_id -= CONSULTATION_OFFSET
    clinic_no, rest = divmod(any_id, ID_CLINIC)
    day_no, index = divmod(rest, ID_DAY)
    if clinic_no < 1 or rest >= ADDED_BASE:
        return None
    return clinic_no, EPOCH + timedelta(days=day_no), index


def is_dst_change(tz: ZoneInfo, d: date) -> bool:
    start = datetime(d.year, d.month, d.day, tzinfo=tz)
    nxt = d + timedelta(days=1)
    return start.utcoffset() != datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).utcoffset()


class World:
    """Clinics and their generated days, for one seed. Immutable, so safe across threads."""

    def __init__(self, *, seed: int = 42, clinics: int = 2, appointments_per_day: int | None = None,
                 today: date | None = None) -> None:
        if not 1 <= clinics <= len(TIMEZONES) * 10:
            raise ValueError("clinics must be between 1 and 60")
        self.seed = seed
        self.appointments_per_day = check_per_day(appointments_per_day)
        self.clinics = tuple(self._make_clinic(n) for n in range(1, clinics + 1))
        self._by_id = {c.id: c for c in self.clinics}
        self._by_number = {c.number: c for c in self.clinics}
        # "today" is frozen when the world is made, so answers do not drift while it runs
        self.today = {c.id: today or datetime.now(c.tz).date() for c in self.clinics}
        self.day = functools.lru_cache(maxsize=96)(self._generate_day)

    # -- clinics -----------------------------------------------------------------------------
    def clinic(self, clinic_id: str) -> Clinic | None:
        return self._by_id.get(clinic_id)

    def clinic_by_number(self, number: int) -> Clinic | None:
        return self._by_number.get(number)

    def _make_clinic(self, n: int) -> Clinic:
        rng = rng_for(self.seed, "clinic", n)
        tz, region = TIMEZONES[(n - 1) % len(TIMEZONES)]
        name = CLINIC_NAMES[(n - 1) % len(CLINIC_NAMES)] + ("" if n <= len(CLINIC_NAMES) else f" #{n}")
        slug = f"clinic{n}"
        users = (
            User(f"sync.{slug}@example.com", f"Neo!{rng.randrange(16**8):08x}#{n}"),
            User(f"manager.{slug}@example.com", f"2fa-{rng.randrange(16**8):08x}", two_factor=True),
        )
        providers = tuple({"id": n * 100 + i + 1, "name": name_}
                          for i, name_ in enumerate(rng.sample(PROVIDER_NAMES, 4)))
        rooms = tuple({"id": n * 100 + 50 + i + 1, "name": name_}
                      for i, name_ in enumerate(ROOM_NAMES[:5]))
        clients = []
        for c in range(600):
            first, last = rng.choice(people.FIRST_NAMES), rng.choice(people.LAST_NAMES)
            pets = [{"patient_id": n * 10**6 + c * 10 + p, "name": rng.choice(people.PET_NAMES),
                     "species": people.weighted(rng, people.SPECIES)} for p in range(rng.choice((1, 1, 2, 3)))]
            clients.append({"client_id": n * 10**5 + c, "first_name": first, "last_name": last,
                            "email": people.email_for(rng, first, last),
                            "phone_number": people.phone_number(rng, region), "pets": pets})
        return Clinic(number=n, id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), name=name,
                      timezone=tz, region=region, company_id=f"NEO-{rng.randrange(10**5, 10**6)}",
                      users=users, providers=providers, rooms=rooms, clients=tuple(clients))

    # -- days --------------------------------------------------------------------------------
    def default_count(self, clinic: Clinic, d: date) -> int:
        if self.appointments_per_day is not None:
            return self.appointments_per_day
        return rng_for(self.seed, "count", clinic.number, d.isoformat()).randint(25, 40)

    def _generate_day(self, clinic_no: int, d: date, count: int) -> Day:
        clinic = self._by_number[clinic_no]
        rng = rng_for(self.seed, "day", clinic_no, d.isoformat())
        base = clinic_no * ID_CLINIC + day_number(d) * ID_DAY
        open_s, close_s = HOURS[d.isoweekday()]
        day0 = datetime(d.year, d.month, d.day)
        open_t = day0 + _hm(open_s)
        span_slots = int(((day0 + _hm(close_s)) - open_t).total_seconds() // 900) - 1
        today = self.today[clinic.id]
        special = _special_slot(rng, clinic, d, count)
        events: list[JsonObject] = []
        consultations: dict[int, JsonObject] = {}
        for i in range(count):
            if i == special[0] and special[1] is not None:
                start, minutes = special[1], special[2]
            else:
                slot = (i * span_slots) // max(count, 1)
                start = open_t + timedelta(minutes=15 * slot)
                minutes = rng.choice((15, 15, 30, 30, 30, 45, 60))
            stage = _status(rng, d, today, i, count)
            event, record = self._appointment(rng, clinic, base + i, start, minutes, stage, d)
            events.append(event)
            if record is not None:
                consultations[record["id"]] = record
        events.extend(self._blocks_and_rosters(rng, clinic, base, open_t, day0 + _hm(close_s)))
        events.sort(key=lambda e: (e["start"], e["id"]))
        return Day(events=tuple(events), consultations=consultations)

    def _appointment(
        self, rng: random.Random, clinic: Clinic, appt_id: int, start: datetime, minutes: int, canonical: str, d: date
    ) -> tuple[JsonObject, JsonObject | None]:
        client = rng.choice(clinic.clients)
        pet = rng.choice(client["pets"])
        kind = people.weighted(rng, TYPE_WEIGHTS)
        reason = rng.choice(REASONS[kind])
        provider = rng.choice(clinic.providers)
        room = rng.choice(clinic.rooms)
        stage = {"finalised": "finalised", "in_progress": "in_progress", "arrived": "draft"}.get(canonical)
        consultation_id = appt_id + CONSULTATION_OFFSET if stage else None
        event = {
            "id": appt_id, "appointment_id": appt_id, "consultation_id": consultation_id,
            "start": start.strftime(WALL), "end": (start + timedelta(minutes=minutes)).strftime(WALL),
            "patient_id": pet["patient_id"], "patient_name": pet["name"], "species": pet["species"],
            "client_id": client["client_id"], "first_name": client["first_name"],
            "last_name": client["last_name"], "email": client["email"],
            "phone_number": client["phone_number"], "provider": provider["name"],
            "provider_id": provider["id"], "resourceId": room["id"],
            "title": f"{pet['name']} - {kind}", "type_description": kind, "reason": reason,
            "current_status": rng.choice(_DRAWN.get(canonical, CANONICAL_STATUS_SPELLINGS[canonical])),
            "status_label": STATUS_LABELS[canonical], "is_block": False, "is_roster": False,
            "stage": canonical,
        }
        _vary(event, rng_for(self.seed, "vary", appt_id), canonical)
        record = None
        if stage and consultation_id is not None:
            when = min(start + timedelta(minutes=rng.randrange(0, 11)),
                       datetime(d.year, d.month, d.day, 23, 59, 59))
            record = consultation_record(
                rng, consultation_id=consultation_id, event=event, date=when.strftime(WALL), stage=stage,
                breed=people.pet_details(pet["patient_id"], pet["species"])[0], branch=clinic.branch)
        return event, record

    def _blocks_and_rosters(
        self, rng: random.Random, clinic: Clinic, base: int, open_t: datetime, close_t: datetime
    ) -> list[JsonObject]:
        out = []
        for j, provider in enumerate(clinic.providers[: rng.randint(2, 4)]):
            out.append(_non_appointment(base + 9000 + j, open_t, close_t, f"{provider['name']} — on duty",
                                        provider, None, roster=True))
        for j in range(rng.randint(1, 3)):
            title = rng.choice(("Lunch", "Surgery block", "Staff meeting", "BLOCKED - do not book", "Admin"))
            start = open_t + timedelta(minutes=30 * rng.randrange(2, 12))
            out.append(_non_appointment(base + 9100 + j, start, start + timedelta(minutes=rng.choice((30, 60))),
                                        title, rng.choice(clinic.providers), rng.choice(clinic.rooms)["id"]))
        return out


def check_per_day(value: int | None) -> int | None:
    if value is not None and not 0 <= int(value) <= MAX_APPOINTMENTS_PER_DAY:
        raise ValueError(f"appointments_per_day must be between 0 and {MAX_APPOINTMENTS_PER_DAY}")
    return None if value is None else int(value)


def _hm(s: str) -> timedelta:
    h, m = s.split(":")
    return timedelta(hours=int(h), minutes=int(m))


def _special_slot(rng: random.Random, clinic: Clinic, d: date, count: int) -> tuple[int, datetime | None, int]:
    """An out-of-hours emergency: across midnight on some days, across the clock change on DST days."""
    if count == 0:
        return -1, None, 0
    day0 = datetime(d.year, d.month, d.day)
    if is_dst_change(clinic.tz, d):
        return count - 1, day0 + timedelta(hours=1, minutes=30), 105
    if rng.random() < 0.3:
        return count - 1, day0 + timedelta(hours=23, minutes=30), 75
    return -1, None, 0


def _status(rng: random.Random, d: date, today: date, i: int, count: int) -> str:
    roll = rng.random()
    if d < today:
        if roll < 0.08:
            return "cancelled"
        if roll < 0.13:
            return "no_show"
        return "confirmed" if roll < 0.15 else "finalised"
    if d > today:
        if roll < 0.06:
            return "cancelled"
        return "confirmed" if roll < 0.5 else "booked"
    position = i / max(count, 1)
    if position < 0.4:
        return "no_show" if roll < 0.05 else "finalised"
    if position < 0.5:
        return "in_progress" if roll < 0.6 else "arrived"
    return "cancelled" if roll < 0.05 else "confirmed"


def _vary(event: JsonObject, rng: random.Random, canonical: str) -> None:
    """What the facts say may be missing or spelt otherwise, on a few appointments.

    Drawn from the appointment's own generator, so the rest of the day is unchanged. The
    status fallbacks (IDEXX_FACTS.md: ``current_status``, else ``status_label``, else
    "Scheduled") and the optional fields then occur in every dialect.
    """
    roll = rng.random()
    if canonical in RARE_SPELLINGS and roll < 0.12:
        spellings = RARE_SPELLINGS[canonical]
        event["current_status"] = spellings if isinstance(spellings, str) else rng.choice(spellings)
        if event["current_status"] == "Ready to Pay":
            event["status_label"] = "Ready to Pay"
    elif roll > 0.96:
        event["current_status"] = None  # the label alone tells the status
        if canonical == "booked" and roll > 0.985:
            event["status_label"] = None  # nothing at all: "Scheduled"
    gaps = rng.random()
    if gaps < 0.03:
        event["provider"] = event["provider_id"] = None
    elif gaps < 0.06:
        event["resourceId"] = None
    elif gaps < 0.08:
        event["type_description"] = None
    elif gaps < 0.10:
        event["reason"] = None


def _non_appointment(
    event_id: int,
    start: datetime,
    end: datetime,
    title: str,
    provider: JsonObject,
    room_id: int | None,
    *,
    roster: bool = False,
) -> JsonObject:
    return {
        "id": event_id, "appointment_id": event_id, "consultation_id": None,
        "start": start.strftime(WALL), "end": end.strftime(WALL),
        "patient_id": None, "patient_name": None, "species": None, "client_id": None,
        "first_name": None, "last_name": None, "email": None, "phone_number": None,
        "provider": provider["name"], "provider_id": provider["id"], "resourceId": room_id,
        "title": title, "type_description": "Roster" if roster else "Block", "reason": None,
        "current_status": None, "status_label": None, "is_block": not roster, "is_roster": roster,
        "stage": None,
    }
