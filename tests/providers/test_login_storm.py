"""Failure behaviour against a misbehaving IDEXX: no login storm, one re-login per expiry, no data in errors.

Real Chromium (the worker's BrowserPool, driven from its own thread), the simulator on 127.0.0.1,
a real store for the full-sync cases. The rule under test (provider.py ``_call``): a session that
served data and is then rejected has expired (one re-login per generation, shared by every
thread); a session that never served anything and is rejected means IDEXX is not serving
(backoff, then PimsUnavailable, never another login).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from pims_sync.errors import AuthenticationFailed, PimsProtocolError, PimsUnavailable
from pims_sync.models import Clinic, Credentials
from pims_sync.providers.idexx.auth import IdexxAuthenticator
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.providers.session import InMemorySessionCache
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import run_full_sync
from workers.browser_pool import BrowserPool


class CountingPool(BrowserPool):
    """The worker's pool, recording which thread each login ran on and which thread asked."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.ran_on: list[int] = []
        self.asked_from: list[int] = []

    def run(self, fn):
        self.asked_from.append(threading.get_ident())

        def traced(browser):
            self.ran_on.append(threading.get_ident())
            return fn(browser)

        return super().run(traced)


@pytest.fixture
def pool(chromium_path):
    pool = CountingPool(executable_path=chromium_path, idle_close_s=0)
    yield pool
    pool.close()


def creds(clinic: dict) -> Credentials:
    return Credentials(username=clinic["username"], password=clinic["password"], company_id=clinic["company_id"])


def make_provider(sim, pool, index=0, *, loads=None, cache=None, clinic=None, **kw):
    sim_clinic = sim.clinic(index)

    def loader():
        if loads is not None:
            loads.append(threading.get_ident())
        return creds(sim_clinic)

    clinic = clinic or Clinic(id=sim_clinic["id"], name=sim_clinic["name"], timezone=sim_clinic["timezone"],
                              phone_region=sim_clinic["phone_region"])
    kw.setdefault("client_options", {"sleep": lambda s: None})
    return IdexxProvider(
        clinic=clinic,
        credentials_loader=loader,
        base_url=sim.url,
        authenticator=IdexxAuthenticator(sim.url, browser_source=pool, timeout_ms=15_000),
        session_cache=cache or InMemorySessionCache(),
        **kw,
    )


def window(sim_clinic: dict, days: int, *, offset: int = 0) -> tuple[datetime, datetime]:
    tz = ZoneInfo(sim_clinic["timezone"])
    first = date.fromisoformat(sim_clinic["today"]) + timedelta(days=offset)
    return datetime.combine(first, time(), tz), datetime.combine(first + timedelta(days=days), time(), tz)


def logins(sim, sim_clinic: dict) -> int:
    return sim.stats()["logins"].get(sim_clinic["id"], 0)


def names_in(sim, sim_clinic: dict, start: date, end: date) -> set[str]:
    """Patient and client names the simulator serves in the window (what must never leak)."""
    truth = sim.truth(sim_clinic["id"], start.isoformat(), end.isoformat())
    found = set()
    for event in truth["events"]:
        for key in ("patient_name", "first_name", "last_name"):
            value = event.get(key)
            if isinstance(value, str) and len(value) >= 4:
                found.add(value)
    assert found, "the simulator served no names to look for"
    return found


# --- a forced expiry mid-sync --------------------------------------------------------------------


def test_forced_expiry_mid_enrichment_costs_exactly_one_relogin_on_the_process_browser(simulator, pool):
    sim_clinic, loads = simulator.clinic(0), []
    provider = make_provider(simulator, pool, loads=loads)
    ids = [c.id for c in provider.consultations(*window(sim_clinic, 3, offset=-2))]
    assert len(ids) > 10
    assert simulator.expire_sessions() == 1
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="enrich") as threads:
        details = list(threads.map(provider.consultation, ids))
    assert [d.id for d in details] == ids
    assert logins(simulator, sim_clinic) == 2 and provider.stats.logins == 2
    assert provider.stats.session_expired >= 1 and provider.stats.unavailable == 0
    # the re-login was asked for by an enrichment thread and ran on the pool's one browser thread
    assert len(set(pool.ran_on)) == 1 and pool.ran_on[0] not in pool.asked_from
    assert any(t != threading.get_ident() for t in pool.asked_from)
    assert pool.launches == 1
    provider.close()


# --- the login storm ---------------------------------------------------------------------------


