"""Messy people and pets: the names and phone numbers a real clinic's records hold.

Real PIMS data is typed by busy front-desk staff, so the pools below deliberately mix
unicode, apostrophes, hyphens, stray spaces and every phone format we have met. All
numbers use fictional ranges (555-01xx, Ofcom drama and ACMA fictional blocks).
"""

from __future__ import annotations

import random

FIRST_NAMES = (
    "José", "Zoë", "Siobhán", "Chloé", "Renée", "Björn", "Mónica", "François", "Łukasz", "Aoife",
    "Mary-Jane", "Jean-Luc", "Anne Marie", "D'Andre", "Nguyễn", "Søren", "Ümit", "Amelia", "Oliver",
    "Charlotte", "Liam", "Olivia", "Noah", "Emma", "Jack", "Isla", "William", "Mia", "James", "Ava",
    "Lucas", "Harper", "Henry", "Grace", "Ethan", "Sophie", "Mateo", "Priya", "Wei", "Aarav",
    "  Sam", "kate", "TOM", "Dr. Paul",
)
LAST_NAMES = (
    "O'Brien", "García", "Müller", "Smith-Jones", "van der Berg", "D'Souza", "Ó Súilleabháin",
    "Nguyễn", "Kowalski", "MacDonald", "Zhang", "Patel", "Brown", "Wilson", "Taylor", "Johnson",
    "Williams", "Martin", "Anderson", "Thompson", "White", "Lee", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams",
    "Nelson", "Hill", "Ramírez", "Campbell", "Mitchell", "Roberts", "O'Neil ", "de la Cruz", "St. John",
)
PET_NAMES = (
    "Zoë", "Max", "Bella", "Charlie", "Luna", "Lucy", "Cooper", "Daisy", "Milo", "Rocky", "Bailey",
    "Sadie", "Molly", "Buddy", "Coco", "Teddy", "Nala", "Loki", "Pepper", "Winston", "Mr. Whiskers",
    "Señor Bigotes", "Ziggy Stardust", "Chloé", "Biscuit (Bisky)", "O'Malley", "Jäger", "Toby #2",
    "Princess Fluffington III", "Ruby-Mae", "Kiwi", "Mochi", "Rex", "Oscar", "Tigger", "Smudge",
)
SPECIES = (
    ("Canine", 50), ("Feline", 35), ("Rabbit", 4), ("Avian", 3), ("Equine", 2), ("Reptile", 2),
    ("Guinea Pig", 2), ("Ferret", 1), ("canine", 1),
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

# region -> (area/prefix codes, per-number formatter list)
_US_AREAS = ("212", "415", "617", "201", "312", "305")
_AU_PREFIX = ("0491 570", "0491 571", "0491 572")
_UK_AREAS = ("020 7946 0", "0113 496 0", "0161 496 0")


def _us_phone(rng: random.Random) -> str:
    area = rng.choice(_US_AREAS)
    line = f"01{rng.randrange(100):02d}"
    a, b = line[:2], line[2:]
    formats = (
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"{area}.555.{line}",
        f"{area}555{line}",
        f"+1 {area} 555 {line}",
        f"+1{area}555{line}",
        f"1-{area}-555-{line}",
        f"({area})555-{line}",
        f" {area} 555 {a} {b} ",
        f"({area}) 555-{line} ext. 12",
    )
    return rng.choice(formats)


def _au_phone(rng: random.Random) -> str:
    prefix = rng.choice(_AU_PREFIX)
    rest = f"{rng.randrange(1000):03d}"
    compact = prefix.replace(" ", "")
    formats = (
        f"{prefix} {rest}",
        f"{compact}{rest}",
        f"+61 {compact[1:4]} {compact[4:]} {rest}",
        f"+61{compact[1:]}{rest}",
        f"(02) 5550 {rng.randrange(10000):04d}",
        f"02 5550 {rng.randrange(10000):04d}",
    )
    return rng.choice(formats)


def _uk_phone(rng: random.Random) -> str:
    prefix = rng.choice(_UK_AREAS)
    rest = f"{rng.randrange(1000):03d}"
    formats = (
        f"{prefix}{rest}",
        f"{prefix.replace(' ', '')}{rest}",
        f"+44 {prefix[1:]}{rest}",
        f"+44 (0){prefix[1:]}{rest}",
        f"0044 {prefix[1:]}{rest}",
    )
    return rng.choice(formats)


_BY_REGION = {"US": _us_phone, "AU": _au_phone, "GB": _uk_phone}
_BROKEN = ("", None, "n/a", "12345", "555-01O-0123", "call mum", "0000000000", "+", "-")


def phone_number(rng: random.Random, region: str) -> str | None:
    """A phone as a receptionist typed it: mostly valid, in many formats; some missing or junk."""
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(_BROKEN)
    if roll < 0.12:  # a foreign client
        other = rng.choice([r for r in _BY_REGION if r != region])
        return _BY_REGION[other](rng)
    return _BY_REGION.get(region, _us_phone)(rng)


def email_for(rng: random.Random, first: str, last: str) -> str | None:
    if rng.random() < 0.1:
        return rng.choice((None, "", "none", "NOEMAIL@example.com"))
    local = f"{first.strip()}.{last.strip()}".lower().replace(" ", "").replace("'", "")
    return f"{local}{rng.randrange(100)}@{rng.choice(EMAIL_DOMAINS)}"


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[weight for _, weight in pairs])[0]


BREEDS = {
    "canine": ("Labrador Retriever", "Golden Retriever", "French Bulldog", "Border Collie", "Dachshund",
               "Mixed breed", "Cavalier King Charles Spaniel", "German Shepherd"),
    "feline": ("Domestic Shorthair", "Domestic Longhair", "Maine Coon", "Siamese", "Ragdoll"),
    "rabbit": ("Netherland Dwarf", "Lop"), "avian": ("Budgerigar", "Cockatiel"), "equine": ("Thoroughbred",),
    "reptile": ("Bearded Dragon", "Leopard Gecko"), "guinea pig": ("Abyssinian",), "ferret": ("Sable",),
}
GENDERS = ("Male", "Female", "Male Neutered", "Female Spayed", "Unknown")


def pet_details(patient_id: int, species: str) -> tuple[str | None, str]:
    """(breed, gender) of a pet, from its own generator (the clinic's draws stay as they were)."""
    rng = random.Random(patient_id * 104_729 + 3)
    breeds = BREEDS.get((species or "").lower(), ())
    breed = rng.choice(breeds) if breeds and rng.random() > 0.05 else None
    return breed, rng.choice(GENDERS)
