"""The simulator's world: sites with their credentials, lookups and records, from a seed.

Records are plain dicts in ezyVet's own shapes (EZYVET_FACTS.md §5-7): v2 appointments carry
real ints and booleans; v1 records (statuses, types, animals, contacts, consults) carry every
number and flag as a string, as the C# clients model them. The API layer only filters, pages and
wraps them.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

STATUSES = ("Booked", "Confirmed", "Arrived", "In Progress", "Completed", "Cancelled", "Did Not Arrive")
TYPES = (("Consultation", 900), ("Vaccination", 900), ("Surgery", 3600), ("Dental", 2700),
         ("Health Check", 1800), ("Emergency", 1800), ("Block Out", 3600))
SPECIES = ("Canine", "Feline", "Rabbit", "Avian")
VETS = ("Dr. Aroha Ngata", "Dr. Sam Patel", "Dr. Lee Chen", "Dr. Mia Rossi")
FIRST = ("Ana", "Ben", "Cleo", "Dev", "Ema", "Finn", "Gia", "Hugo", "Iris", "Jack", "Kai", "Lena")
LAST = ("Walker", "Ngata", "Brown", "Singh", "Garcia", "Okafor", "Smith", "Tanaka", "Moreau", "Keller")
PETS = ("Rex", "Milo", "Luna", "Bella", "Otis", "Nala", "Coco", "Pip", "Ziggy", "Maple")
ZONES = ("Pacific/Auckland", "America/Chicago", "Europe/London", "Australia/Sydney")


def _s(value: object) -> str:
    """v1 payloads are all strings (EZYVET_FACTS.md §7, type quirk)."""
    return "" if value is None else str(value)


@dataclass
class Site:
    number: int
    uid: str
    name: str
    timezone: str
    partner_id: str
    client_id: str
    client_secret: str = field(repr=False)
    expired: bool = False  # an expired trial site answers 404 (EZYVET_FACTS.md §2)
    # endpoint path -> list of record dicts (unwrapped)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 10_000
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def summary(self) -> dict[str, Any]:
        """What tests need to configure a clinic (credentials included: it is a simulator)."""
        return {"number": self.number, "site_uid": self.uid, "name": self.name, "timezone": self.timezone,
                "partner_id": self.partner_id, "client_id": self.client_id, "client_secret": self.client_secret,
                "appointments": len(self.tables["/v2/appointment"])}


def build_sites(*, seed: int, sites: int, appointments_per_day: int, days_back: int, days_ahead: int,
                today: date | None = None) -> list[Site]:
    today = today or date.today()
    built = []
    for n in range(1, sites + 1):
        rng = random.Random(seed * 1000 + n)
        site = Site(number=n, uid=f"site_{rng.getrandbits(48):012x}", name=f"ezyVet Sim Clinic {n}",
                    timezone=ZONES[(n - 1) % len(ZONES)], partner_id=f"partner_{seed}",
                    client_id=f"client_{n}_{rng.getrandbits(32):08x}", client_secret=f"{rng.getrandbits(128):032x}")
        _fill(site, rng, appointments_per_day, today - timedelta(days=days_back), today + timedelta(days=days_ahead),
              today)
        built.append(site)
    return built


def _fill(site: Site, rng: random.Random, per_day: int, first: date, last: date, today: date) -> None:
    epoch = int(datetime(2024, 1, 1).timestamp())
    t = site.tables
    t["/v1/appointmentstatus"] = [{"id": _s(i), "active": "1", "created_at": _s(epoch), "modified_at": _s(epoch),
                                   "name": name} for i, name in enumerate(STATUSES, start=1)]
    t["/v1/appointmenttype"] = [{"id": _s(i), "uid": f"appointmenttype_{i}", "active": "1", "name": name,
                                 "default_duration": _s(d)} for i, (name, d) in enumerate(TYPES, start=1)]
    t["/v1/species"] = [{"id": _s(i), "active": "1", "name": n} for i, n in enumerate(SPECIES, start=1)]
    t["/v1/resource"] = [{"id": _s(i), "active": "1", "name": n, "type": "User", "created_at": _s(epoch),
                          "modified_at": _s(epoch)} for i, n in enumerate(VETS, start=1)]
    contacts, details, animals = [], [], []
    for i in range(1, max(4, per_day) * 3 + 1):
        fn, ln = rng.choice(FIRST), rng.choice(LAST)
        phone_id, mail_id = 2 * i - 1, 2 * i
        contacts.append({"id": _s(i), "active": "1", "created_at": _s(epoch), "modified_at": _s(epoch),
                         "code": f"C{i:05d}", "first_name": fn, "last_name": ln, "business_name": "",
                         "is_business": "0", "is_customer": "1", "contact_detail_list": [_s(phone_id), _s(mail_id)]})
        details.append({"id": _s(phone_id), "active": "1", "contact_id": _s(i), "contact_detail_type_id": "1",
                        "name": "Mobile", "value": f"+1 312 555 {rng.randrange(10000):04d}"})
        details.append({"id": _s(mail_id), "active": "1", "contact_id": _s(i), "contact_detail_type_id": "2",
                        "name": "Email", "value": f"{fn.lower()}.{ln.lower()}{i}@example.com"})
        animals.append({"id": _s(i), "active": "1", "created_at": _s(epoch), "modified_at": _s(epoch),
                        "name": rng.choice(PETS), "species_id": _s(rng.randrange(1, len(SPECIES) + 1)),
                        "contact_id": _s(i), "weight": f"{rng.uniform(2, 40):.1f}", "weight_unit": "kg",
                        "is_dead": "0"})
    t["/v1/contact"], t["/v1/contactdetail"], t["/v1/animal"] = contacts, details, animals
    tz = ZoneInfo(site.timezone)
    # records were last changed before today (never in the future, whenever they start), so an
    # incremental read (modified_at={"gt": ...}) sees only what a test changed through /__sim/
    before_today = int(datetime.combine(today, time(), UTC).timestamp()) - 86_400
    appointments, consults = [], []
    day = first
    while day <= last:
        for k in range(per_day):
            site.next_id += 1
            aid = site.next_id
            minute = 8 * 60 + (k * 600 // max(1, per_day))  # spread over 08:00-18:00 local
            start = int(datetime.combine(day, time(minute // 60, minute % 60), tz).timestamp())
            type_id = rng.randrange(1, len(TYPES) + 1)
            block = TYPES[type_id - 1][0] == "Block Out"
            animal = None if block else rng.choice(animals)
            consult_id = None
            if animal is not None:
                consult_id = aid + 500_000
                consults.append({"id": _s(consult_id), "active": "1", "created_at": _s(start), "modified_at": _s(start),
                                 "animal_id": animal["id"], "date": _s(start),
                                 "description": f"Consult for appointment {aid}", "appointment_id": _s(aid)})
            appointments.append({
                "id": aid, "uid": f"appointment_{aid}", "created_at": min(start - 86_400, before_today),
                "modified_at": min(start - 86_400, before_today),
                "active": True, "start_at": start, "duration": TYPES[type_id - 1][1], "type_id": type_id,
                "status_id": rng.randrange(1, 4) if day >= today else rng.choice((5, 5, 5, 6, 7)),
                "description": "" if block else f"{TYPES[type_id - 1][0]} visit",
                "animal_id": None if animal is None else int(animal["id"]),
                "contact_id": None if animal is None else int(animal["contact_id"]),
                "consult_id": consult_id, "sales_resource": rng.randrange(1, len(VETS) + 1),
                "resources": [{"id": rng.randrange(1, len(VETS) + 1)}],
                "cancellation_reason": None, "cancellation_reason_text": None,
            })
        day += timedelta(days=1)
    t["/v2/appointment"], t["/v1/consult"] = appointments, consults