def test_html_on_every_page_data_costs_at_most_two_logins_and_fails_cleanly(simulator, pool):
    """The storm that made 140 logins in 300 s: now one login, one re-login, then PimsUnavailable."""
    sim_clinic = simulator.clinic(0)
    provider = make_provider(simulator, pool, client_options={"sleep": lambda s: None, "max_attempts": 3})
    start, end = window(sim_clinic, 20, offset=-19)
    ids = [c.id for c in provider.consultations(start, end)]  # the session has served data
    assert len(ids) > 40
    simulator.fault("html", endpoint="consultation_page_data", clinic_id=sim_clinic["id"])

    def fetch(cid):
        try:
            provider.consultation(cid)
        except PimsUnavailable as e:
            return e
        raise AssertionError("page-data answered HTML, yet the provider returned a consultation")

    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="enrich") as threads:
        errors = list(threads.map(fetch, ids))
    assert logins(simulator, sim_clinic) <= 2 and provider.stats.logins <= 2
    message = str(errors[-1])
    assert "/consultations/{id}/page-data" in message and "HTML page" in message and "fresh login" in message
    # once IDEXX was found not serving, each further consultation cost one request, not a backoff series
    requests = provider.stats.requests["/consultations/{id}/page-data"]
    assert requests <= len(ids) + 5 * 3 + 5
    assert pool.launches == 1
    provider.close()


def test_enrichment_phase_over_twenty_days_fails_cleanly_with_at_most_two_logins(simulator, pool, store):
    sim_clinic = simulator.clinic(0)
    row = store.create_clinic(name=sim_clinic["name"], timezone=sim_clinic["timezone"])
    clinic = Clinic(id=row.id, name=row.name, timezone=row.timezone, phone_region=sim_clinic["phone_region"])
    provider = make_provider(simulator, pool, clinic=clinic,
                             client_options={"sleep": lambda s: None, "max_attempts": 3})
    simulator.fault("html", endpoint="consultation_page_data", clinic_id=sim_clinic["id"])
    today = date.fromisoformat(sim_clinic["today"])
    now = datetime.combine(today, time(12), ZoneInfo(sim_clinic["timezone"])).astimezone(UTC)
    options = SyncOptions(lookback_days=20, days_ahead=0, parallel_batch_size=2)
    result = run_full_sync(store, provider, clinic, options, sync_type="full", trigger="cli", now=now)
    assert logins(simulator, sim_clinic) <= 2
    assert result["success"] is False and result["inboundResult"]["status"] == "completed"
    cases = result["casesResult"]
    with_consultation = [c for c in store.list_cases(clinic.id) if c["consultation_external_id"]]
    assert cases["status"] == "failed" and len(with_consultation) > 20
    assert cases["error"]["code"] == "pims_unavailable"
    assert "page-data answered an HTML page" in cases["error"]["message"] and "fresh login" in cases["error"]["message"]
    # the outage stops the phase: only the fetches in flight reach IDEXX (at most
    # parallel_batch_size at a time, each a few attempts: the client's 3 and the provider's one
    # repeat), not one call per consultation of the twenty days, however loaded the machine is
    asked = simulator.stats()["requests_by_clinic_endpoint"][sim_clinic["id"]].get("consultation_page_data", 0)
    assert 0 < asked <= 5 * options.parallel_batch_size < len(with_consultation)
    assert result["reconciliationResult"]["status"] == "not_run"  # never on the back of a failed phase
    assert pool.launches == 1
    provider.close()


def test_html_right_after_the_first_login_is_unavailable_with_one_login(simulator, pool):
    sim_clinic = simulator.clinic(0)
    simulator.fault("html", endpoint="consultations_search", clinic_id=sim_clinic["id"])
    sleeps: list[float] = []
    provider = make_provider(simulator, pool, client_options={"sleep": sleeps.append, "max_attempts": 4})
    with pytest.raises(PimsUnavailable) as info:  # the first data call of the session
        provider.consultations(*window(sim_clinic, 1))
    assert "/consultations/search" in str(info.value) and "maintenance" in str(info.value)
    assert logins(simulator, sim_clinic) == 1 and len(sleeps) == 3
    provider.close()


# --- two-step verification ------------------------------------------------------------------------


def test_otp_page_is_authentication_failed_after_one_attempt_and_never_retried(simulator, pool):
    sim_clinic = simulator.clinic(0)
    simulator.control(f"clinics/{sim_clinic['id']}/dialect", {"twoStep": "otp"}, method="PUT")
    loads: list[int] = []
    provider = make_provider(simulator, pool, loads=loads)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed) as info:
            provider.appointments(*window(sim_clinic, 1))
        assert info.value.reason == "two_factor_required"
        assert "two-step verification is on for this account" in str(info.value)
    with ThreadPoolExecutor(max_workers=3) as threads:  # other threads do not try again either
        outcomes = list(threads.map(lambda _: _raises(provider.ensure_session), range(3)))
    assert all(isinstance(o, AuthenticationFailed) for o in outcomes)
    assert len(loads) == 1 and provider.stats.login_attempts == 1 and len(pool.ran_on) == 1
    provider.close()


