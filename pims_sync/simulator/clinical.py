"""Clinical content of a consultation: notes, vitals with mixed units, diagnoses, product lines.

This builds the *canonical* consultation record, the simulator's ground truth (served as is by
`/__sim/truth`); `shapes.py` renders it into each endpoint's JSON. Only a finalised
consultation carries the full record; an in-progress one has what a vet typed so far; a draft
(patient arrived) has nothing yet. A few finalised ones have no notes at all, because vets
forget, and the sync must survive that. Some product lines were offered and declined.

The notes are one free-text string (IDEXX_FACTS.md: ``consultation.notes`` is one string,
SOAP-like); the older `/consultations/view/{id}` splits it back into S/O/A/P parts.
"""

from __future__ import annotations

import random

from ..models import JsonObject

REASONS = {
    "Vaccination": ("Annual boosters", "Puppy vaccination #2", "Kitten vaccines", "Rabies booster"),
    "Consultation": ("Limping on left hind leg", "Vomiting x2 days", "Itchy ears", "Not eating", "Lump on side"),
    "Check-up": ("Annual wellness exam", "Senior wellness", "Weight check", "Post-adoption check"),
    "Surgery": ("Spay", "Neuter", "Mass removal", "Cruciate repair — TPLO"),
    "Dental": ("Dental scale & polish", "Extraction — fractured PM4", "Bad breath"),
    "Emergency": ("Hit by car", "Ate chocolate!!", "Collapse", "Bloat?", "Laceration, bleeding"),
    "Follow-up": ("Recheck ears", "Suture removal", "Recheck bloods", "Post-op check"),
    "Grooming": ("Nail trim", "Anal glands + nails", "Matted coat"),
}
TYPE_WEIGHTS = (
    ("Consultation", 30), ("Vaccination", 20), ("Check-up", 15), ("Follow-up", 12), ("Surgery", 6),
    ("Dental", 6), ("Emergency", 6), ("Grooming", 5),
)
DIAGNOSES = (
    ("Otitis externa", "H60.3"), ("Gastroenteritis", "K52.9"), ("Atopic dermatitis", "L20.9"),
    ("Periodontal disease", "K05.6"), ("Osteoarthritis", "M19.9"), ("Obesity", "E66.9"),
    ("Cranial cruciate ligament rupture", "S83.5"), ("Healthy — no abnormalities", None),
    ("Lipoma", "D17.9"), ("Chronic kidney disease, stage 2", "N18.2"), ("Flea allergy dermatitis", None),
)
PRODUCTS = (
    ("Rabies vaccine", "product", "VAC-R"), ("DHPP vaccine", "product", "VAC-DHPP"),
    ("FVRCP vaccine", "product", "VAC-FV"), ("Carprofen 75 mg tabs", "product", "MED-CARP75"),
    ("Amoxicillin/clavulanate 250 mg", "product", "MED-AMC250"), ("Otic drops 15 ml", "product", None),
    ("Consultation fee", "service", "SVC-CONS"), ("Dental scale & polish", "service", "SVC-DENT"),
    ("Blood panel — CBC & chem", "service", "LAB-CBC"), ("Nail trim", "service", "SVC-NAIL"),
    ("Hospitalisation (per day)", "service", "SVC-HOSP"),
)


SOAP = (("S", "subjective"), ("O", "objective"), ("A", "assessment"), ("P", "plan"))
SEARCH_STATUS = {"Finalised": "completed", "Finalized": "completed", "In Progress": "in_progress",
                 "Draft": "in_progress", "Cancelled": "cancelled"}


def _vitals(rng: random.Random, species: str, *, partial: bool) -> JsonObject | None:
    """The search's vitals object (IDEXX_FACTS.md); values as numbers, units as typed."""
    celsius = rng.random() < 0.4
    if celsius:
        temp, temp_unit = round(rng.uniform(37.8, 39.6), 1), rng.choice(("°C", "C"))
    else:
        temp, temp_unit = round(rng.uniform(100.0, 103.2), 1), rng.choice(("°F", "F"))
    big = species.lower() in ("canine", "equine")
    if rng.random() < 0.5:
        weight, weight_unit = round(rng.uniform(2.0, 45.0 if big else 7.0), 1), "kg"
    else:
        weight, weight_unit = round(rng.uniform(4.0, 99.0 if big else 15.0), 1), rng.choice(("lb", "lbs"))
    pulse, respiration = rng.randrange(60, 200), rng.randrange(12, 40)
    vitals = {"temperature": temp, "temperatureUnit": temp_unit, "pulse": pulse, "respiration": respiration,
              "weight": weight, "weightUnit": weight_unit, "bloodPressure": None}
    if partial:
        kept = rng.randrange(0, 3)  # temperature, then pulse: what gets measured first
        if kept == 0:
            return None
        for key in ("weight", "weightUnit", "respiration") + (("pulse",) if kept == 1 else ()):
            vitals[key] = None
    return vitals


