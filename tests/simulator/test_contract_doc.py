"""docs/IDEXX_API_ENDPOINTS.md names everything the simulator serves, and tags it against the facts.

The simulator once invented shapes and the provider was written against them; these tests keep
the doc and the simulator from drifting apart, so a reader can tell a fact (Known) from the
simulator's own choice (Sim) or a variant of an unknown (Variant) for every endpoint and field.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from pims_sync.simulator import shapes
from pims_sync.simulator.data import CANONICAL_STATUS_SPELLINGS, World
from pims_sync.simulator.dialects import OPTIONS, Dialect, seeded
from pims_sync.simulator.faults import ENDPOINTS, KINDS
from pims_sync.simulator.records import Records

DOC = (Path(__file__).resolve().parents[2] / "docs" / "IDEXX_API_ENDPOINTS.md").read_text(encoding="utf-8")
FACT_ENDPOINTS = ("/appointments/getCalendarEventData", "/schedule/getScheduleConfigs",
                  "/appointments/getAppointmentView", "/appointments/getAppointment",
                  "/consultations/search", "/consultations/{id}/page-data", "/consultations/view/{id}")


def test_every_endpoint_and_fault_kind_is_documented():
    for name, path in ENDPOINTS.items():
        assert f"`{name}`" in DOC, name
        assert path.split("<")[0].rstrip("/") in DOC, path
    for kind, params in KINDS.items():
        assert f"`{kind}`" in DOC, kind
        for param in params:
            assert f"`{param}`" in DOC, (kind, param)


def test_every_status_spelling_is_documented():
    for spellings in CANONICAL_STATUS_SPELLINGS.values():
        for spelling in spellings:
            assert f"`{spelling}`" in DOC, spelling


def test_every_dialect_question_and_option_is_documented():
    table = DOC[DOC.index("## Dialects"):DOC.index("## Common rules")]
    for question, options in OPTIONS.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{question}`")), None)
        assert row is not None, question
        assert all(f"`{option}`" in row for option in options), (question, options)
        assert row.index(f"`{options[0]}`") < row.index(f"`{options[1]}`")  # the first is the default


def test_every_facts_endpoint_section_is_tagged():
    for path in FACT_ENDPOINTS:
        start = DOC.index(f"## GET {path}")
        section = DOC[start:DOC.index("\n## ", start + 1)]
        assert "**Known" in section, path
        assert "**Sim" in section, path  # what the simulator chose where the facts are silent
    for heading in ("## Control API (Sim)", "## Simulated data (Sim)", "## Dialects (Variant"):
        assert heading in DOC


def _keys(value, into: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            into.add(key)
            _keys(inner, into)
    elif isinstance(value, list):
        for inner in value:
            _keys(inner, into)
    return into


def test_every_served_field_is_documented():
    world = World(seed=3, clinics=4, today=date(2026, 6, 15))
    records = Records(world)
    served: dict[str, set[str]] = {}
    for clinic in world.clinics:
        for dialect in (seeded(clinic.number), Dialect(), Dialect(optional_fields="absent", diagnoses="strings")):
            events = records.events(clinic, datetime(2026, 6, 14), datetime(2026, 6, 16))
            found = records.consultations(clinic, datetime(2026, 6, 14), datetime(2026, 6, 15, 23, 59))
            event = next(e for e in events if e["patient_id"])
            parts = {
                "calendar": shapes.calendar_body(events, clinic, dialect),
                "schedule": shapes.schedule_configs(clinic),
                "view": shapes.appointment_view(clinic),
                "appointment": shapes.appointment_detail(event, clinic, dialect, breed="Lop", gender="Male"),
                "search": [shapes.search_item(c, clinic, dialect) for c in found],
                "page_data": [shapes.page_data(c, clinic, dialect) for c in found],
                "old_view": [shapes.consultation_view(c) for c in found],
            }
            for name, body in parts.items():
                served.setdefault(name, set()).update(_keys(body, set()) - set(OPTIONS["calendarEnvelope"]))
    for name, keys in served.items():
        missing = sorted(k for k in keys if f'"{k}"' not in DOC and f"`{k}`" not in DOC)
        assert not missing, (name, missing)


def test_the_doc_shows_no_field_the_simulator_does_not_serve_in_the_calendar():
    start = DOC.index("## GET /appointments/getCalendarEventData")
    table = DOC[start:DOC.index("Status: the production code", start)]
    documented = set(re.findall(r"^\| `([a-z_A-Z]+)`", table, flags=re.M))
    documented |= {m for line in table.splitlines() if line.startswith("| `")
                   for m in re.findall(r"`([a-z_A-Z]+)`", line.split("|")[1])}
    assert documented == set(shapes.CALENDAR_FIELDS)


def test_documented_time_zones_are_the_ones_served():
    zones = [c.timezone for c in World(seed=1, clinics=6).clinics]
    for zone in zones:
        assert zone in DOC
    assert zones[:4] == ["America/New_York", "America/Los_Angeles", "Australia/Sydney", "Europe/London"]


def test_clinic_repr_hides_credentials():
    clinic = World(seed=1, clinics=1).clinics[0]
    text = repr(clinic)
    assert clinic.company_id not in text
    assert all(user.password not in text for user in clinic.users)
    assert all(user.password not in repr(user) for user in clinic.users)
