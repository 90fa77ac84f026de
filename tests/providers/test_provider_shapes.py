"""IdexxProvider's data methods over real HTTP (a scripted server on 127.0.0.1) in every shape
of the facts: schedule-settings fallback and warnings, search paging, page-data fallback to the
older view, and phases (inbound, enrichment) on a real Postgres store.

The login is a stand-in returning a fixed cookie (the Playwright login has its own tests
against the simulator); everything after it is the real client, provider and transforms.
"""

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from pims_sync.errors import PimsProtocolError
from pims_sync.models import Clinic, Credentials
from pims_sync.providers.idexx import transforms as t
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.sync.enrichment import CaseEnrichment
from pims_sync.sync.inbound import InboundSync
from pims_sync.sync.options import day_window

from .stub_server import Reply, StubServer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "idexx"
WINDOW = (datetime(2026, 11, 26, 5, tzinfo=UTC), datetime(2026, 11, 27, 5, tzinfo=UTC))
DAY = date(2026, 11, 26)
# names that appear in the fixtures' bodies: no error message or log line may carry them
NAMES = ("Biscuit", "Featherstonehaugh", "Margarethe", "Okonkwo", "Lindqvist", "Pickles", "Wiśniewski")


class CookieLogin:
    """Stands in for the Playwright login with a fixed cookie."""

    def __init__(self):
        self.logins = 0

    def login(self, credentials):
        self.logins += 1
        return {"neo_session": "stub"}


def text(name):
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def ok(name_or_body):
    body = name_or_body if not isinstance(name_or_body, str) else text(name_or_body)
    return Reply(200, body if isinstance(body, str) else json.dumps(body))


def provider_for(url, clinic=None):
    return IdexxProvider(
        clinic=clinic or Clinic(id="c1", name="Test", timezone="America/New_York"),
        credentials_loader=lambda: Credentials("u", "p", "c"),
        base_url=url,
        authenticator=CookieLogin(),
        client_options={"sleep": lambda s: None},
    )


def no_names(*texts):
    joined = "\n".join(texts)
    return not any(n in joined for n in NAMES)


# --- calendar + schedule settings --------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["calendar_appointments", "calendar_data", "calendar_events", "calendar_bare"])
def test_every_calendar_envelope_over_http_with_room_names(envelope):
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok("appointment_view"))
        stub.script(t.CALENDAR, ok(envelope))
        provider = provider_for(stub.url)
        found = provider.appointments(*WINDOW)
        calendar_query = next(parse_qs(urlparse(r["url"]).query) for r in stub.requests if r["path"] == t.CALENDAR)
    expected = t.appointments_from_calendar(
        json.loads(text(envelope)), tz=provider.tz, rooms={"2": "Exam 2", "9": "Dental Suite"}
    )
    assert found == sorted(expected, key=lambda a: (a.start, a.id)) and found
    assert provider.warnings == []
    assert calendar_query["start"][0].startswith("2026-11-2") and len(calendar_query["start"][0]) == 19
    assert stub.hits(t.SCHEDULE_CONFIGS) == 0  # the production endpoint answered


def test_rooms_come_from_the_legacy_endpoint_when_the_view_is_missing():
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, Reply(404, "{}"))
        stub.script(t.SCHEDULE_CONFIGS, ok("schedule_configs"))
        stub.script(t.CALENDAR, ok("calendar_appointments"))
        provider = provider_for(stub.url)
        (appt,) = provider.appointments(*WINDOW)
        config = provider.schedule_config()
    assert appt.room == "Exam 2" and provider.warnings == []
    assert (config.source, config.slot_minutes) == (t.SCHEDULE_CONFIGS, 20)


def test_both_schedule_endpoints_failing_is_a_warning_not_a_failure():
    changed = json.loads(text("appointment_view"))
    changed["businessHours"] = {"open": "08:00"}  # a shape we do not know
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok(changed))
        stub.script(t.SCHEDULE_CONFIGS, Reply(404, "<html>Not here, Margarethe</html>", {"Content-Type": "text/html"}))
        stub.script(t.CALENDAR, ok("calendar_data"))
        provider = provider_for(stub.url)
        (appt,) = provider.appointments(*WINDOW)
        assert stub.hits(t.APPOINTMENT_VIEW) == 1 and stub.hits(t.SCHEDULE_CONFIGS) == 1
        provider.appointments(*WINDOW)  # asked once per provider, not once per call
        assert stub.hits(t.APPOINTMENT_VIEW) == 1
    assert appt.room == "9"  # shown by id
    (warning,) = provider.warnings
    assert "rooms shown by id" in warning and "'businessHours'" in warning
    assert t.APPOINTMENT_VIEW in warning and t.SCHEDULE_CONFIGS in warning and "404" in warning
    assert no_names(warning)
    with pytest.raises(PimsProtocolError, match="schedule settings unavailable"):
        provider.schedule_config()


