"""Data endpoints: the facts' shapes, session rules (302 to /login, HTML), the XHR header, pagination."""

from __future__ import annotations

import time

import requests

from tests.fixtures.sim import XHR_HEADERS

DATA_PATHS = (
    "/appointments/getCalendarEventData?start=2026-11-26 00:00:00&end=2026-11-27 00:00:00",
    "/schedule/getScheduleConfigs",
    "/consultations/search?page=1&date_start=01.11.2026 00:00:00&date_end=02.11.2026 23:59:59",
    "/appointments/getAppointmentView",
    "/appointments/getAppointment?id=10095560000",
)
EVENT_FIELDS = {  # IDEXX_FACTS.md, the calendar item table: these and nothing else
    "id", "appointment_id", "consultation_id", "start", "end", "patient_id", "patient_name", "client_id",
    "first_name", "last_name", "email", "phone_number", "provider", "resourceId", "title",
    "type_description", "reason", "current_status", "status_label", "is_block", "is_roster",
}
SEARCH_FIELDS = {"id", "appointmentId", "patientName", "clientName", "providerId", "providerName", "consultedAt",
                 "status", "clinicalNotes", "vitals", "diagnoses"}
VITALS = {"temperature", "temperatureUnit", "pulse", "respiration", "weight", "weightUnit", "bloodPressure"}


def _is_login_redirect(response) -> bool:
    return (response.status_code == 302 and response.headers["Location"].endswith("/login")
            and response.headers["Content-Type"].startswith("text/html"))


