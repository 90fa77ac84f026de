"""IDEXX JSON -> domain models, read from fixtures in every shape of IDEXX_FACTS.md.

Fixtures: tests/fixtures/idexx/*.json (four calendar envelopes, both date formats, ids as
strings and numbers, optional fields absent, both schedule endpoints, page-data with and
without its optional parts, a body that is not a consultation, search pages with diagnoses as
strings and as objects, the older view).
"""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pims_sync.errors import PimsProtocolError
from pims_sync.models import CASE_TYPES, PIMS_STATUSES, BusinessHours, Diagnosis, ProductLine, case_status_for
from pims_sync.providers.idexx import transforms as t
from pims_sync.providers.idexx.clock import query_window, utc_to_wall, wall_to_utc

NY = ZoneInfo("America/New_York")
SYD = ZoneInfo("Australia/Sydney")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "idexx"


def load(name):
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def appts(body, tz=NY, region="US", rooms=None):
    return t.appointments_from_calendar(body, tz=tz, phone_region=region, rooms=rooms)


# --- calendar: four envelopes, every field --------------------------------------------------


def test_appointments_envelope_full_item_field_for_field():
    (a,) = appts(load("calendar_appointments"), rooms={"2": "Exam 2"})  # the block and the roster are dropped
    assert a.id == "100234"  # appointment_id wins over id, as the production code chose
    assert (a.start, a.end) == (utc(2026, 11, 26, 14, 0), utc(2026, 11, 26, 14, 30))  # EST = UTC-5
    assert (a.status, a.status_label, a.type) == ("completed", "Ready to Pay", "vaccination")
    assert a.consultation_id == "55012"
    assert (a.patient_id, a.patient_name, a.species) == ("7001", "Biscuit Featherstonehaugh", None)
    assert (a.client_id, a.client_first_name, a.client_last_name) == ("3001", "Margarethe", "Okonkwo-Lindqvist")
    assert a.client_name == "Margarethe Okonkwo-Lindqvist"
    assert (a.client_email, a.client_phone_raw, a.client_phone_e164) == (
        "margarethe@example.com", "(555) 010-0123", "+15550100123"
    )
    assert (a.provider_name, a.room, a.title) == ("Dr. Amelia Chen", "Exam 2", "Biscuit - Vaccination")
    assert (a.type_description, a.reason) == ("Vaccination", "Annual boosters")


def test_data_envelope_string_ids_iso_instants_and_extra_fields():
    (a,) = appts(load("calendar_data"))
    assert (a.id, a.consultation_id, a.patient_id, a.client_id) == ("100240", None, "7002", "3002")
    assert a.start == utc(2026, 11, 26, 14, 0)  # "Z": an instant, not wall time
    assert a.end == utc(2026, 11, 26, 14, 30)  # "-04:00": an instant too
    assert (a.status, a.status_label, a.type) == ("in_progress", "In Progress", "dental")
    assert (a.room, a.provider_name, a.reason) == ("9", "Dr. Ravi Patel", "Tartar")  # no room names: the id
    assert (a.client_last_name, a.client_phone_e164) == ("Wiśniewski", "+15550100199")


def test_events_envelope_with_every_optional_field_absent():
    (a,) = appts(load("calendar_events"))
    assert a.id == "100250"  # no appointment_id: id
    assert (a.start, a.end) == (utc(2026, 11, 26, 16, 0), utc(2026, 11, 26, 16, 20))  # naive ISO: wall time
    assert (a.status, a.status_label) == ("scheduled", None)  # nothing said: "Scheduled"
    assert (a.type, a.type_description, a.reason) == ("other", None, None)
    assert (a.consultation_id, a.provider_name, a.room) == (None, None, None)
    assert (a.client_phone_raw, a.client_phone_e164) == (None, None)
    assert (a.patient_name, a.client_name, a.title) == ("Mochi", "Aiko Tanaka", "Mochi")