def _raises(fn):
    try:
        fn()
    except Exception as e:
        return e
    return None


# --- the login page, per the facts --------------------------------------------------------------

FORM = """<!doctype html><html><body><h1>Sign in</h1>{banner}
<form method="post" action="/login"><input type="email" name="user_email">
<input type="password" name="pw"><input name="companyId">
<button type="submit">Sign in</button></form></body></html>"""


class LoginStub:
    """A tiny real HTTP server: a login page in the facts' other spellings, and what a POST gets."""

    def __init__(self, outcome: str):
        stub = self
        self.posts = 0
        self.posted: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body, headers=()):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/home"):
                    self._send(200, "<html><body>Welcome</body></html>")
                else:
                    self._send(200, FORM.format(banner=""))

            def do_POST(self):  # noqa: N802
                stub.posts += 1
                stub.posted.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if outcome == "otp":
                    self._send(200, '<html><body><form><input name="otp"><button type="submit">Go</button>'
                                    "</form></body></html>")
                elif outcome == "wrong":
                    self._send(200, FORM.format(banner='<div class="alert-danger">Wrong password</div>'))
                elif outcome == "no_cookie":
                    self._send(302, "", [("Location", "/home")])
                else:
                    self._send(302, "", [("Location", "/home"), ("Set-Cookie", "NeoAuthToken=abc; Path=/")])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    "outcome, reason",
    [("otp", "two_factor_required"), ("wrong", "invalid_credentials"), ("no_cookie", "login_page_changed")],
)
def test_login_page_variants_and_failures(pool, outcome, reason):
    stub = LoginStub(outcome)
    try:
        auth = IdexxAuthenticator(stub.url, browser_source=pool, timeout_ms=10_000)
        with pytest.raises(AuthenticationFailed) as info:
            auth.login(Credentials("vet@example.org", "pa55-word-xyz", "ACME-1"))
    finally:
        stub.close()
    assert info.value.reason == reason and stub.posts == 1
    assert "pa55-word-xyz" not in str(info.value)
    if outcome == "wrong":
        assert "Wrong password" in str(info.value)


def test_login_with_email_password_types_companyid_and_an_auth_cookie(pool):
    stub = LoginStub("ok")
    try:
        cookies = IdexxAuthenticator(stub.url, browser_source=pool).login(
            Credentials("vet@example.org", "pa55-word-xyz", "ACME-1"))
    finally:
        stub.close()
    assert cookies == {"NeoAuthToken": "abc"}
    assert "user_email=vet%40example.org" in stub.posted[0] and "companyId=ACME-1" in stub.posted[0]


# --- no patient data in errors or logs ------------------------------------------------------------


def test_no_error_audit_or_log_line_carries_patient_or_client_names(simulator, pool, store, caplog):
    caplog.set_level(logging.DEBUG)
    sim_clinic = simulator.clinic(0)
    row = store.create_clinic(name=sim_clinic["name"], timezone=sim_clinic["timezone"])
    clinic = Clinic(id=row.id, name=row.name, timezone=row.timezone, phone_region=sim_clinic["phone_region"])
    today = date.fromisoformat(sim_clinic["today"])
    names = names_in(simulator, sim_clinic, today - timedelta(days=3), today + timedelta(days=1))
    # a calendar cut off mid-body (names in it), retried, then failing the phase
    simulator.fault("truncated_json", endpoint="calendar", clinic_id=sim_clinic["id"])
    provider = make_provider(simulator, pool, clinic=clinic,
                             client_options={"sleep": lambda s: None, "max_attempts": 2})
    with pytest.raises(PimsProtocolError) as info:
        provider.appointments(datetime.combine(today - timedelta(days=3), time(), ZoneInfo(clinic.timezone)),
                              datetime.combine(today + timedelta(days=2), time(), ZoneInfo(clinic.timezone)))
    assert "/appointments/getCalendarEventData" in str(info.value)
    now = datetime.combine(today, time(12), ZoneInfo(clinic.timezone)).astimezone(UTC)
    result = run_full_sync(store, provider, clinic, SyncOptions(lookback_days=3, days_ahead=1),
                           sync_type="full", trigger="cli", now=now)
    audits = [store.get_audit(result["syncId"])] if result.get("syncId") else []
    audits += store.child_audits(result["syncId"]) if result.get("syncId") else []
    seen = "\n".join([str(info.value), repr(result), caplog.text] + [repr(a) for a in audits])
    assert "getCalendarEventData" in seen
    leaked = sorted(n for n in names if n in seen)
    assert leaked == [], f"patient/client names in errors, audits or logs: {len(leaked)}"
    provider.close()


