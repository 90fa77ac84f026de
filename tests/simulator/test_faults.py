"""Every fault fires as configured, only in its scope, and count-limited faults run out."""

from __future__ import annotations

import json
import time

import pytest
import requests

SCHEDULE = "/schedule/getScheduleConfigs"
CAL = "/appointments/getCalendarEventData?start=2026-11-02 00:00:00&end=2026-11-03 00:00:00"


@pytest.fixture
def sessions(simulator):
    return simulator.login_session(simulator.clinic(0)), simulator.login_session(simulator.clinic(1))


def test_a_burst_of_three_503s_then_normal_service(simulator, sessions):
    http, _ = sessions
    simulator.fault("error", status=503, endpoint="calendar", count=3)
    assert http.get(simulator.url + SCHEDULE, timeout=10).status_code == 200  # other endpoint: untouched
    statuses = [http.get(simulator.url + CAL, timeout=10).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert simulator.control("faults")["faults"] == []
    assert simulator.stats()["faults_triggered"] == {"error": 3}


def test_error_statuses_and_rate(simulator, sessions):
    http, _ = sessions
    simulator.fault("error", statuses=[500, 502], endpoint="schedule")
    seen = {http.get(simulator.url + SCHEDULE, timeout=10).status_code for _ in range(20)}
    assert seen == {500, 502}
    response = http.get(simulator.url + SCHEDULE, timeout=10)
    assert response.headers["Content-Type"].startswith("text/html")
    simulator.clear_faults()
    simulator.fault("error", status=500, rate=0.5)
    codes = [http.get(simulator.url + SCHEDULE, timeout=10).status_code for _ in range(40)]
    assert 0 < codes.count(500) < 40 and codes.count(200) == 40 - codes.count(500)


def test_faults_scoped_to_one_clinic(simulator, sessions):
    first, second = sessions
    simulator.fault("error", status=502, clinic_id=simulator.clinic(1)["id"])
    assert first.get(simulator.url + SCHEDULE, timeout=10).status_code == 200
    assert first.get(simulator.url + CAL, timeout=10).status_code == 200
    assert second.get(simulator.url + SCHEDULE, timeout=10).status_code == 502
    assert second.get(simulator.url + CAL, timeout=10).status_code == 502


def test_rate_limit_with_retry_after(simulator, sessions):
    http, _ = sessions
    simulator.fault("rate_limit", retry_after_s=7, endpoint="schedule", count=1)
    limited = http.get(simulator.url + SCHEDULE, timeout=10)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert http.get(simulator.url + SCHEDULE, timeout=10).status_code == 200


def test_hang_trips_a_client_timeout(simulator, sessions):
    http, other = sessions
    simulator.fault("hang", seconds=5, endpoint="calendar", clinic_id=simulator.clinic(0)["id"], count=1)
    with pytest.raises(requests.Timeout):
        http.get(simulator.url + CAL, timeout=0.5)
    assert other.get(simulator.url + CAL, timeout=2).status_code == 200
    assert http.get(simulator.url + CAL, timeout=2).status_code == 200


def test_truncated_and_malformed_json(simulator, sessions):
    http, _ = sessions
    whole = http.get(simulator.url + CAL, timeout=10)
    simulator.fault("truncated_json", endpoint="calendar", count=1)
    cut = http.get(simulator.url + CAL, timeout=10)
    assert cut.status_code == 200 and cut.headers["Content-Type"] == "application/json"
    assert whole.content.startswith(cut.content) and len(cut.content) < len(whole.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    simulator.fault("malformed_json", endpoint="schedule", count=1)
    bad = http.get(simulator.url + SCHEDULE, timeout=10)
    assert bad.status_code == 200 and bad.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.content)
    assert http.get(simulator.url + CAL, timeout=10).json() == whole.json()


def test_html_instead_of_json(simulator, sessions):
    http, other = sessions
    simulator.fault("html", clinic_id=simulator.clinic(0)["id"], endpoint="consultations_search")
    path = "/consultations/search?page=1&date_start=01.11.2026 00:00:00&date_end=02.11.2026 23:59:59"
    response = http.get(simulator.url + path, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert other.get(simulator.url + path, timeout=10).headers["Content-Type"] == "application/json"


def test_latency_and_jitter(simulator, sessions):
    http, _ = sessions
    simulator.fault("latency", ms=300, jitter_ms=100, endpoint="schedule")
    started = time.monotonic()
    http.get(simulator.url + SCHEDULE, timeout=10)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    http.get(simulator.url + CAL, timeout=10)
    assert time.monotonic() - started < 0.3


def test_slow_login_page(simulator):
    simulator.fault("slow_login", ms=600)
    started = time.monotonic()
    assert requests.get(simulator.url + "/login", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    requests.get(simulator.url + "/__sim/clinics", timeout=10)
    requests.get(simulator.url + SCHEDULE, allow_redirects=False, timeout=10)
    assert time.monotonic() - started < 0.6


def test_login_faults_can_target_one_clinic(simulator):
    simulator.fault("error", status=503, endpoint="login", clinic_id=simulator.clinic(0)["id"])
    ok = simulator.login_session(simulator.clinic(1))  # the GET /login and this clinic's POST pass
    assert ok.get(simulator.url + SCHEDULE, timeout=10).status_code == 200
    with pytest.raises(AssertionError, match="503"):
        simulator.login_session(simulator.clinic(0))


def test_faults_are_listed_removed_and_reset(simulator, sessions):
    http, _ = sessions
    fault = simulator.fault("error", status=500)
    assert [f["id"] for f in simulator.control("faults")["faults"]] == [fault["id"]]
    assert requests.get(simulator.url + "/__sim/stats", timeout=10).status_code == 200  # control API exempt
    simulator.control(f"faults/{fault['id']}", method="DELETE")
    assert http.get(simulator.url + SCHEDULE, timeout=10).status_code == 200
    simulator.fault("error", status=500)
    simulator.reset()
    assert http.get(simulator.url + SCHEDULE, timeout=10).status_code == 200
