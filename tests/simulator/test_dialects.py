"""Dialects: every variant of an [unknown] fact is served, per clinic, and none changes the information."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from pims_sync.simulator.dialects import OPTIONS

CAL = "/appointments/getCalendarEventData"
WALL = "%Y-%m-%d %H:%M:%S"


def _dialect(sim, number: int, **changes) -> dict:
    return sim.control(f"clinics/{number}/dialect", changes, method="PUT")["dialect"]


def _calendar(sim, http, day) -> object:
    return http.get(sim.url + CAL, timeout=10, params={"start": f"{day} 00:00:00", "end": f"{day} 23:59:59"}).json()


def _wall(value: str, tz: str) -> str:
    """Any served time back to clinic-local wall time."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return parsed.strftime(WALL)


def test_seeded_dialects_rotate_through_every_option_and_are_deterministic(make_simulator):
    first = make_simulator(clinics=4)
    dialects = [c["dialect"] for c in first.clinics]
    for question, options in OPTIONS.items():
        served = [d[question] for d in dialects]
        if question == "twoStep":
            assert served == ["off"] * 4  # a default clinic can always sign in
        else:
            assert served == [options[i % len(options)] for i in range(4)], question
    other = make_simulator(clinics=4, seed=99)
    assert [c["dialect"] for c in other.clinics] == dialects  # chosen by clinic number, not by seed


@pytest.mark.parametrize("envelope", OPTIONS["calendarEnvelope"])
def test_each_calendar_envelope_carries_the_same_items(simulator, envelope):
    http = simulator.login_session()
    day = simulator.day(-1)
    reference = _calendar(simulator, http, day)["appointments"]
    _dialect(simulator, 1, calendarEnvelope=envelope)
    body = _calendar(simulator, http, day)
    if envelope == "bare":
        assert isinstance(body, list) and body == reference
    else:
        assert list(body) == [envelope] and body[envelope] == reference


@pytest.mark.parametrize("fmt", OPTIONS["dateFormat"])
def test_each_date_format_tells_the_same_wall_time(simulator, fmt):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = simulator.day(-1)
    truth = simulator.truth(clinic["id"], str(day), str(day))
    _dialect(simulator, 1, dateFormat=fmt)
    items = _calendar(simulator, http, day)["appointments"]
    assert [(_wall(e["start"], clinic["timezone"]), _wall(e["end"], clinic["timezone"])) for e in items] == [
        (e["start"], e["end"]) for e in truth["events"]]
    search = http.get(f"{simulator.url}/consultations/search", timeout=10, params={
        "page": 1, "date_start": f"{day:%d.%m.%Y} 00:00:00", "date_end": f"{day:%d.%m.%Y} 23:59:59"}).json()["data"]
    assert [_wall(c["consultedAt"], clinic["timezone"]) for c in search] == [
        c["date"] for c in truth["consultations"]][:20]
    page = http.get(f"{simulator.url}/consultations/{search[0]['id']}/page-data", timeout=10).json()
    assert _wall(page["consultation"]["date"], clinic["timezone"]) == truth["consultations"][0]["date"]
    shape = {"wall": " ", "iso": "T", "iso_local": "T"}[fmt]
    assert items[0]["start"][10] == shape
    assert (len(items[0]["start"]) > 19) == (fmt == "iso")  # only iso carries an offset


def test_iso_dates_carry_the_offset_of_the_day_across_a_dst_change(simulator):
    clinic = simulator.clinic(0)  # New York: 2026-11-01 falls back
    _dialect(simulator, 1, dateFormat="iso")
    http = simulator.login_session(clinic)
    items = _calendar(simulator, http, "2026-11-01")["appointments"]
    night = next(e for e in items if e["start"].startswith("2026-11-01T01:30:00"))
    assert night["start"].endswith("-04:00") and night["end"].endswith("-05:00")  # 01:30 EDT -> 03:15 EST
    assert items[-1]["start"].endswith("-05:00")


def test_ids_as_strings_or_numbers(simulator):
    http = simulator.login_session()
    day = simulator.day(-1)
    numbers = _calendar(simulator, http, day)["appointments"]
    _dialect(simulator, 1, ids="strings")
    strings = _calendar(simulator, http, day)["appointments"]
    assert all(isinstance(e["id"], int) for e in numbers)
    assert [(str(e["id"]), str(e["appointment_id"])) for e in numbers] == [
        (e["id"], e["appointment_id"]) for e in strings]
    assert all(isinstance(e["id"], str) and isinstance(e["appointment_id"], str) for e in strings)