def test_inbound_records_the_schedule_warning_in_its_stats(store, clinic):
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, Reply(404, "{}"))
        stub.script(t.SCHEDULE_CONFIGS, Reply(404, "{}"))
        stub.script(t.CALENDAR, ok("calendar_data"))
        provider = provider_for(stub.url, clinic)
        stats = InboundSync(store, provider, clinic).run(day_window(clinic.timezone, DAY, DAY))
    assert stats["appointmentsFound"] == 1 and stats["casesCreated"] == 1
    (warning,) = stats["warnings"]
    assert warning.startswith("schedule settings unavailable") and warning.endswith("rooms shown by id")
    (case,) = store.list_cases(clinic.id)
    assert (case["room"], case["pims_status"], case["status"]) == ("9", "in_progress", "ongoing")


def test_inbound_without_problems_has_no_warnings_key(store, clinic):
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok("appointment_view"))
        stub.script(t.CALENDAR, ok("calendar_appointments"))
        stats = InboundSync(store, provider_for(stub.url, clinic), clinic).run(day_window(clinic.timezone, DAY, DAY))
    assert "warnings" not in stats
    (case,) = store.list_cases(clinic.id)
    assert (case["room"], case["pims_status"], case["status"]) == ("Exam 2", "completed", "completed")  # Ready to Pay


# --- search --------------------------------------------------------------------------------


def test_search_reads_every_page_with_the_legacy_params():
    with StubServer() as stub:
        stub.script(t.SEARCH, ok("search_page1"), ok("search_page2"))
        rows = provider_for(stub.url).consultations(*WINDOW)
        queries = [parse_qs(urlparse(r["url"]).query) for r in stub.requests if r["path"] == t.SEARCH]
    assert [r.id for r in rows] == ["55012", "55060", "55070"]
    assert [q["page"] for q in queries] == [["1"], ["2"]]
    assert all(q["order[]"] == ["consultedAt:desc"] for q in queries)
    # DD.MM.YYYY HH:mm:ss clinic wall time, widened by two hours for DST days (clock.QUERY_PAD)
    assert (queries[0]["date_start"], queries[0]["date_end"]) == (["25.11.2026 22:00:00"], ["27.11.2026 02:00:00"])


def test_an_empty_search_page_before_total_is_an_error():
    page1 = json.loads(text("search_page1"))
    with StubServer() as stub:
        stub.script(t.SEARCH, ok(page1), ok({"data": [], "total": 3, "page": 2, "perPage": 2}))
        with pytest.raises(PimsProtocolError, match="2 of 3"):
            provider_for(stub.url).consultations(*WINDOW)


# --- page-data and the older view ----------------------------------------------------------


def test_page_data_is_read_when_it_is_a_consultation():
    with StubServer() as stub:
        stub.script("/consultations/55012/page-data", ok("page_data_full"))
        c = provider_for(stub.url).consultation("55012")
        assert stub.hits("/consultations/view/55012") == 0
    assert (c.source, c.discharge_summary, c.branch) == ("page-data", "Ear drops twice daily for 7 days.", "Downtown")


@pytest.mark.parametrize(
    "page_data",
    [Reply(404, '{"error": "not found"}'), ok("page_data_not_consultation")],
    ids=["404", "not-a-consultation"],
)
def test_page_data_falls_back_to_the_view(page_data):
    with StubServer() as stub:
        stub.script("/consultations/55012/page-data", page_data)
        stub.script("/consultations/view/55012", ok("view"))
        c = provider_for(stub.url).consultation("55012")
        assert stub.hits("/consultations/view/55012") == 1
    assert (c.id, c.source, c.notes.startswith("Subjective:")) == ("55012", "view", True)


