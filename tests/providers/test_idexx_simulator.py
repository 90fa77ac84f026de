"""IdexxProvider and IdexxAuthenticator against the simulator, logging in with real Chromium."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pims_sync.errors import AuthenticationFailed, PimsProtocolError, PimsUnavailable
from pims_sync.models import Clinic, Credentials
from pims_sync.providers.base import PimsProvider
from pims_sync.providers.idexx.auth import IdexxAuthenticator
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.providers.session import InMemorySessionCache

from .stub_server import Reply, StubServer

HTML = {"Content-Type": "text/html; charset=utf-8"}


def creds(clinic: dict, user: int = 0, password: str | None = None) -> Credentials:
    u = clinic["users"][user]
    return Credentials(username=u["username"], password=password or u["password"], company_id=clinic["company_id"])


def day_window(clinic: dict, days: int = 1, *, offset: int = 0) -> tuple[datetime, datetime]:
    """Clinic-local midnight of today+offset to midnight `days` later, as aware datetimes."""
    tz = ZoneInfo(clinic["timezone"])
    first = date.fromisoformat(clinic["today"]) + timedelta(days=offset)
    return (
        datetime.combine(first, time(), tzinfo=tz),
        datetime.combine(first + timedelta(days=days), time(), tzinfo=tz),
    )


@pytest.fixture
def make_provider(simulator, playwright_browser):
    made = []

    def make(index: int = 0, *, credentials=None, loads: list | None = None, sim=None, **kw):
        sim = sim or simulator
        clinic = sim.clinic(index)

        def loader():
            if loads is not None:
                loads.append(1)
            return credentials or creds(clinic)

        kw.setdefault("client_options", {"sleep": lambda s: None})
        provider = IdexxProvider(
            clinic=Clinic(id=clinic["id"], name=clinic["name"], timezone=clinic["timezone"],
                          phone_region=clinic["phone_region"]),
            credentials_loader=loader,
            base_url=sim.url,
            browser_source=lambda: playwright_browser,
            **kw,
        )
        made.append(provider)
        return provider

    yield make
    for p in made:
        p.close()


# --- authenticator -----------------------------------------------------------------------------


def test_login_captures_the_session_cookie_and_closes_its_context(simulator, playwright_browser):
    auth = IdexxAuthenticator(simulator.url, browser_source=lambda: playwright_browser)
    cookies = auth.login(creds(simulator.clinic(0)))
    assert set(cookies) == {"neo_session"} and len(cookies["neo_session"]) > 20
    assert simulator.stats()["logins_total"] == 1
    assert playwright_browser.contexts == []


def test_wrong_password_fails_with_the_page_message(simulator, playwright_browser):
    auth = IdexxAuthenticator(simulator.url, browser_source=lambda: playwright_browser)
    with pytest.raises(AuthenticationFailed) as info:
        auth.login(creds(simulator.clinic(0), password="wrong-password-123"))
    assert info.value.reason == "invalid_credentials"
    assert "Invalid username or password" in str(info.value)
    assert "wrong-password-123" not in str(info.value)
    assert playwright_browser.contexts == []


def test_two_factor_account_is_refused_with_its_reason(simulator, playwright_browser):
    auth = IdexxAuthenticator(simulator.url, browser_source=lambda: playwright_browser)
    with pytest.raises(AuthenticationFailed) as info:
        auth.login(creds(simulator.clinic(0), user=1))
    assert info.value.reason == "two_factor_required"


def test_changed_login_page_is_named(playwright_browser):
    with StubServer() as stub:
        stub.script("/login", Reply(200, "<html><body><form><input name='email'></form></body></html>", HTML))
        auth = IdexxAuthenticator(stub.url, browser_source=lambda: playwright_browser)
        with pytest.raises(AuthenticationFailed) as info:
            auth.login(Credentials("u", "p", "c"))
    assert info.value.reason == "login_page_changed" and "'username'" in str(info.value)


def test_login_5xx_and_refused_connection_are_unavailable(playwright_browser):
    with StubServer() as stub:
        stub.script("/login", Reply(503, "<html>maintenance</html>", HTML))
        auth = IdexxAuthenticator(stub.url, browser_source=lambda: playwright_browser)
        with pytest.raises(PimsUnavailable, match="503"):
            auth.login(Credentials("u", "p", "c"))
        dead_url = stub.url
    auth = IdexxAuthenticator(dead_url, browser_source=lambda: playwright_browser, timeout_ms=5000)
    with pytest.raises(PimsUnavailable):
        auth.login(Credentials("u", "p", "c"))
    assert playwright_browser.contexts == []


def test_slow_login_times_out_as_unavailable(simulator, playwright_browser):
    simulator.fault("slow_login", ms=3000)
    auth = IdexxAuthenticator(simulator.url, browser_source=lambda: playwright_browser, timeout_ms=1000)
    with pytest.raises(PimsUnavailable, match="did not complete"):
        auth.login(creds(simulator.clinic(0)))
    assert playwright_browser.contexts == []


# --- provider ----------------------------------------------------------------------------------


def test_provider_matches_the_simulator_truth(simulator, make_provider):
    provider = make_provider(0)
    assert isinstance(provider, PimsProvider)
    clinic = simulator.clinic(0)
    start, end = day_window(clinic, days=3, offset=-2)  # consultations exist up to today
    appointments = provider.appointments(start, end)
    today = date.fromisoformat(clinic["today"])
    truth = simulator.truth(clinic["id"], (today - timedelta(days=2)).isoformat(), clinic["today"])
    expected = {str(e["id"]) for e in truth["events"] if not e.get("is_block") and not e.get("is_roster")}
    assert expected and {a.id for a in appointments} == expected
    assert all(start <= a.start < end and a.start.tzinfo is not None for a in appointments)
    assert provider.external_id(appointments[0].id) == f"pims-appt-idexx-neo-{appointments[0].id}"

    consultations = provider.consultations(start, end)
    assert {c.id for c in consultations} == {str(c["id"]) for c in truth["consultations"]}
    assert len(consultations) > 20  # more than one page
    pages = simulator.stats()["requests_by_endpoint"]["consultations_search"]
    assert pages >= 2 and provider.stats.requests["/consultations/search"] == pages

    detail = provider.consultation(consultations[0].id)
    assert detail.id == consultations[0].id and detail.date == consultations[0].date
    assert provider.consultation_view(consultations[0].id).notes
    config = provider.schedule_config()
    assert config.slot_minutes > 0 and config.rooms
    assert provider.stats.logins == 1 and simulator.stats()["logins_total"] == 1


def test_cached_session_is_reused_without_loading_credentials(simulator, make_provider):
    cache, loads = InMemorySessionCache(), []
    start, end = day_window(simulator.clinic(0))
    make_provider(0, session_cache=cache, loads=loads).appointments(start, end)
    make_provider(0, session_cache=cache, loads=loads).appointments(start, end)
    assert len(loads) == 1 and simulator.stats()["logins_total"] == 1


def test_expired_session_costs_exactly_one_login(simulator, make_provider):
    provider = make_provider(0)
    start, end = day_window(simulator.clinic(0))
    before = provider.appointments(start, end)
    assert simulator.expire_sessions() == 1
    assert provider.appointments(start, end) == before
    assert simulator.stats()["logins_total"] == 2 and provider.stats.logins == 2


def test_a_session_dead_on_arrival_is_unavailable_not_a_login_loop(simulator, make_provider):
    simulator.control("config", {"session_max_s": 0})  # every session is dead on arrival
    provider = make_provider(0)
    with pytest.raises(PimsUnavailable, match="fresh login"):  # issue 13: not "session expired"
        provider.appointments(*day_window(simulator.clinic(0)))
    assert simulator.stats()["logins_total"] == 1


def test_wrong_credentials_mean_one_login_attempt(simulator, make_provider):
    clinic, loads = simulator.clinic(0), []
    provider = make_provider(0, credentials=creds(clinic, password="nope-nope-nope"), loads=loads)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            provider.appointments(*day_window(clinic))
    stats = simulator.stats()
    assert stats["failed_logins_total"] == 1 and stats["logins_total"] == 0 and len(loads) == 1


def test_html_instead_of_json_is_a_protocol_error_not_empty(simulator, make_provider):
    simulator.fault("html", endpoint="calendar")
    provider = make_provider(0)
    with pytest.raises(PimsUnavailable) as info:  # after one re-login (the schedule lookup worked)
        provider.appointments(*day_window(simulator.clinic(0)))
    assert "HTML" in str(info.value) and "/appointments/getCalendarEventData" in str(info.value)
    assert simulator.stats()["logins_total"] <= 2


def test_truncated_json_is_a_protocol_error(simulator, make_provider):
    simulator.fault("truncated_json", endpoint="consultations_search")
    with pytest.raises(PimsProtocolError):
        make_provider(0).consultations(*day_window(simulator.clinic(0)))


def test_5xx_and_429_bursts_are_retried(simulator, make_provider):
    sleeps = []
    provider = make_provider(0, client_options={"sleep": sleeps.append})
    start, end = day_window(simulator.clinic(0))
    simulator.fault("error", endpoint="calendar", statuses=[500, 502, 503], count=2)
    assert provider.appointments(start, end)
    assert len(sleeps) == 2 and provider.stats.requests["/appointments/getCalendarEventData"] == 3
    simulator.fault("rate_limit", endpoint="consultations_search", retry_after_s=7, count=1)
    assert provider.consultations(start, end)
    assert sleeps[2] == 7.0 and provider.stats.requests["/consultations/search"] == 2


def test_permanent_503_is_unavailable(simulator, make_provider):
    simulator.fault("error", endpoint="calendar", status=503)
    provider = make_provider(0, client_options={"sleep": lambda s: None, "max_attempts": 3})
    with pytest.raises(PimsUnavailable, match="3 attempts"):
        provider.appointments(*day_window(simulator.clinic(0)))


def test_threads_share_one_relogin_after_expiry(simulator, make_provider):
    provider = make_provider(0)
    start, end = day_window(simulator.clinic(0), days=2, offset=-1)
    ids = [c.id for c in provider.consultations(start, end)]
    simulator.expire_sessions()
    with ThreadPoolExecutor(max_workers=5) as pool:
        details = list(pool.map(provider.consultation, ids))
    assert [d.id for d in details] == ids
    assert simulator.stats()["logins_total"] == 2
    assert provider.stats.requests["/consultations/{id}/page-data"] >= len(ids)


@pytest.mark.parametrize(
    "index, days",
    [
        (0, (("2026-03-08", 23), ("2026-11-01", 25))),  # New York: spring forward; fall back (01:30 twice)
        (2, (("2026-04-05", 25), ("2026-10-04", 23))),  # Sydney: fall back; spring forward
    ],
)
def test_dst_days_give_the_whole_local_day(make_simulator, make_provider, index, days):
    sim = make_simulator(clinics=3)
    clinic = sim.clinic(index)
    tz = ZoneInfo(clinic["timezone"])
    provider = make_provider(index, sim=sim)
    for day, hours in days:
        start = datetime.combine(date.fromisoformat(day), time(), tzinfo=tz)
        end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=tz)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
        appointments = provider.appointments(start, end)
        truth = sim.truth(clinic["id"], day, day)["events"]
        by_id = {str(e["id"]): e for e in truth if not e.get("is_block") and not e.get("is_roster")}
        assert by_id and {a.id for a in appointments} == set(by_id)
        for a in appointments:  # each UTC instant reads back as the wall time IDEXX showed
            assert a.start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") == by_id[a.id]["start"]


def test_schedule_settings_fall_back_to_the_legacy_endpoint_then_to_room_ids(simulator, make_provider):
    clinic = simulator.clinic(0)
    start, end = day_window(clinic)
    rooms = {str(r["id"]): r["name"] for r in simulator.server.state.world.clinic(clinic["id"]).rooms}
    simulator.fault("html", endpoint="appointment_view")
    legacy = make_provider(0)
    assert legacy.schedule_config().source == "/schedule/getScheduleConfigs"
    named = legacy.appointments(start, end)
    assert {a.room for a in named if a.room} <= set(rooms.values()) and legacy.warnings == []

    simulator.fault("error", endpoint="schedule", status=503)
    neither = make_provider(0)
    found = neither.appointments(start, end)  # a sync never fails for room names alone
    assert [a.id for a in found] == [a.id for a in named]
    assert any(a.room for a in found) and {a.room for a in found if a.room} <= set(rooms)  # ids, not names
    assert len(neither.warnings) == 1 and "rooms shown by id" in neither.warnings[0]
    assert not any(a.patient_name and a.patient_name in neither.warnings[0] for a in found)