# --- all workers of a clinic, and clinics on different hosts --------------------------------------

KEY = "test-encryption-key-0123456789abcdef"


def _worker_runtime(settings, sims_by_url):
    """A worker's runtime whose credentials come from the simulator instead of the store."""
    from workers.runtime import WorkerRuntime

    class Runtime(WorkerRuntime):
        def credentials_loader(self, clinic_id, provider="idexx"):
            def load():
                for sim in sims_by_url.values():
                    for c in sim.clinics:
                        if c["id"] == clinic_id:
                            return creds(c)
                raise AssertionError("unknown clinic")

            return load

    return Runtime(settings)


def _clinic(sim_clinic, host=None):
    return Clinic(id=sim_clinic["id"], name=sim_clinic["name"], timezone=sim_clinic["timezone"],
                  phone_region=sim_clinic["phone_region"], pims_host=host)


def test_two_workers_of_a_clinic_share_one_relogin_through_redis(simulator, worker_redis, worker_redis_url,
                                                                 chromium_path):
    """Two worker processes' worth of providers: one session cache and login lock in Redis."""
    from pims_sync.config import Settings

    settings = Settings(encryption_key=KEY, redis_url=worker_redis_url, idexx_base_url=simulator.url,
                        chromium_path=chromium_path)
    workers = [_worker_runtime(settings, {simulator.url: simulator}) for _ in range(2)]
    sim_clinic = simulator.clinic(0)
    try:
        providers = [rt.provider_for(_clinic(sim_clinic)) for rt in workers]
        start, end = window(sim_clinic, 2, offset=-1)
        ids = [c.id for c in providers[0].consultations(start, end)]
        providers[1].consultations(start, end)  # adopts worker 0's session, already known good
        assert logins(simulator, sim_clinic) == 1
        simulator.expire_sessions()
        with ThreadPoolExecutor(max_workers=6) as threads:
            done = list(threads.map(lambda i: providers[i % 2].consultation(ids[i // 2 % len(ids)]).id,
                                    range(2 * len(ids))))
        assert len(done) == 2 * len(ids)
        assert logins(simulator, sim_clinic) == 2  # one re-login for both workers and all threads
        # and the storm across workers: HTML on page-data costs no more than one further login
        simulator.fault("html", endpoint="consultation_page_data", clinic_id=sim_clinic["id"])
        with ThreadPoolExecutor(max_workers=6) as threads:
            outcomes = list(threads.map(lambda i: _raises(lambda: providers[i % 2].consultation(ids[0])),
                                        range(12)))
        assert all(isinstance(o, PimsUnavailable) for o in outcomes)
        assert logins(simulator, sim_clinic) <= 3
        for p in providers:
            p.close()
    finally:
        for rt in workers:
            rt.close()


def test_clinics_on_different_hosts_sync_side_by_side_and_unlisted_hosts_get_nothing(
        make_simulator, worker_redis, worker_redis_url, chromium_path):
    from pims_sync.config import Settings
    from pims_sync.errors import PimsHostRefused
    from pims_sync.providers.idexx.hosts import origin

    home, other = make_simulator(), make_simulator()
    settings = Settings(encryption_key=KEY, redis_url=worker_redis_url, idexx_base_url=home.url,
                        idexx_extra_hosts=(origin(other.url),), chromium_path=chromium_path)
    rt = _worker_runtime(settings, {home.url: home, other.url: other})
    try:
        on_home, on_other = _clinic(home.clinic(0)), _clinic(other.clinic(1), host=other.url)
        providers = [rt.provider_for(on_home), rt.provider_for(on_other)]
        assert [p.base_url for p in providers] == [home.url, other.url]
        with ThreadPoolExecutor(max_workers=2) as threads:
            found = list(threads.map(lambda p: p.appointments(*window(home.clinic(0), 2)), providers))
        assert all(found)
        assert home.stats()["logins"] == {on_home.id: 1} and other.stats()["logins"] == {on_other.id: 1}

        stranger = Clinic(id="clinic-on-a-stranger-host", name="Elsewhere", timezone="UTC",
                          pims_host="https://collector.example.net")
        refused = rt.provider_for(stranger)
        with pytest.raises(PimsHostRefused) as info:
            refused.appointments(*window(home.clinic(0), 1))
        assert stranger.id in str(info.value) and "IDEXX_EXTRA_HOSTS" in str(info.value)
        assert home.stats()["logins"] == {on_home.id: 1}  # nothing was sent anywhere for it
        for p in providers:
            p.close()
    finally:
        rt.close()
