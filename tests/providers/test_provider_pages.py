"""IdexxProvider's paging guard against a scripted local server (login stands in: no browser needed)."""

import json
from datetime import UTC, datetime

import pytest

from pims_sync.errors import PimsProtocolError
from pims_sync.models import Clinic, Credentials
from pims_sync.providers.idexx.provider import IdexxProvider

from .stub_server import Reply, StubServer


class CookieLogin:
    """Stands in for the Playwright login (tested against the simulator) with a fixed cookie."""

    def __init__(self):
        self.logins = 0

    def login(self, credentials):
        self.logins += 1
        return {"neo_session": "stub"}


def row(i):
    return {"id": i, "appointment_id": 1000 + i, "patient_id": 1, "patient_name": "Rex",
            "date": "2026-11-26 10:00:00", "status": "Finalised"}


def provider_for(url):
    return IdexxProvider(
        clinic=Clinic(id="c1", name="Test", timezone="America/New_York"),
        credentials_loader=lambda: Credentials("u", "p", "c"),
        base_url=url,
        authenticator=CookieLogin(),
        client_options={"sleep": lambda s: None},
    )


WINDOW = (datetime(2026, 11, 26, 5, tzinfo=UTC), datetime(2026, 11, 27, 5, tzinfo=UTC))


def test_reads_every_page_until_total():
    with StubServer() as stub:
        stub.script(
            "/consultations/search",
            Reply(200, json.dumps({"data": [row(i) for i in range(20)], "total": 45, "page": 1, "perPage": 20})),
            Reply(200, json.dumps({"data": [row(i) for i in range(20, 40)], "total": 45, "page": 2, "perPage": 20})),
            Reply(200, json.dumps({"data": [row(i) for i in range(40, 45)], "total": 45, "page": 3, "perPage": 20})),
        )
        rows = provider_for(stub.url).consultations(*WINDOW)
        pages = [r["url"] for r in stub.requests]
    assert len(rows) == 45 and {r.id for r in rows} == {str(i) for i in range(45)}
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_an_empty_page_before_total_is_a_protocol_error_not_a_short_list():
    with StubServer() as stub:
        stub.script(
            "/consultations/search",
            Reply(200, json.dumps({"data": [row(i) for i in range(20)], "total": 45, "page": 1, "perPage": 20})),
            Reply(200, json.dumps({"data": [], "total": 45, "page": 2, "perPage": 20})),
        )
        with pytest.raises(PimsProtocolError, match="20 of 45"):
            provider_for(stub.url).consultations(*WINDOW)


def test_naive_ranges_are_refused():
    with pytest.raises(ValueError, match="aware"):
        provider_for("http://127.0.0.1:9").appointments(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_expiry_adopts_a_session_another_worker_just_cached():
    from pims_sync.providers.session import InMemorySessionCache

    cache = InMemorySessionCache()
    cache.set("c1", {"neo_session": "old"}, ttl_s=60)
    with StubServer() as stub:
        stub.script("/schedule/getScheduleConfigs", Reply(302, "", {"Location": "/login"}),
                    Reply(200, json.dumps({"slot_duration": 15, "business_hours": [], "providers": [], "rooms": []})))
        provider = IdexxProvider(
            clinic=Clinic(id="c1", name="Test", timezone="America/New_York"),
            credentials_loader=lambda: Credentials("u", "p", "c"),
            base_url=stub.url,
            authenticator=(login := CookieLogin()),
            session_cache=cache,
        )
        provider.ensure_session()
        cache.set("c1", {"neo_session": "other-worker"}, ttl_s=60)  # stored while ours died
        assert provider.schedule_config().slot_minutes == 15
        assert "neo_session=other-worker" in stub.requests[-1]["headers"]["Cookie"]
    assert login.logins == 0 and provider.stats.session_expired == 1