def test_calendar_events_have_the_facts_shape(simulator):
    assert simulator.clinic(0)["dialect"]["calendarEnvelope"] == "appointments"
    http = simulator.login_session()
    response = http.get(f"{simulator.url}/appointments/getCalendarEventData",
                        params={"start": "2026-11-02T00:00:00", "end": "2026-11-03 00:00:00"}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["appointments"]
    events = body["appointments"]
    assert events and all(set(e) == EVENT_FIELDS for e in events)
    for e in events:
        assert isinstance(e["id"], int) and e["appointment_id"] == e["id"]
        assert e["resourceId"] is None or isinstance(e["resourceId"], str)
        assert isinstance(e["is_block"], bool) and isinstance(e["is_roster"], bool)
        assert e["consultation_id"] is None or isinstance(e["consultation_id"], int)
    assert all("2026-11-02 00:00:00" <= e["start"] < "2026-11-03 00:00:00" for e in events)
    assert [(e["start"], e["id"]) for e in events] == sorted((e["start"], e["id"]) for e in events)
    # a narrower window is a subset, bounded [start, end)
    narrow = http.get(f"{simulator.url}/appointments/getCalendarEventData",
                      params={"start": "2026-11-02 10:00:00", "end": "2026-11-02 12:00:00"}, timeout=10).json()
    assert [e for e in events if "2026-11-02 10:00:00" <= e["start"] < "2026-11-02 12:00:00"] == narrow["appointments"]


def test_schedule_configs_legacy_shape(simulator):
    body = simulator.login_session().get(f"{simulator.url}/schedule/getScheduleConfigs", timeout=10).json()
    assert set(body) == {"businessHours", "slotDuration", "minTime", "maxTime", "providers", "rooms"}
    assert set(body["businessHours"]) == {"start", "end", "daysOfWeek"} and body["slotDuration"] == 15
    assert all(0 <= d <= 6 for d in body["businessHours"]["daysOfWeek"])
    assert body["providers"] and all(set(p) == {"id", "name", "color"} for p in body["providers"])
    assert body["rooms"] and all(set(r) == {"id", "name"} for r in body["rooms"])


def test_appointment_view_production_shape(simulator):
    body = simulator.login_session().get(f"{simulator.url}/appointments/getAppointmentView", timeout=10).json()
    assert set(body) == {"slotInterval", "businessHours", "appointmentTypes", "appointmentRooms", "providers",
                         "deputyEnabled"}
    assert body["slotInterval"] == 15 and body["deputyEnabled"] is False
    days = sorted(d for h in body["businessHours"] for d in h["daysOfWeek"])
    assert days == list(range(7)) and all(set(h) == {"daysOfWeek", "startTime", "endTime"}
                                          for h in body["businessHours"])
    assert all(set(t) == {"id", "name", "duration", "color"} for t in body["appointmentTypes"])
    assert all(set(r) == {"id", "name", "capacity"} for r in body["appointmentRooms"])
    assert all(set(p) == {"id", "name", "email", "licenseNumber"} for p in body["providers"])
    legacy = simulator.login_session().get(f"{simulator.url}/schedule/getScheduleConfigs", timeout=10).json()
    assert [(r["id"], r["name"]) for r in body["appointmentRooms"]] == [(r["id"], r["name"]) for r in legacy["rooms"]]


def test_get_appointment_production_shape(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = str(simulator.day(-1))
    truth = simulator.truth(clinic["id"], day, day)["events"]
    event = next(e for e in truth if e["stage"] == "finalised" and e["resourceId"] and e["provider"])
    body = http.get(f"{simulator.url}/appointments/getAppointment", params={"id": event["id"]}, timeout=10).json()
    assert set(body) == {"id", "status", "startAtLocal", "endAtLocal", "notes", "deleted", "block", "bookedBy",
                         "createdAt", "patient", "appointmentType", "appointmentRoom", "provider", "cancelledReason"}
    assert body["id"] == event["id"] and body["startAtLocal"] == event["start"] and body["deleted"] is False
    assert body["status"] == (event["current_status"] or event["status_label"])
    patient = body["patient"]
    assert set(patient) == {"id", "name", "breed", "species", "gender", "client"}
    assert patient["id"] == event["patient_id"] and patient["species"]["name"] == event["species"]
    assert set(patient["client"]) == {"id", "firstName", "lastName", "email", "homePhone", "mobilePhone"}
    assert patient["client"]["firstName"] == event["first_name"]
    assert body["appointmentRoom"]["id"] == event["resourceId"] and set(body["appointmentRoom"]) == {
        "id", "name", "position"}
    assert body["provider"] == {"id": event["provider_id"], "name": event["provider"]}
    assert http.get(f"{simulator.url}/appointments/getAppointment", params={"id": 999}, timeout=10).status_code == 404
    assert http.get(f"{simulator.url}/appointments/getAppointment", timeout=10).status_code == 400


def test_without_a_session_every_data_endpoint_redirects_to_login_html(simulator):
    for path in DATA_PATHS + ("/consultations/1/page-data", "/consultations/view/1"):
        response = requests.get(simulator.url + path, headers=XHR_HEADERS, allow_redirects=False, timeout=10)
        assert _is_login_redirect(response), path
        followed = requests.get(simulator.url + path, headers=XHR_HEADERS, timeout=10)
        assert followed.headers["Content-Type"].startswith("text/html")
        assert 'name="username"' in followed.text


def test_expired_sessions_redirect_to_login(simulator):
    http = simulator.login_session()
    assert http.get(simulator.url + DATA_PATHS[1], timeout=10).status_code == 200
    assert simulator.expire_sessions() == 1
    for path in DATA_PATHS:
        assert _is_login_redirect(http.get(simulator.url + path, allow_redirects=False, timeout=10))


def test_idle_and_absolute_lifetimes(make_simulator):
    idle = make_simulator(session_idle_s=0.6)
    http = idle.login_session()
    for _ in range(3):  # activity keeps an idle-limited session alive
        time.sleep(0.3)
        assert http.get(idle.url + DATA_PATHS[1], allow_redirects=False, timeout=10).status_code == 200
    time.sleep(0.9)
    assert _is_login_redirect(http.get(idle.url + DATA_PATHS[1], allow_redirects=False, timeout=10))

    absolute = make_simulator(session_max_s=1.0)
    http = absolute.login_session()
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:  # activity does not extend the absolute lifetime
        http.get(absolute.url + DATA_PATHS[1], allow_redirects=False, timeout=10)
        time.sleep(0.2)
    assert _is_login_redirect(http.get(absolute.url + DATA_PATHS[1], allow_redirects=False, timeout=10))


def test_data_calls_without_the_xhr_header_get_400_html(simulator):
    http = simulator.login_session()
    http.headers.pop("X-Requested-With")
    for path in DATA_PATHS:
        response = http.get(simulator.url + path, allow_redirects=False, timeout=10)
        assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html"), path


def test_pagination_covers_every_consultation_exactly_once(simulator):
    clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(clinic["id"], 60)
    http = simulator.login_session(clinic)
    first, last = simulator.day(-5), simulator.day(-3)
    seen, page, total = [], 1, None
    while True:
        body = http.get(f"{simulator.url}/consultations/search", timeout=10, params={
            "page": page, "date_start": f"{first:%d.%m.%Y} 00:00:00", "date_end": f"{last:%d.%m.%Y} 23:59:59"}).json()
        assert set(body) == {"data", "total", "page", "perPage"}
        assert body["perPage"] == 20 and body["page"] == page
        total = body["total"]
        if not body["data"]:
            break
        assert len(body["data"]) <= 20
        seen.extend(c["id"] for c in body["data"])
        page += 1
    truth = simulator.truth(clinic["id"], first.isoformat(), last.isoformat())
    assert total > 60  # several pages
    assert len(seen) == len(set(seen)) == total
    assert sorted(seen) == sorted(c["id"] for c in truth["consultations"])


def test_search_items_are_camel_case_and_order_desc_is_honoured(simulator):
    http = simulator.login_session()
    day = simulator.day(-2)
    params = {"page": 1, "date_start": f"{day:%d.%m.%Y} 00:00:00", "date_end": f"{day:%d.%m.%Y} 23:59:59"}
    ascending = http.get(f"{simulator.url}/consultations/search", params=params, timeout=10).json()["data"]
    descending = http.get(f"{simulator.url}/consultations/search", timeout=10,
                          params={**params, "order[]": "consultedAt:desc"}).json()["data"]
    assert ascending and all(set(item) == SEARCH_FIELDS for item in ascending)
    assert all(set(item["vitals"]) == VITALS for item in ascending)
    assert {item["status"] for item in ascending} <= {"in_progress", "completed", "cancelled"}
    truth = simulator.truth(simulator.clinic(0)["id"], str(day), str(day))["consultations"]
    assert [item["id"] for item in descending] == [c["id"] for c in reversed(truth)][:20]
    assert [item["id"] for item in ascending] == [c["id"] for c in truth][:20]
    bad = http.get(f"{simulator.url}/consultations/search", params={**params, "order[]": "name"}, timeout=10)
    assert bad.status_code == 400

def test_consultation_page_data_and_view(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = str(simulator.day(-2))
    record = next(c for c in simulator.truth(clinic["id"], day, day)["consultations"]
                  if c["notes"] and c["discharge_summary"] and len(c["products"]) > 1)
    page = http.get(f"{simulator.url}/consultations/{record['id']}/page-data", timeout=10).json()
    assert set(page) == {"consultation", "patient", "client", "pageData", "clientBranch", "consultationNotes",
                         "consultationLines"}
    consultation = page["consultation"]
    assert set(consultation) == {"id", "reason", "notes", "dischargeSummary", "date", "status"}
    assert consultation["id"] == record["id"] and isinstance(consultation["notes"], str)
    assert consultation["notes"] == record["notes"] and consultation["dischargeSummary"] == record["discharge_summary"]
    assert page["patient"] == {"id": record["patient_id"], "name": record["patient_name"],
                               "species": record["species"], "breed": record["breed"]}
    assert set(page["client"]) == {"id", "firstName", "lastName", "phone", "email"}
    assert all(set(p) == {"id", "name", "email", "licenseNumber", "userType", "companyId"}
               for p in page["pageData"]["providers"])
    assert [(line["productService"], line["quantity"], line["isDeclined"]) for line in page["consultationLines"]] == [
        (p["name"], p["quantity"], p["declined"]) for p in record["products"]]
    view = http.get(f"{simulator.url}/consultations/view/{record['id']}", timeout=10).json()["consultation"]
    assert view["clinical_notes"] == record["notes"]  # the older endpoint keeps its shape
    assert view["clinical_notes"].startswith("S: " + view["notes"]["subjective"])
    assert {v["type"] for v in view["vitals"]} == {"temperature", "pulse", "respiration", "weight"}
    assert [p["name"] for p in view["products"]] == [p["name"] for p in record["products"] if not p["declined"]]


def test_unknown_and_foreign_consultations_are_404(simulator):
    other = simulator.login_session(simulator.clinic(1))
    day = simulator.day(-2).isoformat()
    mine = simulator.truth(simulator.clinic(0)["id"], day, day)["consultations"][0]["id"]
    for cid in (mine, 999):
        response = other.get(f"{simulator.url}/consultations/{cid}/page-data", timeout=10)
        assert response.status_code == 404 and response.json() == {"error": "not found"}


def test_bad_parameters_are_400_json(simulator):
    http = simulator.login_session()
    for path in ("/appointments/getCalendarEventData", "/appointments/getCalendarEventData?start=x&end=y",
                 "/consultations/search?page=0&date_start=01.11.2026&date_end=02.11.2026",
                 "/consultations/search?page=1&date_start=2026-11-01&date_end=02.11.2026"):
        response = http.get(simulator.url + path, timeout=10)
        assert response.status_code == 400 and "error" in response.json(), path