def test_bare_list_envelope_statuses():
    rows = appts(load("calendar_bare"))
    assert [(a.id, a.status, a.status_label) for a in rows] == [
        ("100260", "completed", "Finalized"),
        ("100261", "no_show", "No Show"),
        ("100262", "scheduled", "Not Arrived"),
        ("100263", "arrived", "Checked In"),
    ]
    assert rows[0].consultation_id == "55060" and rows[0].type == "checkup"
    assert rows[1].consultation_id is None


@pytest.mark.parametrize("name", ["calendar_appointments", "calendar_data", "calendar_events", "calendar_bare"])
def test_every_envelope_reads_the_same_items(name):
    body = load(name)
    items = body if isinstance(body, list) else next(body[k] for k in t.ENVELOPE_KEYS if k in body)
    wrapped = [items, {"appointments": items}, {"data": items}, {"events": items}]
    results = [appts(copy.deepcopy(b)) for b in wrapped]
    assert results[0] and all(r == results[0] for r in results)


def test_envelopes_are_tried_in_the_production_order():
    first = load("calendar_events")["events"]
    second = load("calendar_data")["data"]
    assert [a.id for a in appts({"appointments": first, "data": second})] == ["100250"]
    assert [a.id for a in appts({"appointments": None, "data": second, "events": first})] == ["100240"]


@pytest.mark.parametrize("body", [{}, {"events": None}, {"data": {"x": 1}}, {"rows": []}, "x", 3, None])
def test_calendar_without_a_list_is_a_protocol_error_not_empty(body):
    with pytest.raises(PimsProtocolError) as info:
        appts(body)
    assert info.value.endpoint == t.CALENDAR


# --- status chain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current, label, expected",
    [
        ("Scheduled", None, "scheduled"),
        ("booked", "Booked", "scheduled"),
        ("not arrived", None, "scheduled"),
        ("confirmed", None, "confirmed"),
        ("Arrived", None, "arrived"),
        (None, "Checked In", "arrived"),
        ("In Progress", None, "in_progress"),
        ("in_progress", None, "in_progress"),
        ("In Consult", None, "in_progress"),
        ("Ready to Pay", None, "completed"),
        ("ready-to-pay", None, "completed"),
        ("Finalized", None, "completed"),
        ("Finalised", None, "completed"),
        ("completed", None, "completed"),
        ("Cancelled", None, "cancelled"),
        ("Canceled", None, "cancelled"),
        ("No Show", None, "no_show"),
        ("  NO-SHOW ", None, "no_show"),
        ("weird_new_state", "Arrived", "arrived"),  # current_status first, but only if we know it
        ("weird_new_state", "Weird", "scheduled"),
        (None, None, "scheduled"),
        ("", "", "scheduled"),
    ],
)
def test_status_words(current, label, expected):
    assert t.map_status(current, label) == expected


def test_every_status_word_lands_in_pims_statuses_and_has_a_case_status():
    assert set(t.STATUS_WORDS.values()) <= set(PIMS_STATUSES)
    assert {s: case_status_for(s) for s in PIMS_STATUSES} == {
        "scheduled": "draft", "confirmed": "draft", "arrived": "ongoing", "in_progress": "ongoing",
        "completed": "completed", "cancelled": "reviewed", "no_show": "reviewed",
    }


def test_status_doc_lists_every_status_word():
    doc = (Path(__file__).parents[2] / "docs" / "IDEXX_STATUS.md").read_text(encoding="utf-8")
    for word, status in t.STATUS_WORDS.items():
        assert f"| `{word}` | `{status}` | `{case_status_for(status)}` |" in doc, word


