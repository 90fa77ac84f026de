"""IDEXX JSON -> domain models: statuses, types, blocks, DST days, vitals, phones, bad rows."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pims_sync.errors import PimsProtocolError
from pims_sync.models import CASE_STATUSES, CASE_TYPES
from pims_sync.providers.idexx import transforms as t
from pims_sync.providers.idexx.clock import query_window, utc_to_wall, wall_to_utc

NY = ZoneInfo("America/New_York")
SYD = ZoneInfo("Australia/Sydney")


def event(**overrides):
    base = {
        "id": 100234, "appointment_id": 100234, "consultation_id": 55012,
        "start": "2026-11-26 09:00:00", "end": "2026-11-26 09:30:00",
        "patient_id": 7001, "patient_name": "Zoë", "species": "Canine",
        "client_id": 3001, "first_name": "José", "last_name": "O'Brien",
        "email": "jose@example.com", "phone_number": "(555) 010-0123",
        "provider": "Dr. Amelia Chen", "resourceId": 2,
        "title": "Zoë - Vaccination", "type_description": "Vaccination", "reason": "Annual boosters",
        "current_status": "confirmed", "status_label": "Confirmed",
        "is_block": False, "is_roster": False,
    }
    base.update(overrides)
    return base


def appts(*events, tz=NY, region="US", rooms=None):
    return t.appointments_from_calendar({"events": list(events)}, tz=tz, phone_region=region, rooms=rooms)


def test_full_event_maps_every_field():
    (a,) = appts(event(), rooms={"2": "Exam 2"})
    assert a.id == "100234" and a.consultation_id == "55012"
    assert a.start == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # EST = UTC-5
    assert a.end == datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    assert (a.status, a.type, a.status_label) == ("confirmed", "vaccination", "Confirmed")
    assert (a.patient_id, a.patient_name, a.species) == ("7001", "Zoë", "Canine")
    assert (a.client_id, a.client_name, a.client_email) == ("3001", "José O'Brien", "jose@example.com")
    assert (a.client_phone_raw, a.client_phone_e164) == ("(555) 010-0123", "+15550100123")
    assert (a.provider_name, a.room, a.reason) == ("Dr. Amelia Chen", "Exam 2", "Annual boosters")


@pytest.mark.parametrize(
    "current, label, expected",
    [
        ("booked", "Booked", "scheduled"),
        ("confirmed", None, "confirmed"),
        ("arrived", "Arrived", "checked_in"),
        (None, "Checked In", "checked_in"),
        ("in_progress", "In Progress", "in_progress"),
        ("In Consult", None, "in_progress"),
        ("finalised", "Finalised", "completed"),
        ("FINALIZED", None, "completed"),
        ("completed", None, "completed"),
        ("cancelled", None, "cancelled"),
        ("Canceled", None, "cancelled"),
        ("no_show", None, "no_show"),
        ("No Show", None, "no_show"),
        ("no-show", None, "no_show"),
        ("  NO-SHOW ", None, "no_show"),
        ("weird_new_state", "Weird", "scheduled"),
        (None, None, "scheduled"),
    ],
)
def test_status_mapping(current, label, expected):
    (a,) = appts(event(current_status=current, status_label=label))
    assert a.status == expected and a.status in CASE_STATUSES


def test_unknown_status_keeps_the_pims_wording():
    (a,) = appts(event(current_status="awaiting_lab", status_label="Awaiting Lab"))
    assert (a.status, a.status_label) == ("scheduled", "Awaiting Lab")


@pytest.mark.parametrize(
    "description, expected",
    [
        ("Vaccination", "vaccination"), ("Puppy vaccines", "vaccination"),
        ("Surgery", "surgery"), ("Spay", "surgery"), ("Dental Cleaning", "dental"),
        ("EMERGENCY", "emergency"), ("Wellness Exam", "checkup"), ("Annual Check-up", "checkup"),
        ("Checkup", "checkup"), ("Follow-up", "follow_up"), ("Recheck ears", "follow_up"),
        ("Consultation", "consultation"), ("Grooming", "grooming"), ("Boarding", "other"),
        ("", "other"), (None, "other"),
    ],
)
def test_type_mapping(description, expected):
    (a,) = appts(event(type_description=description))
    assert a.type == expected and a.type in CASE_TYPES


def test_blocks_and_rosters_are_not_appointments():
    rows = appts(
        event(id=1),
        event(id=2, is_block=True, patient_name=None),
        event(id=3, is_roster=1),
        event(id=4, is_block="true"),
        event(id=5, is_block=False, is_roster="0"),
    )
    assert [a.id for a in rows] == ["1", "5"]


def test_room_falls_back_to_resource_id_and_phone_region():
    (a,) = appts(event(resourceId=9, phone_number="02 9374 4000"), tz=SYD, region="AU", rooms={"2": "Exam 2"})
    assert a.room == "9"
    assert (a.client_phone_e164, a.client_phone_raw) == ("+61293744000", "02 9374 4000")


@pytest.mark.parametrize("phone", ["", None, "n/a"])
def test_missing_or_junk_phone_is_none_not_error(phone):
    (a,) = appts(event(phone_number=phone))
    assert a.client_phone_e164 is None


def test_id_falls_back_to_appointment_id():
    (a,) = appts(event(id=None, appointment_id="A-77"))
    assert a.id == "A-77"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"id": None, "appointment_id": None}, "id"),
        ({"start": "26/11/2026 09:00"}, "start"),
        ({"start": None}, "start"),
        ({"end": "2026-11-26T09:30:00"}, "end"),
    ],
)
def test_malformed_event_raises_naming_field_and_endpoint(overrides, field):
    with pytest.raises(PimsProtocolError) as info:
        appts(event(**overrides))
    assert field in str(info.value)
    assert info.value.endpoint == t.CALENDAR


@pytest.mark.parametrize("body", [{}, {"events": None}, [], {"data": []}, "x"])
def test_calendar_without_events_list_is_a_protocol_error_not_empty(body):
    with pytest.raises(PimsProtocolError):
        t.appointments_from_calendar(body, tz=NY)


# --- time zones on DST days ------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz, wall, expected_utc",
    [
        # New York spring forward 2026-03-08 02:00 -> 03:00
        (NY, "2026-03-08 01:30:00", datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),
        (NY, "2026-03-08 02:30:00", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # nonexistent: shifts forward
        (NY, "2026-03-08 03:30:00", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        # New York fall back 2026-11-01 02:00 -> 01:00: 01:30 is ambiguous, first (EDT) wins
        (NY, "2026-11-01 01:30:00", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        (NY, "2026-11-01 02:30:00", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        # Sydney fall back 2026-04-05 03:00 AEDT -> 02:00 AEST: 02:30 ambiguous, AEDT (+11) wins
        (SYD, "2026-04-05 02:30:00", datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),
        (SYD, "2026-04-05 09:00:00", datetime(2026, 4, 4, 23, 0, tzinfo=UTC)),
        # Sydney spring forward 2026-10-04 02:00 -> 03:00: 02:30 does not exist
        (SYD, "2026-10-04 02:30:00", datetime(2026, 10, 3, 16, 30, tzinfo=UTC)),
        (SYD, "2026-10-04 09:00:00", datetime(2026, 10, 3, 22, 0, tzinfo=UTC)),
        (SYD, "2026-10-03 09:00:00", datetime(2026, 10, 2, 23, 0, tzinfo=UTC)),
    ],
)
def test_wall_time_to_utc_on_dst_days(tz, wall, expected_utc):
    (a,) = appts(event(start=wall, end=wall), tz=tz)
    assert a.start == expected_utc
    assert a.start.utcoffset().total_seconds() == 0


def test_query_window_covers_the_repeated_hour():
    # [05:00Z, 07:00Z) on NY fall-back day holds both 01:xx hours; the wall-time query must cover both
    start, end = datetime(2026, 11, 1, 5, 0, tzinfo=UTC), datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    lo, hi = query_window(start, end, NY)
    second_0130 = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert lo <= utc_to_wall(second_0130, NY) < hi
    assert wall_to_utc(utc_to_wall(start, NY), NY) == start


def test_request_param_formats():
    wall = datetime(2026, 3, 8, 7, 5, 9)
    assert t.calendar_params(wall, wall) == {"start": "2026-03-08 07:05:09", "end": "2026-03-08 07:05:09"}
    assert t.search_params(3, wall, wall) == {
        "page": "3", "date_start": "08.03.2026 07:05:09", "date_end": "08.03.2026 07:05:09"
    }


# --- schedule -------------------------------------------------------------------------------

SCHEDULE = {
    "slot_duration": 15,
    "business_hours": [{"day": 7, "open": "10:00", "close": "14:00"}, {"day": 1, "open": "08:00", "close": "18:00"}],
    "providers": [{"id": 11, "name": "Dr. Amelia Chen"}],
    "rooms": [{"id": 2, "name": "Exam 2"}, {"id": "3", "name": "Surgery"}],
}


def test_schedule_config_days_are_monday_zero():
    cfg = t.schedule_config_from_json(SCHEDULE)
    assert cfg.slot_minutes == 15
    assert [(h.weekday, h.opens, h.closes) for h in cfg.business_hours] == [(0, "08:00", "18:00"), (6, "10:00", "14:00")]
    assert cfg.providers == ("Dr. Amelia Chen",) and cfg.rooms == ("Exam 2", "Surgery")
    assert t.room_names(SCHEDULE) == {"2": "Exam 2", "3": "Surgery"}


@pytest.mark.parametrize(
    "change",
    [{"slot_duration": None}, {"business_hours": [{"day": 0, "open": "08:00", "close": "18:00"}]},
     {"business_hours": [{"day": 2, "open": "8am", "close": "18:00"}]}, {"rooms": [{"id": 1}]}, {"providers": None}],
)
def test_malformed_schedule_raises(change):
    with pytest.raises(PimsProtocolError) as info:
        t.schedule_config_from_json({**SCHEDULE, **change})
    assert info.value.endpoint == t.SCHEDULE


# --- consultations ----------------------------------------------------------------------------


def test_search_page_rows():
    body = {"data": [{"id": 55012, "appointment_id": 100234, "patient_id": 7001, "patient_name": "Zoë",
                      "date": "2026-11-26 09:05:00", "status": "Finalised", "vet": "Dr. Amelia Chen"}],
            "total": 57, "page": 1, "perPage": 20}
    page = t.search_page(body, tz=NY)
    assert (page.total, page.page, page.per_page) == (57, 1, 20)
    (row,) = page.rows
    assert (row.id, row.appointment_id, row.status) == ("55012", "100234", "finalised")
    assert row.date == datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [{"data": [], "total": "many", "page": 1, "perPage": 20}, {"data": [{"date": "2026-11-26 09:05:00"}], "total": 1,
     "page": 1, "perPage": 20}, {"data": [{"id": 1, "date": "yesterday"}], "total": 1, "page": 1, "perPage": 20},
     {"rows": []}],
)
def test_malformed_search_page_raises(body):
    with pytest.raises(PimsProtocolError) as info:
        t.search_page(body, tz=NY)
    assert info.value.endpoint == t.SEARCH


PAGE_DATA = {"consultation": {
    "id": 55012, "appointment_id": 100234, "patient_id": 7001,
    "date": "2026-11-26 09:05:00", "status": "Finalised",
    "notes": {"subjective": "Scratching ears", "objective": "Red canal", "assessment": "Otitis", "plan": "Drops"},
    "discharge_summary": "Drops twice daily",
    "vitals": [{"type": "temperature", "value": "101.5", "unit": "°F"},
               {"type": "pulse", "value": "96", "unit": "bpm"},
               {"type": "respiration", "value": "24", "unit": "rpm"},
               {"type": "weight", "value": "23.4", "unit": "lb"}],
    "diagnoses": [{"name": "Otitis externa", "code": "H60.3", "status": "confirmed"}],
    "products": [{"name": "Rabies vaccine", "quantity": 1, "type": "product", "code": "VAC-R"}],
}}


def test_page_data_full_consultation():
    c = t.consultation_from_page_data(PAGE_DATA, tz=NY)
    assert (c.id, c.appointment_id, c.status, c.complete) == ("55012", "100234", "finalised", True)
    assert (c.subjective, c.plan) == ("Scratching ears", "Drops")
    assert c.notes == "Subjective: Scratching ears\n\nObjective: Red canal\n\nAssessment: Otitis\n\nPlan: Drops"
    assert c.discharge_summary == "Drops twice daily"
    v = c.vitals
    assert (v.temperature_c, v.pulse_bpm, v.respiration_rpm, v.weight_kg) == (38.6, 96, 24, 10.61)
    assert dict(v.raw) == {"temperature": "101.5 °F", "pulse": "96 bpm", "respiration": "24 rpm", "weight": "23.4 lb"}
    assert c.diagnoses[0].name == "Otitis externa" and c.diagnoses[0].code == "H60.3"
    p = c.products[0]
    assert (p.name, p.quantity, p.kind, p.code) == ("Rabies vaccine", 1.0, "product", "VAC-R")
    assert c.to_metadata()["vitals"]["raw"]["weight"] == "23.4 lb"


@pytest.mark.parametrize(
    "reading, field, expected",
    [
        ({"type": "temperature", "value": "38.5", "unit": "°C"}, "temperature_c", 38.5),
        ({"type": "temperature", "value": "101", "unit": "F"}, "temperature_c", 38.3),
        ({"type": "temperature", "value": "39.04", "unit": "C"}, "temperature_c", 39.0),
        ({"type": "weight", "value": "10", "unit": "lbs"}, "weight_kg", 4.54),
        ({"type": "weight", "value": "4.567", "unit": "kg"}, "weight_kg", 4.57),
    ],
)
def test_vital_units(reading, field, expected):
    body = {"consultation": {**PAGE_DATA["consultation"], "vitals": [reading]}}
    assert getattr(t.consultation_from_page_data(body, tz=NY).vitals, field) == expected


@pytest.mark.parametrize(
    "reading", [{"type": "temperature", "value": "101", "unit": "K"}, {"type": "weight", "value": "heavy", "unit": "kg"}]
)
def test_bad_vital_raises(reading):
    body = {"consultation": {**PAGE_DATA["consultation"], "vitals": [reading]}}
    with pytest.raises(PimsProtocolError, match="consultation 55012"):
        t.consultation_from_page_data(body, tz=NY)


def test_open_consultation_with_nothing_yet():
    body = {"consultation": {"id": "9", "appointment_id": None, "patient_id": 1, "date": "2026-11-26 09:05:00",
                             "status": "Open", "notes": None, "vitals": [], "diagnoses": [], "products": []}}
    c = t.consultation_from_page_data(body, tz=NY)
    assert (c.complete, c.notes, c.vitals, c.diagnoses, c.products) == (False, None, None, (), ())


def test_view_uses_clinical_notes_block():
    body = {"consultation": {**PAGE_DATA["consultation"], "notes": None, "clinical_notes": "S: itchy\nO: red"}}
    c = t.consultation_from_view(body, tz=NY)
    assert c.notes == "S: itchy\nO: red" and c.subjective is None


@pytest.mark.parametrize(
    "change", [{"id": None}, {"date": "26.11.2026"}, {"notes": "text"}, {"diagnoses": [{"code": "X"}]},
               {"products": "none"}],
)
def test_malformed_consultation_raises(change):
    body = {"consultation": {**PAGE_DATA["consultation"], **change}}
    with pytest.raises(PimsProtocolError) as info:
        t.consultation_from_page_data(body, tz=NY)
    assert info.value.endpoint == t.PAGE_DATA


def test_path_ids_are_not_injectable():
    assert t.page_data_path("55012") == "/consultations/55012/page-data"
    with pytest.raises(ValueError):
        t.view_path("../admin")
