"""The control API: mutations are served by the data endpoints; stats count; reset restores."""

from __future__ import annotations

import requests

CAL = "/appointments/getCalendarEventData"


def _calendar(sim, http, day: str) -> list[dict]:
    body = http.get(sim.url + CAL, timeout=10, params={"start": f"{day} 00:00:00", "end": f"{day} 23:59:59"}).json()
    return body if isinstance(body, list) else next(iter(body.values()))  # any of the four envelopes


def _appointments(events):
    return [e for e in events if not e["is_block"] and not e["is_roster"]]


def test_add_cancel_reschedule_delete_appointments(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day, later = str(simulator.day(3)), str(simulator.day(4))
    before = _calendar(simulator, http, day)

    added = simulator.control("appointments", {"clinic_id": clinic["id"], "start": f"{day} 07:15:00",
                                               "patient_name": "Ñandú", "current_status": "booked"})["appointment"]
    events = _calendar(simulator, http, day)
    assert len(events) == len(before) + 1
    assert next(e for e in events if e["id"] == added["id"])["patient_name"] == "Ñandú"

    target = _appointments(before)[0]
    simulator.control(f"appointments/{target['id']}/cancel", {})
    assert next(e for e in _calendar(simulator, http, day) if e["id"] == target["id"])["current_status"] == "cancelled"

    simulator.control(f"appointments/{target['id']}/reschedule", {"start": f"{later} 11:00:00"})
    assert target["id"] not in {e["id"] for e in _calendar(simulator, http, day)}
    moved = next(e for e in _calendar(simulator, http, later) if e["id"] == target["id"])
    assert moved["start"] == f"{later} 11:00:00"

    simulator.control(f"appointments/{added['id']}", method="DELETE")
    assert added["id"] not in {e["id"] for e in _calendar(simulator, http, day)}

    simulator.reset()
    assert _calendar(simulator, http, day) == before


def test_deleting_an_appointment_hides_its_consultation(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = str(simulator.day(-1))
    record = simulator.truth(clinic["id"], day, day)["consultations"][0]
    simulator.control(f"appointments/{record['appointment_id']}", method="DELETE")
    assert http.get(f"{simulator.url}/consultations/{record['id']}/page-data", timeout=10).status_code == 404
    assert record["id"] not in {c["id"] for c in simulator.truth(clinic["id"], day, day)["consultations"]}


def test_edit_consultation(simulator):
    clinic = simulator.clinic(1)
    http = simulator.login_session(clinic)
    day = str(simulator.day(-1, clinic))
    record = simulator.truth(clinic["id"], day, day)["consultations"][0]
    notes = "S: Edited — José's dog\nP: recheck"
    simulator.control(f"consultations/{record['id']}", {"notes": notes, "status": "Finalised"}, method="PATCH")
    served = http.get(f"{simulator.url}/consultations/{record['id']}/page-data", timeout=10).json()
    assert served["consultation"]["notes"] == notes and served["patient"]["name"] == record["patient_name"]
    view = http.get(f"{simulator.url}/consultations/view/{record['id']}", timeout=10).json()["consultation"]
    assert view["notes"] == {"subjective": "Edited — José's dog", "objective": "", "assessment": "", "plan": "recheck"}
    assert simulator.truth(clinic["id"], day, day)["consultations"][0]["notes"] == notes


def test_added_appointment_with_a_consultation(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)
    day = simulator.day(-1)
    added = simulator.control("appointments", {"clinic_id": clinic["id"], "start": f"{day} 23:40:00",
                                               "end": f"{simulator.day(0)} 00:20:00", "current_status": "finalised",
                                               "consultation": "finalised"})["appointment"]
    record = http.get(f"{simulator.url}/consultations/{added['consultation_id']}/page-data", timeout=10).json()
    assert record["consultation"]["id"] == added["consultation_id"] and record["consultationLines"]
    truth = simulator.truth(clinic["id"], str(day), str(day))["consultations"]
    mine = next(c for c in truth if c["id"] == added["consultation_id"])
    assert mine["appointment_id"] == added["id"] and mine["vitals"]["pulse"]


def test_control_errors_are_clear(simulator):
    response = requests.post(f"{simulator.url}/__sim/appointments", json={"clinic_id": "nope", "start": "x"}, timeout=10)
    assert response.status_code == 404 and "unknown clinic_id" in response.json()["error"]
    response = requests.post(f"{simulator.url}/__sim/appointments/123/cancel", json={}, timeout=10)
    assert response.status_code == 404
    response = requests.post(f"{simulator.url}/__sim/faults", json={"kind": "meteor"}, timeout=10)
    assert response.status_code == 400 and "unknown fault kind" in response.json()["error"]


def test_stats_count_requests_per_endpoint_and_clinic(simulator):
    first, second = simulator.clinic(0), simulator.clinic(1)
    a, b = simulator.login_session(first), simulator.login_session(second)
    for _ in range(3):
        a.get(simulator.url + "/schedule/getScheduleConfigs", timeout=10)
    b.get(simulator.url + CAL, params={"start": "2026-11-02", "end": "2026-11-03"}, timeout=10)
    requests.post(f"{simulator.url}/login", data={"company_id": first["company_id"]}, timeout=10)
    stats = simulator.stats()
    assert stats["requests_by_endpoint"]["schedule"] == 3
    assert stats["requests_by_endpoint"]["calendar"] == 1
    assert stats["requests_by_clinic_endpoint"][first["id"]]["schedule"] == 3
    assert stats["requests_by_clinic_endpoint"][second["id"]]["calendar"] == 1
    assert stats["logins"] == {first["id"]: 1, second["id"]: 1}
    assert stats["failed_logins"] == {first["id"]: 1}
    simulator.reset()
    assert simulator.stats()["requests_total"] == 0
