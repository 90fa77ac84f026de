"""``/consultations/search`` pages -> ConsultationSummary rows (IDEXX_FACTS.md, legacy).

Envelope ``{"data": [...], "total": n, "page": n, "perPage": 20}``; the provider reads pages
until ``total`` rows have come (the legacy code read page 1 only). Items are camelCase and
carry the consultation's vitals and diagnoses, which page-data does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ....models import ConsultationSummary
from .clinical import diagnoses, vitals_from_object
from .endpoints import SEARCH
from .reading import Record


@dataclass(frozen=True)
class SearchPage:
    rows: tuple[ConsultationSummary, ...]
    total: int
    page: int | None
    per_page: int | None


def search_page(body: Any, *, tz: ZoneInfo) -> SearchPage:
    """One page of the consultation search; ``data`` and ``total`` are required."""
    top = Record(body, endpoint=SEARCH, label="search page")
    rows = tuple(_summary(Record(item, endpoint=SEARCH, label=f"data[{i}]"), tz)
                 for i, item in enumerate(top.items("data", required=True)))
    return SearchPage(
        rows=rows,
        total=top.whole("total", required=True),
        page=top.whole("page"),
        per_page=top.whole("perPage"),
    )


def _summary(row: Record, tz: ZoneInfo) -> ConsultationSummary:
    cid = row.ident("id", required=True)
    row = row.named("consultation", cid)
    return ConsultationSummary(
        id=cid,
        date=row.when("consultedAt", tz),
        status=(row.text("status") or "").lower(),
        appointment_id=row.ident("appointmentId"),
        patient_name=row.text("patientName"),
        client_name=row.text("clientName"),
        provider_id=row.ident("providerId"),
        provider_name=row.text("providerName"),
        clinical_notes=row.text("clinicalNotes"),
        vitals=vitals_from_object(row.child("vitals")),
        diagnoses=diagnoses(row, "diagnoses"),
    )