def test_page_data_other_errors_do_not_fall_back():
    with StubServer() as stub:
        stub.script("/consultations/55012/page-data", Reply(400, "{}"))
        stub.script("/consultations/view/55012", ok("view"))
        with pytest.raises(PimsProtocolError, match="400"):
            provider_for(stub.url).consultation("55012")
        assert stub.hits("/consultations/view/55012") == 0


# --- enrichment: page-data + search rows -----------------------------------------------------


def test_enrichment_stores_page_data_with_the_search_rows_vitals_and_diagnoses(store, clinic):
    window = day_window(clinic.timezone, DAY, DAY)
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok("appointment_view"))
        stub.script(t.CALENDAR, ok("calendar_appointments"))
        stub.script(t.SEARCH, ok("search_page1"), ok("search_page2"))
        stub.script("/consultations/55012/page-data", ok("page_data_full"))
        provider = provider_for(stub.url, clinic)
        InboundSync(store, provider, clinic).run(window)
        stats = CaseEnrichment(store, provider, clinic).run(window)
    assert (stats["casesFound"], stats["casesEnriched"], stats["failed"]) == (1, 1, 0)
    assert "warnings" not in stats
    (case,) = store.list_cases(clinic.id)
    meta = case["metadata"]["pimsConsultation"]
    assert (meta["id"], meta["appointment_id"], meta["source"]) == ("55012", "100234", "page-data")
    assert meta["vitals"]["temperature_c"] == 38.6 and meta["vitals"]["blood_pressure"] == "120/80"
    assert [d["name"] for d in meta["diagnoses"]] == ["Otitis externa", "Obesity"]
    assert [p["name"] for p in meta["products"]] == ["Rabies vaccine", "Ear drops 15ml"]
    assert [p["name"] for p in meta["declined_products"]] == ["Dental cleaning"]
    assert (meta["provider_name"], meta["discharge_summary"]) == ("Dr. Amelia Chen", "Ear drops twice daily for 7 days.")
    assert meta["notes"].startswith("S: Owner reports")


def test_enrichment_goes_on_without_the_search_and_says_so(store, clinic):
    window = day_window(clinic.timezone, DAY, DAY)
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok("appointment_view"))
        stub.script(t.CALENDAR, ok("calendar_appointments"))
        stub.script(t.SEARCH, Reply(404, "{}"))
        stub.script("/consultations/55012/page-data", ok("page_data_full"))
        provider = provider_for(stub.url, clinic)
        InboundSync(store, provider, clinic).run(window)
        stats = CaseEnrichment(store, provider, clinic).run(window)
    assert (stats["casesEnriched"], stats["failed"]) == (1, 0)
    (warning,) = stats["warnings"]
    assert "consultation search unavailable" in warning and t.SEARCH in warning
    (case,) = store.list_cases(clinic.id)
    meta = case["metadata"]["pimsConsultation"]
    assert (meta["vitals"], meta["diagnoses"], meta["appointment_id"]) == (None, [], None)


# --- privacy -----------------------------------------------------------------------------------


def _bad_bodies():
    calendar = json.loads(text("calendar_appointments"))
    calendar["appointments"][0]["start"] = "Biscuit Featherstonehaugh"
    search = json.loads(text("search_page1"))
    search["data"][0]["vitals"]["temperatureUnit"] = "Margarethe Okonkwo-Lindqvist"
    page = json.loads(text("page_data_full"))
    page["client"]["firstName"] = {"name": "Margarethe"}
    return [
        ("appointments", t.CALENDAR, calendar),
        ("consultations", t.SEARCH, search),
        ("consultation", "/consultations/55012/page-data", page),
    ]


@pytest.mark.parametrize("method, path, body", _bad_bodies(), ids=["calendar", "search", "page-data"])
def test_protocol_errors_and_logs_never_carry_names_from_the_body(method, path, body, caplog):
    caplog.set_level(logging.DEBUG)
    with StubServer() as stub:
        stub.script(t.APPOINTMENT_VIEW, ok("appointment_view"))
        stub.script(path, ok(body))
        provider = provider_for(stub.url)
        call = {"appointments": lambda: provider.appointments(*WINDOW),
                "consultations": lambda: provider.consultations(*WINDOW),
                "consultation": lambda: provider.consultation("55012")}[method]
        with pytest.raises(PimsProtocolError) as info:
            call()
    message = str(info.value)
    assert "field '" in message and "[endpoint " in message
    assert no_names(message, repr(info.value), caplog.text)
