"""Deterministic, realistic, messy data: same seed same answers; the mess the sync must survive."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import phonenumbers

from pims_sync.simulator.data import World
from pims_sync.simulator.records import Records

CAL = "/appointments/getCalendarEventData"


def _answers(sim) -> dict:
    out = {}
    for clinic in sim.clinics:
        http = sim.login_session(clinic)
        out[clinic["id"]] = {
            "calendar": http.get(sim.url + CAL, timeout=10, params={
                "start": "2026-03-01 00:00:00", "end": "2026-03-10 00:00:00"}).json(),
            "schedule": http.get(sim.url + "/schedule/getScheduleConfigs", timeout=10).json(),
            "search": http.get(sim.url + "/consultations/search", timeout=10, params={
                "page": 2, "date_start": "01.03.2026 00:00:00", "date_end": "09.03.2026 23:59:59"}).json(),
        }
    return out


def test_same_seed_same_answers_across_restarts(make_simulator):
    first = make_simulator(seed=7)
    answers = _answers(first)
    first.server.stop()
    second = make_simulator(seed=7)
    assert second.clinics == first.clinics
    assert _answers(second) == answers
    assert _answers(second) == answers  # and the same query twice
    other = make_simulator(seed=8)
    assert other.clinics[0]["id"] != first.clinics[0]["id"]
    assert _answers(other) != answers


def test_clinics_have_iana_zones_and_their_own_users(make_simulator):
    sim = make_simulator(clinics=4)
    zones = [c["timezone"] for c in sim.clinics]
    assert zones == ["America/New_York", "America/Los_Angeles", "Australia/Sydney", "Europe/London"]
    assert len({c["company_id"] for c in sim.clinics}) == 4
    assert len({c["username"] for c in sim.clinics}) == 4
    assert all(any(u["two_factor"] for u in c["users"]) for c in sim.clinics)


def test_the_calendar_is_messy_like_a_real_clinic():
    world = World(seed=42, clinics=4, today=date(2026, 6, 15))
    records = Records(world)
    events = [e for c in world.clinics for window in ((datetime(2026, 3, 1), datetime(2026, 4, 30)),
                                                      (datetime(2026, 6, 16), datetime(2026, 6, 30)))
              for e in records.events(c, *window)]
    appointments = [e for e in events if not e["is_block"] and not e["is_roster"]]
    assert any(e["is_block"] for e in events) and any(e["is_roster"] for e in events)
    assert all(e["patient_id"] is None for e in events if e["is_block"] or e["is_roster"])
    statuses = Counter(e["current_status"] for e in appointments)
    for spelling in ("cancelled", "canceled", "No Show", "no-show", "finalised", "Completed", "Finalized",
                     "Ready to Pay", "not arrived", None):
        assert statuses[spelling] > 0, spelling
    # the facts' fallbacks: no current_status (the label tells), nothing at all ("Scheduled")
    assert any(e["current_status"] is None and e["status_label"] for e in appointments)
    assert any(e["current_status"] is None and e["status_label"] is None and e["stage"] == "booked"
               for e in appointments)
    for field in ("provider", "resourceId", "type_description", "reason"):  # optional, sometimes empty
        assert 0 < sum(e[field] is None for e in appointments) < len(appointments) * 0.05, field
    phones = [e["phone_number"] for e in appointments]
    assert None in phones and "" in phones
    valid = invalid = 0
    for phone in filter(None, phones):
        try:
            ok = phonenumbers.is_valid_number(phonenumbers.parse(phone, "US"))
        except phonenumbers.NumberParseException:
            ok = False
        valid, invalid = valid + ok, invalid + (not ok)
    assert valid > invalid > 0
    assert len({p for p in phones if p and p[0] == "("}) > 0 and any(p and p.startswith("+") for p in phones)
    names = {e["first_name"] for e in appointments} | {e["last_name"] for e in appointments}
    assert {"José", "Zoë", "O'Brien"} & names and any(not n.isascii() for n in names)
    across_midnight = [e for e in appointments if e["start"][:10] != e["end"][:10]]
    assert across_midnight
    # DST change days: 2026-03-08 (New York), 2026-03-29 (London), 2026-04-05 (Sydney)
    for number, day in ((1, "2026-03-08"), (4, "2026-03-29"), (3, "2026-04-05")):
        clinic = world.clinic_by_number(number)
        night = records.events(clinic, datetime.fromisoformat(day), datetime.fromisoformat(day + " 05:00"))
        assert any(e["start"] == f"{day} 01:30:00" for e in night), (clinic.timezone, day)


def test_past_consultations_carry_clinical_data():
    world = World(seed=42, clinics=2, today=date(2026, 6, 15))
    records = Records(world)
    clinic = world.clinics[0]
    past = records.consultations(clinic, datetime(2026, 5, 1), datetime(2026, 5, 31, 23, 59, 59))
    finalised = [c for c in past if c["status"] in ("Finalised", "Finalized")]
    assert len(finalised) == len(past) > 300
    with_notes = [c for c in finalised if c["notes"]]
    assert 0 < len(finalised) - len(with_notes) < len(finalised) * 0.15  # a few without notes
    assert all(isinstance(c["notes"], str) and c["notes"].startswith("S: ") for c in with_notes)  # one string
    units = Counter(c["vitals"]["temperatureUnit"] for c in finalised) + Counter(
        c["vitals"]["weightUnit"] for c in finalised)
    assert {"°F", "°C", "lb", "lbs", "kg"} <= set(units)
    assert any(c["vitals"]["bloodPressure"] for c in finalised) and any(
        c["vitals"]["bloodPressure"] is None for c in finalised)
    assert all(c["diagnoses"] and c["products"] for c in finalised)
    declined = [p for c in finalised for p in c["products"] if p["declined"]]
    assert 0 < len(declined) < sum(len(c["products"]) for c in finalised) * 0.2
    assert all(any(not p["declined"] for p in c["products"]) for c in finalised)
    today = records.consultations(clinic, datetime(2026, 6, 15), datetime(2026, 6, 15, 23, 59, 59))
    in_progress = [c for c in today if c["status"] == "In Progress"]
    assert in_progress and all(not c["diagnoses"] and not c["products"] for c in in_progress)
    future = records.consultations(clinic, datetime(2026, 6, 20), datetime(2026, 6, 30))
    assert future == []


def test_appointments_per_day_is_configurable(simulator):
    clinic, other = simulator.clinic(0), simulator.clinic(1)
    for count in (25, 200, 1000):
        simulator.set_appointments_per_day(clinic["id"], count)
        truth = simulator.truth(clinic["id"], "2026-11-24", "2026-11-24")
        assert sum(1 for e in truth["events"] if not e["is_block"] and not e["is_roster"]) == count
    default = simulator.truth(other["id"], "2026-11-24", "2026-11-24")["events"]
    assert 25 <= sum(1 for e in default if not e["is_block"] and not e["is_roster"]) <= 40


def test_truth_matches_what_the_endpoints_serve(simulator):
    clinic = simulator.clinic(0)  # the first option of every dialect question: wall times, numbers, present
    http = simulator.login_session(clinic)
    served = http.get(simulator.url + CAL, timeout=10, params={
        "start": "2026-11-20 00:00:00", "end": "2026-11-23 00:00:00"}).json()["appointments"]
    truth = simulator.truth(clinic["id"], "2026-11-20", "2026-11-22")
    assert truth["timezone"] == clinic["timezone"] and truth["dialect"] == clinic["dialect"]
    expected = [{**{k: e[k] for k in served[0]},
                 "resourceId": None if e["resourceId"] is None else str(e["resourceId"])} for e in truth["events"]]
    assert expected == served
    for record in truth["consultations"][:5]:
        page = http.get(f"{simulator.url}/consultations/{record['id']}/page-data", timeout=10).json()
        assert page["consultation"]["id"] == record["id"] and page["consultation"]["date"] == record["date"]
        assert page["consultation"]["notes"] == (record["notes"] or "")
        assert page["client"]["firstName"] == record["client_first_name"]


def test_the_calendar_and_consultations_are_unchanged_by_the_dialect_work():
    """The day generator's draws were kept: a calendar from before still reads the same (seed 42)."""
    world = World(seed=42, clinics=1, today=date(2026, 6, 15))
    events = Records(world).events(world.clinics[0], datetime(2026, 5, 4), datetime(2026, 5, 5))
    first = next(e for e in events if not e["is_block"] and not e["is_roster"])
    assert (first["id"], first["start"], first["patient_name"], first["first_name"]) == (
        10096200000, "2026-05-04 08:00:00", "O'Malley", "Harper")
    assert (len(events), sum(1 for e in events if e["consultation_id"])) == (39, 30)
