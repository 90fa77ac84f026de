"""IdexxProvider against a scripted local server (login stands in: no browser needed).

The paging guard, and the session policy of ``_call``: a rejected session that had worked is an
expiry (one re-login); a rejected session that never worked is IDEXX not serving (backoff, then
PimsUnavailable, no login). The session tests call ``_call`` with a bare fetch so they do not
depend on any endpoint's transform.
"""

import json
from datetime import UTC, datetime

import pytest

from pims_sync.errors import PimsProtocolError, PimsUnavailable
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
    return {"id": i, "appointmentId": 1000 + i, "patientName": "Rex", "clientName": "Ann Lee",
            "consultedAt": "2026-11-26 10:00:00", "status": "completed"}


def provider_for(url, **kw):
    kw.setdefault("authenticator", CookieLogin())
    kw.setdefault("client_options", {"sleep": lambda s: None})
    return IdexxProvider(
        clinic=Clinic(id="c1", name="Test", timezone="America/New_York"),
        credentials_loader=lambda: Credentials("u", "p", "c"),
        base_url=url,
        **kw,
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


OK = Reply(200, json.dumps({"appointments": []}))
LOGIN_REDIRECT = Reply(302, "", {"Location": "/login"})
MAINTENANCE = Reply(200, "<html><body>Down for maintenance. Biscuit Okonkwo</body></html>",
                    {"Content-Type": "text/html"})


def fetch(client):
    return client.get_json("/x", expect=dict, endpoint="/x")


def test_expiry_adopts_a_session_another_worker_just_cached():
    from pims_sync.providers.session import InMemorySessionCache

    cache = InMemorySessionCache()
    cache.set("c1", {"neo_session": "old"}, ttl_s=60)
    cache.mark_verified("c1", {"neo_session": "old"})  # it served data before
    with StubServer() as stub:
        stub.script("/x", LOGIN_REDIRECT, OK)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()), session_cache=cache)
        provider.ensure_session()
        cache.set("c1", {"neo_session": "other-worker"}, ttl_s=60)  # stored while ours died
        assert provider._call(fetch) == {"appointments": []}
        assert "neo_session=other-worker" in stub.requests[-1]["headers"]["Cookie"]
    assert login.logins == 0 and provider.stats.session_expired == 1


def test_expiry_after_data_costs_exactly_one_relogin():
    with StubServer() as stub:
        stub.script("/x", OK, LOGIN_REDIRECT, OK)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()))
        assert provider._call(fetch) == {"appointments": []}
        assert provider._call(fetch) == {"appointments": []}
    assert login.logins == 2 and provider.stats.session_expired == 1


@pytest.mark.parametrize("reply", [MAINTENANCE, LOGIN_REDIRECT, Reply(403, "{}")])
def test_rejection_right_after_a_fresh_login_is_unavailable_not_expiry(reply):
    sleeps = []
    with StubServer() as stub:
        stub.script("/x", reply)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()),
                                client_options={"sleep": sleeps.append, "max_attempts": 4})
        with pytest.raises(PimsUnavailable) as info:
            provider._call(fetch)
        assert stub.hits("/x") == 4 and len(sleeps) == 3  # retried with backoff on the same session
        message = str(info.value)
        assert "/x" in message and "fresh login" in message and "Biscuit" not in message
        # the same dead generation: one try per later call, still no login
        with pytest.raises(PimsUnavailable):
            provider._call(fetch)
        assert stub.hits("/x") == 5 and len(sleeps) == 3
    assert login.logins == 1 and provider.stats.session_expired == 0


def test_a_fresh_session_that_recovers_within_the_retries_is_used():
    with StubServer() as stub:
        stub.script("/x", MAINTENANCE, MAINTENANCE, OK)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()))
        assert provider._call(fetch) == {"appointments": []}
    assert login.logins == 1


def test_html_after_the_relogin_stops_there():
    """HTML everywhere after data worked: one re-login, then unavailable, never a second login."""
    with StubServer() as stub:
        stub.script("/x", OK, MAINTENANCE)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()),
                                client_options={"sleep": lambda s: None, "max_attempts": 3})
        provider._call(fetch)
        for _ in range(5):
            with pytest.raises(PimsUnavailable):
                provider._call(fetch)
    assert login.logins == 2 and provider.stats.session_expired == 1


def test_unavailable_drops_the_dead_session_from_the_cache_so_the_next_sync_logs_in_afresh():
    from pims_sync.providers.session import InMemorySessionCache

    cache = InMemorySessionCache()
    with StubServer() as stub:
        stub.script("/x", MAINTENANCE)
        provider = provider_for(stub.url, authenticator=CookieLogin(), session_cache=cache)
        with pytest.raises(PimsUnavailable):
            provider._call(fetch)
    assert cache.get("c1") is None


def test_an_unverified_cached_session_rejected_is_unavailable_not_a_login():
    """Another worker just logged in and nobody has had data with it: a rejection is an outage."""
    from pims_sync.providers.session import InMemorySessionCache

    cache = InMemorySessionCache()
    cache.set("c1", {"neo_session": "just-logged-in-elsewhere"}, ttl_s=60)
    with StubServer() as stub:
        stub.script("/x", MAINTENANCE)
        provider = provider_for(stub.url, authenticator=(login := CookieLogin()), session_cache=cache)
        with pytest.raises(PimsUnavailable):
            provider._call(fetch)
    assert login.logins == 0


def test_success_marks_the_cached_session_verified_for_every_worker():
    from pims_sync.providers.session import InMemorySessionCache

    cache = InMemorySessionCache()
    with StubServer() as stub:
        stub.script("/x", OK)
        provider = provider_for(stub.url, authenticator=CookieLogin(), session_cache=cache)
        provider._call(fetch)
    assert cache.is_verified("c1", {"neo_session": "stub"})
