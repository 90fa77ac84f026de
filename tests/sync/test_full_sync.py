"""The three-phase sync against the simulator: fidelity, upstream changes, faults, guard, DST.

Real Chromium logs in, real HTTP fetches, real PostgreSQL stores. Expectations are computed
here from the simulator's truth, independently of the provider's transforms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pims_sync.models import case_status_for

# the simulator's canonical stage of an appointment -> the normalised PIMS status; the events
# carry the messier spellings IDEXX uses ("Ready to Pay", "not arrived", no status at all, ...)
EXPECTED_PIMS_STATUS = {
    "booked": "scheduled",
    "confirmed": "confirmed",
    "arrived": "arrived",
    "in_progress": "in_progress",
    "finalised": "completed",
    "cancelled": "cancelled",
    "no_show": "no_show",
}


def ext(event_id) -> str:
    return f"pims-appt-idexx-neo-{event_id}"


def local_to_utc(wall: str, tz: str) -> datetime:
    naive = datetime.strptime(wall, "%Y-%m-%d %H:%M:%S")
    return naive.replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC)


def clean(value):
    """Text as the product stores it: surrounding blanks trimmed, empty as None."""
    return (value.strip() or None) if isinstance(value, str) else value


def appointments(truth: dict) -> list[dict]:
    return [e for e in truth["events"] if not e["is_block"] and not e["is_roster"]]


def assert_matches_truth(cs, *, days_back: int, days_ahead: int) -> None:
    tz = cs.clinic.timezone
    truth = cs.truth(cs.today - timedelta(days=days_back), cs.today + timedelta(days=days_ahead))
    expected = {ext(e["id"]): e for e in appointments(truth)}
    cases = cs.cases()
    assert set(cases) == set(expected), "cases differ from the PIMS's appointments"
    consultations = {c["id"]: c for c in truth["consultations"]}
    enriched = 0
    for external_id, event in expected.items():
        case = cases[external_id]
        assert case["scheduled_at"] == local_to_utc(event["start"], tz), external_id
        assert case["ends_at"] == local_to_utc(event["end"], tz), external_id
        pims_status = EXPECTED_PIMS_STATUS[event["stage"]]
        assert case["pims_status"] == pims_status, (external_id, event.get("current_status"), event["stage"])
        assert case["status"] == case_status_for(pims_status), external_id  # the product's vocabulary
        assert case["patient_name"] == clean(event["patient_name"])
        client = " ".join(p for p in (clean(event["first_name"]), clean(event["last_name"])) if p) or None
        assert case["client_name"] == client
        assert case["client_email"] == clean(event["email"])
        assert case["client_phone"] == clean(event["phone_number"])
        assert case["provider_name"] == clean(event["provider"])
        assert case["consultation_external_id"] == (
            str(event["consultation_id"]) if event["consultation_id"] else None
        )
        assert case["metadata"]["pimsAppointment"]["id"] == str(event["id"])
        if case["client_phone_e164"] is not None:
            digits = "".join(ch for ch in event["phone_number"] if ch.isdigit())
            assert case["client_phone_e164"].startswith("+")
            assert case["client_phone_e164"][-7:] == digits[-7:] or "x" in event["phone_number"].lower()
        consultation = consultations.get(event["consultation_id"])
        stored = case["metadata"].get("pimsConsultation")
        past = local_to_utc(event["start"], tz) < cs.now
        if consultation and past:
            assert stored is not None, f"{external_id} was not enriched"
            enriched += 1
            assert stored["notes"] == clean(consultation.get("notes"))  # one free-text string
            assert [d["name"] for d in stored["diagnoses"]] == [d["name"] for d in consultation["diagnoses"]]
            assert stored["discharge_summary"] == clean(consultation.get("discharge_summary"))
            vitals = consultation["vitals"] or {}  # the search's vitals object (IDEXX_FACTS.md)
            if vitals.get("temperature") is not None:
                value = float(vitals["temperature"])
                celsius = (value - 32) * 5 / 9 if "F" in vitals["temperatureUnit"] else value
                assert stored["vitals"]["temperature_c"] == pytest.approx(celsius, abs=0.06)
            if vitals.get("weight") is not None:
                value = float(vitals["weight"])
                kg = value * 0.45359237 if "lb" in vitals["weightUnit"] else value
                assert stored["vitals"]["weight_kg"] == pytest.approx(kg, abs=0.006)
            if vitals.get("pulse") is not None:
                assert stored["vitals"]["pulse_bpm"] == vitals["pulse"]
            products = [p["name"] for p in consultation.get("products") or () if not p.get("declined")]
            declined = [p["name"] for p in consultation.get("products") or () if p.get("declined")]
            assert [p["name"] for p in stored["products"]] == products
            assert [p["name"] for p in stored.get("declined_products") or ()] == declined
    assert enriched > 0, "the window held no past consultations: the test would prove nothing"


@pytest.mark.parametrize("seed", [7, 42, 1234])
def test_full_sync_equals_the_pims_field_by_field(make_simulator, make_clinic_sync, seed):
    sim = make_simulator(seed=seed, clinics=2)
    for index in (0, 1):
        cs = make_clinic_sync(sim, index)
        first = cs.run(daysAhead=3, lookbackDays=3)
        assert first["success"], first
        assert first["inboundResult"]["stats"]["casesCreated"] > 0
        assert_matches_truth(cs, days_back=3, days_ahead=3)

        again = cs.run(daysAhead=3, lookbackDays=3)
        assert again["success"], again
        assert again["inboundResult"]["stats"]["casesCreated"] == 0
        assert again["inboundResult"]["stats"]["casesUpdated"] == 0
        assert again["casesResult"]["stats"]["casesEnriched"] == 0
        assert again["reconciliationResult"]["stats"]["casesDeleted"] == 0
        assert cs.logins() == 1, "the second run must reuse the session"


def test_upstream_changes_are_reflected_exactly(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    assert cs.run(daysAhead=2, lookbackDays=2)["success"]
    today = appointments(cs.truth(cs.today, cs.today))
    live = [e for e in today if e["status_label"] not in ("Cancelled", "No Show")]
    to_cancel, to_move, to_delete = live[0], live[1], live[2]

    added = simulator.control(
        "appointments",
        {"clinic_id": cs.sim_clinic["id"], "start": f"{cs.today + timedelta(days=1)} 10:15:00",
         "patient_name": "Zoë O'Brien", "phone_number": "+1 (415) 555-0199"},
    )["appointment"]
    simulator.control(f"appointments/{to_cancel['id']}/cancel", {})
    new_start = f"{cs.today + timedelta(days=1)} 16:45:00"
    simulator.control(f"appointments/{to_move['id']}/reschedule", {"start": new_start})
    simulator.control(f"appointments/{to_delete['id']}", method="DELETE")

    result = cs.run(daysAhead=2, lookbackDays=2)
    assert result["success"], result
    stats = result["inboundResult"]["stats"]
    assert stats["casesCreated"] == 1 and stats["casesUpdated"] == 2
    assert result["reconciliationResult"]["stats"]["casesDeleted"] == 1

    cases = cs.cases(include_deleted=True)
    assert cases[ext(added["id"])]["patient_name"] == "Zoë O'Brien"
    assert cases[ext(added["id"])]["client_phone_e164"] == "+14155550199"
    cancelled = cases[ext(to_cancel["id"])]
    assert (cancelled["pims_status"], cancelled["status"]) == ("cancelled", "reviewed")
    assert cancelled["deleted_at"] is None, "a cancelled appointment is updated, not deleted"
    assert "reconciliation" not in cancelled["metadata"], "cancelled is not vanished: no reconciliation marker"
    assert cases[ext(to_move["id"])]["scheduled_at"] == local_to_utc(new_start, cs.clinic.timezone)
    vanished = cases[ext(to_delete["id"])]
    assert vanished["deleted_at"] is not None
    assert vanished["status"] == "reviewed" and "reconciliation" in vanished["metadata"]  # the product's way
    assert_matches_truth(cs, days_back=2, days_ahead=2)


def test_expired_session_mid_sync_costs_exactly_one_login(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    assert cs.run(sync_type="inbound", daysAhead=1)["success"]
    assert cs.logins() == 1
    simulator.expire_sessions()
    result = cs.run(daysAhead=2, lookbackDays=2)
    assert result["success"], result
    assert cs.logins() == 2


def test_5xx_and_429_bursts_are_retried(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    simulator.fault("error", status=503, count=2, endpoint="calendar")
    simulator.fault("rate_limit", retry_after_s=1, count=2, endpoint="consultation_page_data")
    result = cs.run(daysAhead=1, lookbackDays=2)
    assert result["success"], result
    triggered = simulator.stats()["faults_triggered"]
    assert sum(triggered.values()) == 4, triggered
    assert_matches_truth(cs, days_back=2, days_ahead=1)


def test_permanent_503_fails_clearly_and_deletes_nothing(simulator, make_clinic_sync, store):
    cs = make_clinic_sync(simulator)
    assert cs.run(daysAhead=1, lookbackDays=2)["success"]
    before = cs.cases()
    simulator.fault("error", status=503, endpoint="calendar")
    result = cs.run(daysAhead=1, lookbackDays=2)
    assert result["success"] is False
    assert result["inboundResult"]["status"] == "failed"
    assert "503" in result["inboundResult"]["error"]["message"] or "unavailable" in result["inboundResult"]["error"]["message"].lower()
    assert result["reconciliationResult"]["status"] == "not_run"
    assert result["casesResult"]["status"] == "not_run"
    assert cs.cases() == before, "no case may change when the PIMS is down"
    audit = store.get_audit(result["syncId"], clinic_id=cs.clinic.id)
    assert audit.status == "failed"
    phases = {a.sync_type: a.status for a in store.child_audits(audit.id)}
    assert phases == {"inbound": "failed", "cases": "not_run", "reconciliation": "not_run"}


def test_html_instead_of_json_is_a_protocol_error_not_an_empty_day(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    assert cs.run(daysAhead=1, lookbackDays=1)["success"]
    before = cs.cases()
    simulator.fault("html", endpoint="calendar")
    result = cs.run(daysAhead=1, lookbackDays=1)
    assert result["inboundResult"]["status"] == "failed"
    assert result["reconciliationResult"]["status"] == "not_run"
    assert cs.cases() == before


def test_wrong_credentials_fail_fast_with_one_login_attempt(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    cs.sim_clinic = {**cs.sim_clinic, "password": "not-the-password"}
    result = cs.run(daysAhead=1, lookbackDays=1)
    assert result["success"] is False
    assert result["inboundResult"]["error"]["code"] == "authentication_failed"
    assert simulator.stats()["failed_logins_total"] == 1
    assert cs.logins_requested == 1


def test_guard_aborts_on_empty_upstream_and_on_a_big_drop_unless_forced(simulator, make_clinic_sync):
    cs = make_clinic_sync(simulator)
    assert cs.run(sync_type="inbound", startDate=str(cs.today - timedelta(days=2)), endDate=str(cs.today))["success"]
    window = appointments(cs.truth(cs.today - timedelta(days=2), cs.today))

    # half the window vanishes upstream
    for event in window[: len(window) // 2]:
        simulator.control(f"appointments/{event['id']}", method="DELETE")
    aborted = cs.run(sync_type="reconcile", lookbackDays=2)
    assert aborted["reconciliationResult"]["status"] == "aborted"
    assert "use force=true" in aborted["reconciliationResult"]["error"]["message"]
    assert all(c["deleted_at"] is None for c in cs.cases(include_deleted=True).values())

    forced = cs.run(sync_type="reconcile", lookbackDays=2, force=True)
    assert forced["success"], forced
    assert forced["reconciliationResult"]["stats"]["casesDeleted"] == len(window) // 2

    # now everything vanishes: an empty upstream never wipes the window without force
    for event in window[len(window) // 2 :]:
        simulator.control(f"appointments/{event['id']}", method="DELETE")
    empty = cs.run(sync_type="reconcile", lookbackDays=2)
    assert empty["reconciliationResult"]["status"] == "aborted"
    assert "no appointments" in empty["reconciliationResult"]["error"]["message"]


@pytest.mark.parametrize(
    ("timezone", "dst_day"),
    [("America/New_York", "2026-11-01"), ("America/New_York", "2026-03-08"), ("Australia/Sydney", "2026-04-05"),
     ("Australia/Sydney", "2026-10-04")],
)
def test_dst_days_get_correct_instants_and_windows(make_simulator, make_clinic_sync, timezone, dst_day):
    sim = make_simulator(seed=5, clinics=4)
    index = next(i for i, c in enumerate(sim.clinics) if c["timezone"] == timezone)
    cs = make_clinic_sync(sim, index)
    result = cs.run(sync_type="inbound", startDate=dst_day, endDate=dst_day)
    assert result["success"], result
    truth = appointments(cs.truth(datetime.fromisoformat(dst_day).date(), datetime.fromisoformat(dst_day).date()))
    cases = cs.cases()
    assert {ext(e["id"]) for e in truth} == set(cases)
    for event in truth:
        assert cases[ext(event["id"])]["scheduled_at"] == local_to_utc(event["start"], timezone)
    # the window is the clinic's local day: every stored case starts on that local date
    zone = ZoneInfo(timezone)
    assert {c["scheduled_at"].astimezone(zone).date().isoformat() for c in cases.values()} == {dst_day}


def test_enrichment_fetches_each_consultation_once_in_parallel(make_simulator, make_clinic_sync):
    sim = make_simulator(seed=9, clinics=1, latency_ms=50)
    cs = make_clinic_sync(sim)
    day = cs.today - timedelta(days=1)
    sim.set_appointments_per_day(cs.sim_clinic["id"], 260)
    assert cs.run(sync_type="inbound", startDate=str(day), endDate=str(day))["success"]
    expected = sum(1 for c in cs.cases().values() if c["consultation_external_id"])
    assert expected >= 150, expected
    before = sim.stats()["requests_by_endpoint"].get("consultation_page_data", 0)
    result = cs.run(sync_type="cases", startDate=str(day), endDate=str(day), parallelBatchSize=10)
    assert result["success"], result
    detail_requests = sim.stats()["requests_by_endpoint"].get("consultation_page_data", 0) - before
    assert result["casesResult"]["stats"]["casesFound"] == expected
    assert detail_requests == expected, "each consultation exactly once, no duplicates"