@pytest.mark.parametrize(
    "description, expected",
    [
        ("Vaccination", "vaccination"), ("Puppy vaccines", "vaccination"), ("Surgery", "surgery"),
        ("Spay", "surgery"), ("Dental Cleaning", "dental"), ("EMERGENCY", "emergency"),
        ("Wellness Exam", "checkup"), ("Annual Check-up", "checkup"), ("Follow-up", "follow_up"),
        ("Recheck ears", "follow_up"), ("Consultation", "consultation"), ("Grooming", "grooming"),
        ("Boarding", "other"), ("", "other"), (None, "other"),
    ],
)
def test_type_mapping(description, expected):
    assert t.map_type(description) == expected and expected in CASE_TYPES


def test_blocks_and_rosters_in_every_spelling_are_not_appointments():
    base = load("calendar_events")["events"][0]
    rows = [dict(base, id=i, **flags) for i, flags in enumerate(
        [{}, {"is_block": True}, {"is_roster": 1}, {"is_block": "true"}, {"is_block": False, "is_roster": "0"}], 1)]
    assert [a.id for a in appts(rows)] == ["1", "5"]


def test_room_ids_and_phone_region():
    item = dict(load("calendar_data")["data"][0], phone_number="02 9374 4000",
                start="2026-11-26 09:00:00", end="2026-11-26 09:30:00")
    (a,) = appts([item], tz=SYD, region="AU", rooms={"2": "Exam 2", "9": "Dental Suite"})
    assert a.room == "Dental Suite"
    assert (a.client_phone_e164, a.client_phone_raw) == ("+61293744000", "02 9374 4000")


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"id": None, "appointment_id": None}, "appointment_id"),
        ({"start": "26/11/2026 09:00"}, "start"),
        ({"start": None}, "start"),
        ({"end": "2026-13-26 09:30:00"}, "end"),
        ({"patient_name": {"first": "Biscuit"}}, "patient_name"),
        ({"patient_id": True}, "patient_id"),
        ({"is_block": "perhaps"}, "is_block"),
    ],
)
def test_malformed_item_names_endpoint_field_and_record(overrides, field):
    item = dict(load("calendar_appointments")["appointments"][0], **overrides)
    with pytest.raises(PimsProtocolError) as info:
        appts([item])
    message = str(info.value)
    assert f"'{field}'" in message and info.value.endpoint == t.CALENDAR
    if field != "appointment_id":
        assert "appointment 100234" in message
    assert "Biscuit" not in message and "26/11" not in message and "2026-13" not in message


# --- time zones on DST days ------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz, wall, expected_utc",
    [
        (NY, "2026-03-08 01:30:00", utc(2026, 3, 8, 6, 30)),
        (NY, "2026-03-08 02:30:00", utc(2026, 3, 8, 7, 30)),  # nonexistent: shifts forward
        (NY, "2026-03-08 03:30:00", utc(2026, 3, 8, 7, 30)),
        (NY, "2026-11-01 01:30:00", utc(2026, 11, 1, 5, 30)),  # ambiguous: the first (EDT) wins
        (NY, "2026-11-01 02:30:00", utc(2026, 11, 1, 7, 30)),
        (SYD, "2026-04-05 02:30:00", utc(2026, 4, 4, 15, 30)),
        (SYD, "2026-10-04 02:30:00", utc(2026, 10, 3, 16, 30)),
        (SYD, "2026-10-04 09:00:00", utc(2026, 10, 3, 22, 0)),
        (NY, "2026-11-01T01:30:00", utc(2026, 11, 1, 5, 30)),  # naive ISO: the same wall-time rule
        (NY, "2026-11-01T01:30:00-05:00", utc(2026, 11, 1, 6, 30)),  # an offset picks the second 01:30
        (NY, "2026-11-01T06:30:00.000Z", utc(2026, 11, 1, 6, 30)),
        (NY, "2026-11-01T01:30:00+0000", utc(2026, 11, 1, 1, 30)),
    ],
)
def test_times_in_both_formats_on_dst_days(tz, wall, expected_utc):
    when = t.parse_when(wall, tz)
    assert when == expected_utc and when.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["26.11.2026 09:00:00", "2026-11-26", "09:00", "2026-11-26 9:00", "tomorrow", ""])
