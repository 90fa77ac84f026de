"""Consultation details: ``/consultations/{id}/page-data`` and the older ``/consultations/view/{id}``.

page-data (IDEXX_FACTS.md): ``consultation.notes`` is ONE string (free text, SOAP-like), so
``Consultation.notes`` holds it as sent and the SOAP parts stay None: cutting free text into
parts would invent structure IDEXX does not promise. The discharge summary is
``consultation.dischargeSummary``, else ``consultationNotes.notes``. Lines not declined are the
products; declined lines are kept apart. Vitals and diagnoses are not in page-data: enrichment
takes them from the search rows.

A body without a ``consultation`` object is not a consultation: ``is_consultation`` lets the
provider fall back to the older view instead of storing an empty record.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from ....models import Consultation
from .clinical import consultation_lines, diagnoses, product_lines, vitals_from_readings
from .endpoints import PAGE_DATA, VIEW
from .reading import Record

COMPLETE_STATUSES = frozenset({"finalised", "finalized", "completed", "complete"})
SOAP_PARTS = ("subjective", "objective", "assessment", "plan")


def is_consultation(body: Any) -> bool:
    """True when ``body`` is a consultation at all (has a ``consultation`` object)."""
    return isinstance(body, dict) and isinstance(body.get("consultation"), dict)


def consultation_from_page_data(body: Any, *, tz: ZoneInfo) -> Consultation:
    """page-data -> a Consultation (appointment id, vitals, diagnoses: from the search)."""
    top = Record(body, endpoint=PAGE_DATA, label="page-data")
    c = top.child("consultation", required=True)
    cid = c.ident("id", required=True)
    top, c = top.named("consultation", cid), c.named("consultation", cid)
    status = (c.text("status") or "").lower()
    notes = top.child("consultationNotes")
    patient, client, branch = top.child("patient"), top.child("client"), top.child("clientBranch")
    page = top.child("pageData")
    given, declined = consultation_lines(top, "consultationLines")
    return Consultation(
        id=cid,
        appointment_id=None,
        patient_id=patient.ident("id") if patient else None,
        date=c.when("date", tz),
        status=status,
        notes=c.text("notes"),
        discharge_summary=c.text("dischargeSummary") or (notes.text("notes") if notes else None),
        products=given,
        declined_products=declined,
        complete=status in COMPLETE_STATUSES,
        reason=c.text("reason"),
        patient_name=patient.text("name") if patient else None,
        species=patient.text("species") if patient else None,
        breed=patient.text("breed") if patient else None,
        client_id=client.ident("id") if client else None,
        client_name=_name(client.text("firstName"), client.text("lastName")) if client else None,
        client_email=client.text("email") if client else None,
        client_phone=client.text("phone") if client else None,
        providers=tuple(p.text("name", required=True) for p in page.children("providers")) if page else (),
        branch=branch.text("name") if branch else None,
        source="page-data",
    )


def consultation_from_view(body: Any, *, tz: ZoneInfo) -> Consultation:
    """The older view: the consultation object with its own notes, vitals, diagnoses, products.

    Its notes come as one ``clinical_notes`` text; ``notes`` may be that text too, or the SOAP
    parts as an object (then the parts are kept and joined when ``clinical_notes`` is absent).
    """
    top = Record(body, endpoint=VIEW, label="view")
    c = top.child("consultation", required=True)
    cid = c.ident("id", required=True)
    c = c.named("consultation", cid)
    soap: dict[str, str | None] = dict.fromkeys(SOAP_PARTS)
    text_notes = None
    if isinstance(c.raw("notes"), dict):
        parts = c.child("notes", required=True)
        soap = {k: parts.text(k) for k in SOAP_PARTS}
    else:
        text_notes = c.text("notes")
    joined = "\n\n".join(f"{k.capitalize()}: {v}" for k, v in soap.items() if v) or None
    status = (c.text("status") or "").lower()
    return Consultation(
        id=cid,
        appointment_id=c.ident("appointment_id"),
        patient_id=c.ident("patient_id"),
        date=c.when("date", tz),
        status=status,
        notes=c.text("clinical_notes") or text_notes or joined,
        discharge_summary=c.text("discharge_summary"),
        vitals=vitals_from_readings(c.children("vitals")),
        diagnoses=diagnoses(c, "diagnoses"),
        products=product_lines(c, "products"),
        complete=status in COMPLETE_STATUSES,
        reason=c.text("reason"),
        patient_name=c.text("patient_name"),
        species=c.text("species"),
        source="view",
        subjective=soap["subjective"],
        objective=soap["objective"],
        assessment=soap["assessment"],
        plan=soap["plan"],
    )


def _name(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None