def test_optional_fields_absent_leaves_out_only_empty_values(simulator):
    http = simulator.login_session()
    day = simulator.day(-3)
    present = _calendar(simulator, http, day)["appointments"]
    _dialect(simulator, 1, optionalFields="absent")
    absent = _calendar(simulator, http, day)["appointments"]
    optional = {"consultation_id", "provider", "resourceId", "type_description", "reason", "current_status",
                "status_label", "is_block", "is_roster"}
    assert any(set(a) != set(p) for a, p in zip(absent, present, strict=True))
    for a, p in zip(absent, present, strict=True):
        left_out = set(p) - set(a)
        assert left_out <= optional and all(p[k] in (None, False) for k in left_out)
        assert all(a[k] == p[k] for k in a)
    assert not any("is_block" in a for a in absent if not a.get("is_roster") and a.get("patient_id"))


def test_diagnoses_and_discharge_summary_variants(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = simulator.day(-2)
    truth = {c["id"]: c for c in simulator.truth(clinic["id"], str(day), str(day))["consultations"]}
    params = {"page": 1, "date_start": f"{day:%d.%m.%Y} 00:00:00", "date_end": f"{day:%d.%m.%Y} 23:59:59"}
    objects = http.get(f"{simulator.url}/consultations/search", params=params, timeout=10).json()["data"]
    _dialect(simulator, 1, diagnoses="strings", dischargeSummary="consultationNotes")
    strings = http.get(f"{simulator.url}/consultations/search", params=params, timeout=10).json()["data"]
    for o, s in zip(objects, strings, strict=True):
        assert [d["name"] for d in o["diagnoses"]] == s["diagnoses"] == [d["name"] for d in truth[o["id"]]["diagnoses"]]
    record = next(c for c in truth.values() if c["discharge_summary"])
    page = http.get(f"{simulator.url}/consultations/{record['id']}/page-data", timeout=10).json()
    assert page["consultation"]["dischargeSummary"] is None
    assert page["consultationNotes"] == {"notes": record["discharge_summary"]}


def test_dialect_changes_are_validated_listed_and_reset(simulator):
    for bad in ({"calendarEnvelope": "xml"}, {"colour": "blue"}):
        response = requests.put(f"{simulator.url}/__sim/clinics/1/dialect", json=bad, timeout=10)
        assert response.status_code == 400 and "error" in response.json()
    assert simulator.control("dialects")["options"] == {q: list(o) for q, o in OPTIONS.items()}
    by_id = simulator.control(f"clinics/{simulator.clinic(1)['id']}/dialect", {"ids": "numbers"}, method="PATCH")
    assert by_id["number"] == 2 and by_id["dialect"]["ids"] == "numbers"
    assert simulator.control("clinics")["clinics"][1]["dialect"]["ids"] == "numbers"
    simulator.reset()
    assert simulator.control("clinics")["clinics"][1]["dialect"] == simulator.clinic(1)["dialect"]


def test_dialects_set_at_start(make_simulator):
    sim = make_simulator(dialects={2: {"calendarEnvelope": "bare", "twoStep": "otp"}})
    assert sim.clinic(1)["dialect"]["calendarEnvelope"] == "bare" and sim.clinic(1)["dialect"]["twoStep"] == "otp"
    assert sim.clinic(1)["dialect"]["ids"] == "strings"  # the rest stays seeded
    with pytest.raises(ValueError):
        make_simulator(dialects={9: {}})
    with pytest.raises(ValueError):
        make_simulator(dialects={1: {"ids": "hex"}})


def test_html_and_truncated_json_on_page_data_for_one_clinic(simulator):
    """The two faults the login-storm and malformed-JSON tests use, scoped to one clinic."""
    first, second = simulator.clinic(0), simulator.clinic(1)
    a, b = simulator.login_session(first), simulator.login_session(second)
    ids = {}
    for clinic in (first, second):
        day = str(simulator.day(-1, clinic))
        ids[clinic["id"]] = simulator.truth(clinic["id"], day, day)["consultations"][0]["id"]
    simulator.fault("html", endpoint="consultation_page_data", clinic_id=first["id"])
    for _ in range(3):
        page = a.get(f"{simulator.url}/consultations/{ids[first['id']]}/page-data", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "maintenance" in page.text
    ok = b.get(f"{simulator.url}/consultations/{ids[second['id']]}/page-data", timeout=10)
    assert ok.json()["consultation"]["id"] == ids[second["id"]]
    assert a.get(f"{simulator.url}/schedule/getScheduleConfigs", timeout=10).json()["slotDuration"] == 15
    simulator.clear_faults()
    simulator.fault("truncated_json", endpoint="consultation_page_data", clinic_id=second["id"], count=2)
    for _ in range(2):
        cut = b.get(f"{simulator.url}/consultations/{ids[second['id']]}/page-data", timeout=10)
        assert cut.status_code == 200 and cut.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError):
            cut.json()
    assert b.get(f"{simulator.url}/consultations/{ids[second['id']]}/page-data", timeout=10).json()["consultation"]