def test_unreadable_times(text):
    assert t.parse_when(text, NY) is None


def test_query_window_covers_the_repeated_hour():
    start, end = utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 7, 0)
    lo, hi = query_window(start, end, NY)
    assert lo <= utc_to_wall(utc(2026, 11, 1, 6, 30), NY) < hi
    assert wall_to_utc(utc_to_wall(start, NY), NY) == start


def test_request_params():
    wall = datetime(2026, 3, 8, 7, 5, 9)
    assert t.calendar_params(wall, wall) == {"start": "2026-03-08 07:05:09", "end": "2026-03-08 07:05:09"}
    assert t.search_params(3, wall, wall) == {
        "page": "3", "date_start": "08.03.2026 07:05:09", "date_end": "08.03.2026 07:05:09",
        "order[]": "consultedAt:desc",
    }


def test_path_ids_are_not_injectable():
    assert t.page_data_path("55012") == "/consultations/55012/page-data"
    assert t.view_path("55012") == "/consultations/view/55012"
    with pytest.raises(ValueError):
        t.view_path("../admin")


# --- schedule settings: both endpoints ------------------------------------------------------


def test_appointment_view_prod_shape():
    cfg = t.schedule_from_appointment_view(load("appointment_view"))
    assert cfg.slot_minutes == 15 and cfg.source == t.APPOINTMENT_VIEW
    weekdays = [BusinessHours(d, "08:00", "18:00") for d in range(5)]
    assert cfg.business_hours == (*weekdays, BusinessHours(5, "09:00", "13:00"))  # FullCalendar 6 = Saturday
    assert cfg.providers == ("Dr. Amelia Chen", "Dr. Ravi Patel")
    assert (cfg.rooms, cfg.room_ids) == (("Exam 2", "Dental Suite"), ("2", "9"))
    assert cfg.room_names() == {"2": "Exam 2", "9": "Dental Suite"}


def test_schedule_configs_legacy_shape():
    cfg = t.schedule_from_schedule_configs(load("schedule_configs"))
    assert cfg.slot_minutes == 20 and cfg.source == t.SCHEDULE_CONFIGS
    assert cfg.business_hours == tuple(BusinessHours(d, "08:00", "18:00") for d in range(5))
    assert cfg.providers == ("Dr. Amelia Chen",)
    assert cfg.room_names() == {"2": "Exam 2", "3": "Surgery"}


def test_sunday_is_zero_or_seven():
    body = load("schedule_configs")
    for sunday in (0, 7):
        body["businessHours"]["daysOfWeek"] = [sunday]
        assert t.schedule_from_schedule_configs(body).business_hours == (BusinessHours(6, "08:00", "18:00"),)


def test_schedule_sources_are_tried_in_order():
    assert [e for e, _ in t.SCHEDULE_SOURCES] == [t.APPOINTMENT_VIEW, t.SCHEDULE_CONFIGS]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"slotInterval": None}, "slotInterval"),
        ({"slotInterval": 0}, "slotInterval"),
        ({"businessHours": {"start": "08:00", "end": "18:00", "daysOfWeek": [1]}}, "businessHours"),
        ({"businessHours": [{"daysOfWeek": [8], "startTime": "08:00", "endTime": "18:00"}]}, "businessHours[0].daysOfWeek"),
        ({"businessHours": [{"daysOfWeek": [1], "startTime": "8am", "endTime": "18:00"}]}, "businessHours[0].startTime"),
        ({"appointmentRooms": [{"id": 1}]}, "appointmentRooms[0].name"),
        ({"appointmentRooms": [{"name": "Exam 9"}]}, "appointmentRooms[0].id"),
        ({"providers": None}, "providers"),
    ],
)
def test_changed_appointment_view_raises_naming_the_field(change, field):
    with pytest.raises(PimsProtocolError) as info:
        t.schedule_from_appointment_view({**load("appointment_view"), **change})
    assert info.value.endpoint == t.APPOINTMENT_VIEW and f"'{field}'" in str(info.value)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"slotDuration": "fifteen"}, "slotDuration"),
        ({"businessHours": [{"start": "08:00", "end": "18:00", "daysOfWeek": [1]}]}, "businessHours"),
        ({"businessHours": {"start": "08:00", "daysOfWeek": [1]}}, "businessHours.end"),
        ({"rooms": [{"id": 1, "name": None}]}, "rooms[0].name"),
    ],
)
def test_changed_schedule_configs_raises_naming_the_field(change, field):
    with pytest.raises(PimsProtocolError) as info:
        t.schedule_from_schedule_configs({**load("schedule_configs"), **change})
    assert info.value.endpoint == t.SCHEDULE_CONFIGS and f"'{field}'" in str(info.value)


