"""IdexxClient against a real local HTTP server: retries, 429, expiry detection, bad bodies."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from pims_sync.errors import PimsProtocolError, PimsUnavailable, RateLimited, SessionExpired
from pims_sync.providers.idexx.client import IdexxClient, SessionRejected

from .stub_server import Reply, StubServer

OK = Reply(200, json.dumps({"events": []}))
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture
def sleeps():
    return []


def make(stub, sleeps, **kw):
    calls = []
    kw.setdefault("on_request", lambda endpoint, status, attempt: calls.append((endpoint, status, attempt)))
    client = IdexxClient(stub.url, cookies={"neo_session": "s3cret-cookie"}, sleep=sleeps.append, **kw)
    client.calls = calls
    return client


def is_calendar(body):
    return isinstance(body, dict) and isinstance(body.get("events"), list)


def test_sends_headers_cookies_and_params(stub, sleeps):
    stub.script("/appointments/getCalendarEventData", OK)
    client = make(stub, sleeps)
    body = client.get_json(
        "/appointments/getCalendarEventData", {"start": "2026-11-26 00:00:00"}, expect=is_calendar
    )
    assert body == {"events": []}
    (req,) = stub.requests
    assert req["headers"]["Accept"] == "application/json"
    assert req["headers"]["X-Requested-With"] == "XMLHttpRequest"
    assert "neo_session=s3cret-cookie" in req["headers"]["Cookie"]
    assert "start=2026-11-26+00%3A00%3A00" in req["url"] or "start=2026-11-26%2000%3A00%3A00" in req["url"]
    assert "s3cret" not in repr(client)


def test_5xx_burst_is_retried_with_growing_jittered_backoff(stub, sleeps):
    stub.script("/x", Reply(502, "bad gateway"), Reply(503, "busy"), Reply(500, "oops"), OK)
    client = make(stub, sleeps, max_attempts=4, backoff_base_s=0.5, backoff_max_s=1.5, jitter=lambda: 1.0)
    assert client.get_json("/x", expect=dict) == {"events": []}
    assert stub.hits("/x") == 4
    assert sleeps == [0.5, 1.0, 1.5]  # base * 2**n, capped at backoff_max_s
    assert [c[1] for c in client.calls] == [502, 503, 500, 200]


def test_full_jitter_stays_within_the_exponential_bound(stub, sleeps):
    stub.script("/x", Reply(503), Reply(503), OK)
    client = make(stub, sleeps, backoff_base_s=1.0, jitter=lambda: 0.25)
    client.get_json("/x")
    assert sleeps == [0.25, 0.5]


def test_permanent_503_gives_up_with_pims_unavailable(stub, sleeps):
    stub.script("/appointments/getCalendarEventData", Reply(503, "down"))
    client = make(stub, sleeps, max_attempts=3)
    with pytest.raises(PimsUnavailable) as info:
        client.get_json("/appointments/getCalendarEventData", expect=is_calendar)
    assert stub.hits("/appointments/getCalendarEventData") == 3
    assert "/appointments/getCalendarEventData" in str(info.value) and "3 attempts" in str(info.value)
    assert len(sleeps) == 2


def test_429_honours_retry_after_seconds(stub, sleeps):
    stub.script("/x", Reply(429, "{}", {"Retry-After": "3"}), Reply(429, "{}", {"Retry-After": "120"}), OK)
    client = make(stub, sleeps, retry_after_max_s=10)
    assert client.get_json("/x") == {"events": []}
    assert sleeps == [3.0, 10.0]  # the second one capped


def test_429_honours_retry_after_http_date(stub, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    stub.script("/x", Reply(429, "{}", {"Retry-After": when}), OK)
    client = make(stub, sleeps)
    client.get_json("/x")
    assert 25 <= sleeps[0] <= 30


def test_429_until_the_end_raises_rate_limited(stub, sleeps):
    stub.script("/x", Reply(429, "{}", {"Retry-After": "2"}))
    client = make(stub, sleeps, max_attempts=2)
    with pytest.raises(RateLimited) as info:
        client.get_json("/x")
    assert info.value.retry_after_s == 2.0 and stub.hits("/x") == 2


def test_connection_refused_is_unavailable_after_retries(sleeps):
    with StubServer() as dead:
        url = dead.url
    client = IdexxClient(url, cookies={}, sleep=sleeps.append, max_attempts=2, connect_timeout_s=1)
    with pytest.raises(PimsUnavailable, match="could not be reached"):
        client.get_json("/x")
    assert len(sleeps) == 1


def test_read_timeout_is_retried_then_unavailable(stub, sleeps):
    stub.script("/slow", Reply(200, "{}", delay_s=1.0))
    client = make(stub, sleeps, read_timeout_s=0.2, max_attempts=2)
    with pytest.raises(PimsUnavailable, match="timed out"):
        client.get_json("/slow")
    assert stub.hits("/slow") == 2


@pytest.mark.parametrize(
    "reply, evidence",
    [
        (Reply(302, "", {"Location": "/login"}), "redirect"),
        (Reply(302, "", {"Location": "https://us.idexxneo.com/login?next=/x"}), "redirect"),
        (Reply(401, "{}"), "status"),
        (Reply(403, "<html>forbidden</html>", HTML), "status"),
        (Reply(200, '<html><form id="login-form"><input name="password"></form></html>', HTML), "login_page"),
        (Reply(200, "<!doctype html><html><body>Oops</body></html>", {"Content-Type": "text/plain"}), "html"),
    ],
)
def test_expired_session_is_detected_and_never_retried(stub, sleeps, reply, evidence):
    stub.script("/x", reply)
    client = make(stub, sleeps)
    with pytest.raises(SessionExpired) as info:
        client.get_json("/x", expect=is_calendar)
    assert isinstance(info.value, SessionRejected) and info.value.evidence == evidence
    assert stub.hits("/x") == 1 and sleeps == []
    assert "s3cret" not in str(info.value)


def test_other_redirect_is_a_protocol_error(stub, sleeps):
    stub.script("/x", Reply(302, "", {"Location": "/maintenance"}))
    with pytest.raises(PimsProtocolError, match="redirect"):
        make(stub, sleeps).get_json("/x")


@pytest.mark.parametrize("body", ["null", '{"data": []}', "[]"])
def test_wrong_shaped_json_is_a_protocol_error_at_once_not_empty(stub, sleeps, body):
    stub.script("/appointments/getCalendarEventData", Reply(200, body))
    with pytest.raises(PimsProtocolError) as info:
        make(stub, sleeps).get_json("/appointments/getCalendarEventData", expect=is_calendar)
    assert info.value.endpoint == "/appointments/getCalendarEventData"
    assert stub.hits("/appointments/getCalendarEventData") == 1 and sleeps == []
    assert not hasattr(info.value, "snippet")


PATIENT_BODY = '{"events": [{"id": 1, "patient_name": "Biscuit", "first_name": "Marguerite", "last_name": "Okonkwo"'


@pytest.mark.parametrize("body", [PATIENT_BODY, "", '{"events": [{"id": 1}, {"id"'])
def test_malformed_json_is_retried_like_a_5xx_then_fails_naming_the_endpoint_not_the_body(stub, sleeps, body):
    stub.script("/appointments/getCalendarEventData", Reply(200, body))
    client = make(stub, sleeps, max_attempts=3, jitter=lambda: 1.0, backoff_base_s=0.5)
    with pytest.raises(PimsProtocolError) as info:
        client.get_json("/appointments/getCalendarEventData", expect=is_calendar)
    assert stub.hits("/appointments/getCalendarEventData") == 3 and sleeps == [0.5, 1.0]
    message = str(info.value)
    assert "/appointments/getCalendarEventData" in message and "3 attempts" in message
    for name in ("Biscuit", "Marguerite", "Okonkwo", '"id"'):
        assert name not in message


def test_truncated_json_then_a_good_body_succeeds(stub, sleeps):
    stub.script("/x", Reply(200, PATIENT_BODY), OK)
    assert make(stub, sleeps).get_json("/x", expect=is_calendar) == {"events": []}
    assert stub.hits("/x") == 2 and len(sleeps) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(404, '{"error": "no consultation for Biscuit Okonkwo"}'),
        Reply(200, '{"appointments": "Biscuit Okonkwo"}'),
        Reply(200, "<html><body>Biscuit Okonkwo, 555-0100</body></html>", HTML),
    ],
)
def test_errors_never_carry_the_body(stub, sleeps, reply):
    stub.script("/consultations/9/page-data", reply)
    with pytest.raises((PimsProtocolError, SessionExpired)) as info:
        make(stub, sleeps).get_json("/consultations/9/page-data", expect=is_calendar,
                                    endpoint="/consultations/{id}/page-data")
    assert "Biscuit" not in str(info.value) and "Okonkwo" not in repr(info.value)
    assert "/consultations/{id}/page-data" in str(info.value) or info.value.endpoint == "/consultations/{id}/page-data"
    assert not any("Biscuit" in str(v) for v in vars(info.value).values())


def test_debug_dump_saves_bodies_under_the_endpoint_label_and_logs_no_content(stub, sleeps, tmp_path, caplog):
    stub.script("/consultations/9/page-data", Reply(200, PATIENT_BODY))
    caplog.set_level("DEBUG")
    client = make(stub, sleeps, max_attempts=2, dump_dir=str(tmp_path / "dumps"))
    with pytest.raises(PimsProtocolError):
        client.get_json("/consultations/9/page-data", endpoint="/consultations/{id}/page-data")
    files = sorted((tmp_path / "dumps").iterdir())
    assert len(files) == 2
    assert all("consultations-id-page-data-200" in f.name for f in files)
    assert files[0].read_text() == PATIENT_BODY
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert "Biscuit" not in caplog.text


def test_no_dump_folder_by_default(stub, sleeps, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stub.script("/x", OK)
    make(stub, sleeps).get_json("/x")
    assert list(tmp_path.iterdir()) == []


def test_404_is_a_protocol_error_naming_the_endpoint(stub, sleeps):
    stub.script("/consultations/9/page-data", Reply(404, '{"error": "not found"}'))
    with pytest.raises(PimsProtocolError, match="HTTP 404") as info:
        make(stub, sleeps).get_json("/consultations/9/page-data", endpoint="/consultations/{id}/page-data")
    assert info.value.endpoint == "/consultations/{id}/page-data"
    assert "not found" not in str(info.value)


def test_clone_has_its_own_session_and_the_same_cookies(stub, sleeps):
    stub.script("/x", OK)
    client = make(stub, sleeps)
    twin = client.clone()
    assert twin.session is not client.session
    twin.get_json("/x")
    assert "neo_session=s3cret-cookie" in stub.requests[-1]["headers"]["Cookie"]
    client.set_cookies([{"name": "neo_session", "value": "fresh", "domain": "127.0.0.1", "path": "/"}])
    client.get_json("/x")
    assert "neo_session=fresh" in stub.requests[-1]["headers"]["Cookie"]
    assert twin.cookies() == {"neo_session": "s3cret-cookie"}


def test_html_4xx_is_a_protocol_error_not_an_expiry(stub, sleeps):
    stub.script("/x", Reply(400, "<html><h1>400 Bad Request</h1></html>", HTML))
    with pytest.raises(PimsProtocolError, match="HTTP 400"):
        make(stub, sleeps).get_json("/x")