def _soap(rng: random.Random, patient: str, reason: str, diagnosis: str) -> JsonObject:
    return {
        "subjective": f"Owner reports: {reason.lower()}. {patient} otherwise bright, alert & responsive.",
        "objective": rng.choice((
            "BCS 5/9. Mucous membranes pink, CRT < 2s. Heart & lungs auscultate normally.",
            "Mild erythema both ear canals; brown discharge (L > R). Otherwise NAD.",
            "Pain on palpation of cranial abdomen. Hydration ~5%.",
            "Grade II dental tartar; gingivitis. Weight ↑ 0.4 kg since last visit.",
        )),
        "assessment": f"{diagnosis}.",
        "plan": rng.choice((
            "Meds as dispensed. Recheck in 10–14 days or sooner if worse.",
            "Booster due in 12 months. Continue current diet.",
            "Bloods sent to lab; will call owner with results.",
            "Discharge today with e-collar; no bathing for 10 days.",
        )),
    }


def notes_text(parts: JsonObject) -> str | None:
    """SOAP parts as the one notes string: a ``S: ...`` line per part that has text."""
    lines = [f"{letter}: {parts[key]}" for letter, key in SOAP if parts.get(key)]
    return "\n".join(lines) or None


def soap_parts(notes: str | None) -> JsonObject | None:
    """The notes string split back into S/O/A/P (the older view's shape); unlabelled text is S."""
    if not notes:
        return None
    parts = {key: "" for _, key in SOAP}
    labels = {f"{letter}: ": key for letter, key in SOAP}
    current = None
    for line in notes.split("\n"):
        label = next((lbl for lbl in labels if line.startswith(lbl)), None)
        if label is not None:
            current = labels[label]
            parts[current] = line[len(label):]
        elif current is None:
            current = "subjective"
            parts[current] = line
        else:
            parts[current] += "\n" + line
    return parts


def consultation_record(rng: random.Random, *, consultation_id: int, event: JsonObject, date: str, stage: str,
                        breed: str | None, branch: JsonObject | None) -> JsonObject:
    """The canonical record of the consultation behind calendar ``event`` (ground truth).

    ``stage`` is ``finalised``, ``in_progress`` or ``draft``. ``rng`` is the day's generator
    (its draws are kept in their old order, so the calendar stays as it was); the product
    lines' ids and declines come from their own generator keyed by the consultation id.
    """
    patient_name = event.get("patient_name") or ""
    reason = event.get("reason") or ""
    record = {
        "id": consultation_id,
        "appointment_id": event["appointment_id"],
        "patient_id": event.get("patient_id"),
        "patient_name": event.get("patient_name"),
        "species": event.get("species"),
        "breed": breed,
        "client_id": event.get("client_id"),
        "client_first_name": event.get("first_name"),
        "client_last_name": event.get("last_name"),
        "client_email": event.get("email"),
        "client_phone": event.get("phone_number"),
        "branch": branch,
        "date": date,
        "provider_id": event.get("provider_id"),
        "vet": event.get("provider"),
        "reason": event.get("reason"),
        "status": {"finalised": rng.choice(("Finalised", "Finalised", "Finalized")),
                   "in_progress": "In Progress", "draft": "Draft"}[stage],
        "notes": None,
        "discharge_summary": None,
        "vitals": None,
        "diagnoses": [],
        "products": [],
    }
    diagnosis, code = rng.choice(DIAGNOSES)
    species = event.get("species") or "Canine"
    if stage == "finalised":
        if rng.random() >= 0.06:  # a few finalised consultations carry no notes
            record["notes"] = notes_text(_soap(rng, patient_name.strip(), reason, diagnosis))
            record["discharge_summary"] = (
                f"{patient_name.strip()} was seen today for {reason.lower()}. Please call us if you have any concerns."
            )
        record["vitals"] = _vitals(rng, species, partial=False)
        record["diagnoses"] = [{"name": diagnosis, "code": code, "status": rng.choice(("confirmed", "tentative"))}]
        if rng.random() < 0.3:
            extra, extra_code = rng.choice(DIAGNOSES)
            if extra != diagnosis:
                record["diagnoses"].append({"name": extra, "code": extra_code, "status": "differential"})
        lines = [(name, rng.choice((1, 1, 1, 2, 0.5, 14)), kind, pcode)
                 for name, kind, pcode in rng.sample(PRODUCTS, rng.randrange(1, 4))]
        own = random.Random(consultation_id * 7919 + 17)
        if own.random() < 0.25:  # blood pressure is taken now and then
            record["vitals"]["bloodPressure"] = f"{own.randrange(110, 160)}/{own.randrange(60, 95)}"
        record["products"] = [
            {"id": consultation_id * 10 + i, "name": name, "quantity": qty, "type": kind, "code": pcode,
             "declined": i > 1 and own.random() < 0.2}  # the first line (the visit) is never declined
            for i, (name, qty, kind, pcode) in enumerate(lines, start=1)
        ]
    elif stage == "in_progress":
        record["notes"] = notes_text({"subjective": f"Owner reports: {reason.lower()}."})
        record["vitals"] = _vitals(rng, species, partial=True)
    return record


def search_status(record: JsonObject) -> str:
    """The search's status vocabulary (IDEXX_FACTS.md): in_progress | completed | cancelled."""
    return SEARCH_STATUS.get(record.get("status") or "", "in_progress")