def test_each_schedule_reader_refuses_the_other_shape():
    with pytest.raises(PimsProtocolError):
        t.schedule_from_appointment_view(load("schedule_configs"))
    with pytest.raises(PimsProtocolError):
        t.schedule_from_schedule_configs(load("appointment_view"))


# --- consultation search ----------------------------------------------------------------------


def test_search_page_one_field_for_field():
    page = t.search_page(load("search_page1"), tz=NY)
    assert (page.total, page.page, page.per_page) == (3, 1, 2)
    first, second = page.rows
    assert (first.id, first.appointment_id, first.status) == ("55012", "100234", "completed")
    assert first.date == utc(2026, 11, 26, 14, 5)
    assert (first.patient_name, first.client_name) == ("Biscuit Featherstonehaugh", "Margarethe Okonkwo-Lindqvist")
    assert (first.provider_id, first.provider_name) == ("11", "Dr. Amelia Chen")
    assert first.clinical_notes == "S: scratching. O: red canals."
    v = first.vitals
    assert (v.temperature_c, v.pulse_bpm, v.respiration_rpm, v.weight_kg, v.blood_pressure) == (38.6, 96, 24, 10.61, "120/80")
    assert dict(v.raw) == {"temperature": "101.5 °F", "weight": "23.4 lb", "pulse": "96", "respiration": "24",
                           "blood_pressure": "120/80"}
    assert first.diagnoses == (Diagnosis("Otitis externa"), Diagnosis("Obesity"))
    assert second.date == utc(2026, 11, 26, 17, 5)  # "YYYY-MM-DD HH:MM:SS": wall time
    assert (second.status, second.clinical_notes, second.diagnoses) == ("in_progress", None, ())
    assert (second.vitals.temperature_c, second.vitals.weight_kg, second.vitals.pulse_bpm) == (38.4, 4.2, None)


def test_search_page_two_string_ids_and_diagnosis_objects():
    page = t.search_page(load("search_page2"), tz=NY)
    (row,) = page.rows
    assert (row.id, row.appointment_id, row.provider_id, row.status) == ("55070", "100270", "12", "cancelled")
    assert row.date == utc(2026, 11, 26, 18, 10)
    assert row.vitals is None and row.clinical_notes is None
    assert row.diagnoses == (Diagnosis("Cruciate ligament rupture", code="CCL"), Diagnosis("Arthritis"))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"total": "many"}, "total"),
        ({"total": None}, "total"),
        ({"data": None}, "data"),
        ({"data": [{"consultedAt": "2026-11-26 09:05:00"}]}, "id"),
        ({"data": [{"id": 1, "consultedAt": "yesterday"}]}, "consultedAt"),
        ({"data": [{"id": 1, "consultedAt": "2026-11-26 09:05:00", "diagnoses": [{"code": "X"}]}]}, "diagnoses[0].name"),
        ({"data": [{"id": 1, "consultedAt": "2026-11-26 09:05:00", "vitals": {"temperature": 101, "temperatureUnit": "K"}}]},
         "vitals.temperatureUnit"),
        ({"data": [{"id": 1, "consultedAt": "2026-11-26 09:05:00", "vitals": {"weight": "heavy", "weightUnit": "kg"}}]},
         "vitals.weight"),
        ({"data": [{"id": 1, "consultedAt": "2026-11-26 09:05:00", "vitals": [{"type": "weight"}]}]}, "vitals"),
    ],
)
def test_malformed_search_raises_naming_the_field(change, field):
    with pytest.raises(PimsProtocolError) as info:
        t.search_page({**load("search_page1"), **change}, tz=NY)
    assert info.value.endpoint == t.SEARCH and f"'{field}'" in str(info.value)


