"""Clinical content of a consultation: SOAP notes, vitals with mixed units, diagnoses, products.

Only a finalised consultation carries the full record; an in-progress one has what a vet
typed so far; a draft (patient arrived) has nothing yet. A few finalised ones have no notes
at all, because vets forget, and the sync must survive that.
"""

from __future__ import annotations

import random

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


def _vitals(rng: random.Random, species: str, *, partial: bool) -> list[dict]:
    celsius = rng.random() < 0.4
    if celsius:
        temp = {"type": "temperature", "value": f"{rng.uniform(37.8, 39.6):.1f}", "unit": rng.choice(("°C", "C"))}
    else:
        temp = {"type": "temperature", "value": f"{rng.uniform(100.0, 103.2):.1f}", "unit": rng.choice(("°F", "F"))}
    big = species.lower() in ("canine", "equine")
    if rng.random() < 0.5:
        weight = {"type": "weight", "value": f"{rng.uniform(2.0, 45.0 if big else 7.0):.1f}", "unit": "kg"}
    else:
        weight = {"type": "weight", "value": f"{rng.uniform(4.0, 99.0 if big else 15.0):.1f}",
                  "unit": rng.choice(("lb", "lbs"))}
    vitals = [
        temp,
        {"type": "pulse", "value": str(rng.randrange(60, 200)), "unit": "bpm"},
        {"type": "respiration", "value": str(rng.randrange(12, 40)), "unit": "rpm"},
        weight,
    ]
    if partial:
        return vitals[: rng.randrange(0, 3)]
    return vitals


def _notes(rng: random.Random, patient: str, reason: str, diagnosis: str) -> dict:
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


def consultation_record(
    rng: random.Random,
    *,
    consultation_id: int,
    appointment_id: int,
    patient_id: int,
    patient_name: str,
    client_id: int,
    species: str,
    date: str,
    vet: str,
    reason: str,
    stage: str,
) -> dict:
    """One consultation as `/consultations/{id}/page-data` serves it (without the envelope).

    ``stage`` is ``finalised``, ``in_progress`` or ``draft``.
    """
    record = {
        "id": consultation_id,
        "appointment_id": appointment_id,
        "patient_id": patient_id,
        "patient_name": patient_name,
        "client_id": client_id,
        "date": date,
        "vet": vet,
        "status": {"finalised": rng.choice(("Finalised", "Finalised", "Finalized")),
                   "in_progress": "In Progress", "draft": "Draft"}[stage],
        "notes": None,
        "discharge_summary": None,
        "vitals": [],
        "diagnoses": [],
        "products": [],
    }
    diagnosis, code = rng.choice(DIAGNOSES)
    if stage == "finalised":
        if rng.random() >= 0.06:  # a few finalised consultations carry no notes
            record["notes"] = _notes(rng, patient_name.strip(), reason, diagnosis)
            record["discharge_summary"] = (
                f"{patient_name.strip()} was seen today for {reason.lower()}. Please call us if you have any concerns."
            )
        record["vitals"] = _vitals(rng, species, partial=False)
        record["diagnoses"] = [{"name": diagnosis, "code": code, "status": rng.choice(("confirmed", "tentative"))}]
        if rng.random() < 0.3:
            extra, extra_code = rng.choice(DIAGNOSES)
            if extra != diagnosis:
                record["diagnoses"].append({"name": extra, "code": extra_code, "status": "differential"})
        record["products"] = [
            {"name": name, "quantity": rng.choice((1, 1, 1, 2, 0.5, 14)), "type": kind, "code": pcode}
            for name, kind, pcode in rng.sample(PRODUCTS, rng.randrange(1, 4))
        ]
    elif stage == "in_progress":
        record["notes"] = {"subjective": f"Owner reports: {reason.lower()}.", "objective": "",
                           "assessment": "", "plan": ""}
        record["vitals"] = _vitals(rng, species, partial=True)
    return record


def clinical_notes_text(record: dict) -> str:
    """The notes as one block, the way `/consultations/view/{id}` shows them."""
    notes = record.get("notes")
    if not notes:
        return ""
    parts = [("S", "subjective"), ("O", "objective"), ("A", "assessment"), ("P", "plan")]
    return "\n".join(f"{letter}: {notes.get(key) or ''}" for letter, key in parts)
