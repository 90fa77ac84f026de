"""Data endpoints: shapes, session rules (302 to /login, HTML), the XHR header, pagination."""

from __future__ import annotations

import time

import requests

from tests.fixtures.sim import XHR_HEADERS

DATA_PATHS = (
    "/appointments/getCalendarEventData?start=2026-11-26 00:00:00&end=2026-11-27 00:00:00",
    "/schedule/getScheduleConfigs",
    "/consultations/search?page=1&date_start=01.11.2026 00:00:00&date_end=02.11.2026 23:59:59",
)
EVENT_FIELDS = {
    "id", "appointment_id", "consultation_id", "start", "end", "patient_id", "patient_name", "client_id",
    "first_name", "last_name", "email", "phone_number", "provider", "resourceId", "title",
    "type_description", "reason", "current_status", "status_label", "is_block", "is_roster",
}


def _is_login_redirect(response) -> bool:
    return (response.status_code == 302 and response.headers["Location"].endswith("/login")
            and response.headers["Content-Type"].startswith("text/html"))


def test_calendar_events_have_the_agreed_shape(simulator):
    http = simulator.login_session()
    response = http.get(f"{simulator.url}/appointments/getCalendarEventData",
                        params={"start": "2026-11-02T00:00:00", "end": "2026-11-03 00:00:00"}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    events = response.json()["events"]
    assert events and all(EVENT_FIELDS <= set(e) for e in events)
    assert all("2026-11-02 00:00:00" <= e["start"] < "2026-11-03 00:00:00" for e in events)
    assert [(e["start"], e["id"]) for e in events] == sorted((e["start"], e["id"]) for e in events)
    # a narrower window is a subset, bounded [start, end)
    narrow = http.get(f"{simulator.url}/appointments/getCalendarEventData",
                      params={"start": "2026-11-02 10:00:00", "end": "2026-11-02 12:00:00"}, timeout=10).json()
    assert [e for e in events if "2026-11-02 10:00:00" <= e["start"] < "2026-11-02 12:00:00"] == narrow["events"]


def test_schedule_configs(simulator):
    body = simulator.login_session().get(f"{simulator.url}/schedule/getScheduleConfigs", timeout=10).json()
    assert body["slot_duration"] == 15
    assert {h["day"] for h in body["business_hours"]} <= set(range(1, 8))
    assert body["providers"] and all({"id", "name"} <= set(p) for p in body["providers"])
    assert body["rooms"] and all({"id", "name"} <= set(r) for r in body["rooms"])


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


def test_consultation_page_data_and_view(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = simulator.day(-2)
    summaries = http.get(f"{simulator.url}/consultations/search", timeout=10, params={
        "page": 1, "date_start": f"{day:%d.%m.%Y} 00:00:00", "date_end": f"{day:%d.%m.%Y} 23:59:59"}).json()["data"]
    finalised = next(s for s in summaries if s["status"].lower().startswith("finali"))
    record = http.get(f"{simulator.url}/consultations/{finalised['id']}/page-data", timeout=10).json()["consultation"]
    assert record["id"] == finalised["id"] and record["appointment_id"] == finalised["appointment_id"]
    assert {"notes", "discharge_summary", "vitals", "diagnoses", "products"} <= set(record)
    assert {v["type"] for v in record["vitals"]} == {"temperature", "pulse", "respiration", "weight"}
    view = http.get(f"{simulator.url}/consultations/view/{finalised['id']}", timeout=10).json()["consultation"]
    assert view["vitals"] == record["vitals"]
    if record["notes"]:
        assert view["clinical_notes"].startswith("S: " + record["notes"]["subjective"])


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