def test_search_without_an_envelope_is_an_error():
    for body in ([], {"rows": []}, "x"):
        with pytest.raises(PimsProtocolError):
            t.search_page(body, tz=NY)


# --- page-data ------------------------------------------------------------------------------


def test_page_data_full_field_for_field():
    c = t.consultation_from_page_data(load("page_data_full"), tz=NY)
    assert (c.id, c.appointment_id, c.patient_id, c.source) == ("55012", None, "7001", "page-data")
    assert c.date == utc(2026, 11, 26, 14, 5)
    assert (c.status, c.complete, c.reason) == ("finalized", True, "Annual boosters")
    assert c.notes.startswith("S: Owner reports scratching") and c.notes.endswith("P: Ear drops.")
    assert (c.subjective, c.objective, c.assessment, c.plan) == (None, None, None, None)
    assert c.discharge_summary == "Ear drops twice daily for 7 days."  # dischargeSummary before consultationNotes
    assert (c.patient_name, c.species, c.breed) == ("Biscuit Featherstonehaugh", "Canine", "Beagle")
    assert (c.client_id, c.client_name) == ("3001", "Margarethe Okonkwo-Lindqvist")
    assert (c.client_phone, c.client_email) == ("(555) 010-0123", "margarethe@example.com")
    assert (c.providers, c.branch) == (("Dr. Amelia Chen",), "Downtown")
    assert c.products == (ProductLine("Rabies vaccine", 1.0, id="1"), ProductLine("Ear drops 15ml", 2.0, id="2"))
    assert c.declined_products == (ProductLine("Dental cleaning", 1.0, id="3"),)
    assert (c.vitals, c.diagnoses) == (None, ())  # the search brings those


def test_page_data_minimal_has_no_optional_parts():
    c = t.consultation_from_page_data(load("page_data_minimal"), tz=NY)
    assert (c.id, c.status, c.complete) == ("55060", "in progress", False)
    assert c.date == utc(2026, 11, 26, 17, 5)  # ISO with offset
    assert (c.notes, c.discharge_summary, c.branch) == (None, None, None)
    assert (c.products, c.declined_products, c.providers) == ((), (), ())
    assert (c.client_name, c.client_email, c.client_phone) == ("Ana Silva", None, None)
    assert (c.species, c.breed) == ("Feline", "Domestic Shorthair")


def test_page_data_discharge_from_consultation_notes():
    c = t.consultation_from_page_data(load("page_data_notes_discharge"), tz=NY)
    assert c.discharge_summary == "Rest for two weeks; recheck if no better."
    assert c.notes == "Left hind lameness, grade 2."
    assert c.date == utc(2026, 11, 26, 18, 10)  # naive ISO: wall time
    assert (c.complete, c.providers, c.client_name) == (True, ("Dr. Ravi Patel",), "Ines Moreau")


def test_a_body_without_consultation_is_not_a_consultation():
    assert not t.is_consultation(load("page_data_not_consultation"))
    assert not t.is_consultation([]) and not t.is_consultation({"consultation": "x"})
    assert t.is_consultation(load("page_data_full"))
    with pytest.raises(PimsProtocolError) as info:
        t.consultation_from_page_data(load("page_data_not_consultation"), tz=NY)
    assert "'consultation'" in str(info.value)


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("consultation", "id"), None, "consultation.id"),
        (("consultation", "date"), "26.11.2026", "consultation.date"),
        (("consultation", "notes"), {"subjective": "x"}, "consultation.notes"),
        (("patient", "species"), {"id": 1, "name": "Canine"}, "patient.species"),
        (("client",), ["Margarethe"], "client"),
        (("consultationLines",), "none", "consultationLines"),
        (("consultationLines", 0, "productService"), None, "consultationLines[0].productService"),
        (("consultationLines", 0, "quantity"), "two", "consultationLines[0].quantity"),
        (("consultationLines", 0, "isDeclined"), "maybe", "consultationLines[0].isDeclined"),
        (("pageData", "providers", 0, "name"), None, "pageData.providers[0].name"),
    ],
)
def test_malformed_page_data_raises_naming_the_field(path, value, field):
    body = load("page_data_full")
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PimsProtocolError) as info:
        t.consultation_from_page_data(body, tz=NY)
    assert info.value.endpoint == t.PAGE_DATA and f"'{field}'" in str(info.value)


# --- the older view --------------------------------------------------------------------------


def test_view_reads_its_own_shape():
    c = t.consultation_from_view(load("view"), tz=NY)
    assert (c.id, c.appointment_id, c.patient_id, c.source) == ("55012", "100234", "7001", "view")
    assert (c.status, c.complete, c.reason) == ("finalised", True, "Annual boosters")
    assert c.notes == "Subjective: Scratching ears\n\nObjective: Red canal\n\nAssessment: Otitis\n\nPlan: Drops"
    assert (c.subjective, c.objective, c.assessment, c.plan) == ("Scratching ears", "Red canal", "Otitis", "Drops")
    assert c.discharge_summary == "Drops twice daily"
    v = c.vitals
    assert (v.temperature_c, v.pulse_bpm, v.respiration_rpm, v.weight_kg) == (38.6, 96, 24, 10.61)
    assert dict(v.raw) == {"temperature": "101.5 °F", "pulse": "96 bpm", "respiration": "24 rpm", "weight": "23.4 lb"}
    assert c.diagnoses == (Diagnosis("Otitis externa", "H60.3", "confirmed"),)
    assert c.products == (ProductLine("Rabies vaccine", 1.0, "product", "VAC-R"),)


def test_view_with_notes_as_one_string_and_no_clinical_notes():
    body = load("view")
    body["consultation"].update(notes="One block of notes.", clinical_notes=None)
    c = t.consultation_from_view(body, tz=NY)
    assert (c.notes, c.subjective) == ("One block of notes.", None)


@pytest.mark.parametrize(
    "reading", [{"type": "temperature", "value": "101", "unit": "K"}, {"type": "weight", "value": "heavy", "unit": "kg"}]
)
def test_bad_view_vital_raises(reading):
    body = load("view")
    body["consultation"]["vitals"] = [reading]
    with pytest.raises(PimsProtocolError, match="consultation 55012"):
        t.consultation_from_view(body, tz=NY)


# --- metadata ---------------------------------------------------------------------------------


def test_consultation_metadata_is_json_with_documented_keys():
    c = t.consultation_from_view(load("view"), tz=NY)
    meta = c.to_metadata()
    assert json.loads(json.dumps(meta)) == meta
    doc = (Path(__file__).parents[2] / "docs" / "IDEXX_STATUS.md").read_text(encoding="utf-8")
    for key in meta:
        assert f"`{key}`" in doc, key
    assert meta["date"] == "2026-11-26T14:05:00+00:00"
    assert meta["vitals"]["raw"]["weight"] == "23.4 lb"
    assert meta["products"][0] == {"name": "Rabies vaccine", "quantity": 1.0, "kind": "product", "code": "VAC-R", "id": None}
