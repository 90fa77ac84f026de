"""IdexxProvider: the PimsProvider for IDEXX Neo (Playwright login + JSON over requests).

Session rules, the ones that keep a sync from hammering IDEXX or looping:

* ``ensure_session`` uses the cached cookies, else logs in; credentials are loaded only then.
* Every data call that meets SessionExpired invalidates the cache, logs in again **once** (or
  adopts a session another worker has just stored in the shared cache) and repeats the call. A second SessionExpired is an error, not a loop; if the second answer was
  an HTML page that is not a login page, a fresh session cannot be the cure, so it is reported
  as PimsProtocolError (HTML instead of JSON).
* AuthenticationFailed is never retried: wrong credentials mean exactly one login attempt.

Thread safety: the data methods may be called from many threads at once (enrichment). Each
thread gets its own requests session sharing the cookies; re-login is single-flight under a
lock, and a thread whose session was already replaced by another thread's login reuses it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ...errors import AuthenticationFailed, PimsProtocolError, SessionExpired
from ...models import (
    CASE_SOURCE_IDEXX,
    Appointment,
    Clinic,
    Consultation,
    ConsultationSummary,
    Credentials,
    ScheduleConfig,
    external_id_for,
)
from ..base import SessionCache
from ..session import InMemorySessionCache
from . import transforms as t
from .auth import IdexxAuthenticator
from .client import IdexxClient, SessionRejected
from .clock import query_window, zone

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_SESSION_TTL_S = 3600  # IDEXX sessions last hours; re-validated on every call anyway


class ProviderStats:
    """Counters benchmarks and tests read: logins, and HTTP requests per endpoint label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.login_attempts = 0
        self.logins = 0
        self.session_expired = 0
        self.requests: Counter[str] = Counter()

    def count_request(self, endpoint: str, status: int | None, attempt: int) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "login_attempts": self.login_attempts,
                "logins": self.logins,
                "session_expired": self.session_expired,
                "requests": dict(self.requests),
            }


class IdexxProvider:
    """IDEXX Neo for one clinic. Fetches only; never touches the store."""

    source = CASE_SOURCE_IDEXX

    def __init__(
        self,
        *,
        clinic: Clinic,
        credentials_loader: Callable[[], Credentials],
        base_url: str,
        browser_source: Callable[[], Any] | None = None,
        session_cache: SessionCache | None = None,
        client_options: dict[str, Any] | None = None,
        login_lock: Any = None,
        authenticator: IdexxAuthenticator | None = None,
        login_timeout_ms: int = 30_000,
        session_ttl_s: float = DEFAULT_SESSION_TTL_S,
    ):
        if authenticator is None and browser_source is None:
            raise ValueError("IdexxProvider needs a browser_source (or an authenticator)")
        self.clinic = clinic
        self.base_url = base_url.rstrip("/")
        self.tz = zone(clinic.timezone)
        self.stats = ProviderStats()
        self._credentials_loader = credentials_loader
        self._auth = authenticator or IdexxAuthenticator(
            self.base_url, browser_source=browser_source, timeout_ms=login_timeout_ms
        )
        self._cache: SessionCache = session_cache if session_cache is not None else InMemorySessionCache()
        self._session_ttl_s = session_ttl_s
        self._client_options = dict(client_options or {})
        self._user_hook = self._client_options.pop("on_request", None)
        self._login_lock = login_lock or threading.RLock()
        self._state_lock = threading.Lock()
        self._cookies: dict[str, str] | None = None
        self._generation = 0  # bumped whenever the cookies change
        self._local = threading.local()
        self._clients: list[IdexxClient] = []
        self._schedule: tuple[ScheduleConfig, dict[str, str]] | None = None
        self._auth_failure: AuthenticationFailed | None = None

    def __repr__(self) -> str:
        return f"IdexxProvider(clinic={self.clinic.id!r}, base_url={self.base_url!r})"

    # --- session -------------------------------------------------------------------------------

    def ensure_session(self) -> None:
        """Cached cookies if there are any, else a login."""
        if self._cookies is not None:
            return
        with self._login_lock:
            if self._cookies is not None:
                return
            cached = self._cache.get(self.clinic.id)
            if cached:
                self._adopt(cached)
            else:
                self._login()

    def _login(self) -> None:
        """Log in (caller holds the login lock). AuthenticationFailed propagates, never retried."""
        if self._auth_failure is not None:  # other threads must not try the same bad credentials
            failure = self._auth_failure
            raise AuthenticationFailed(str(failure), reason=failure.reason)
        credentials = self._credentials_loader()
        self.stats.bump("login_attempts")
        try:
            cookies = self._auth.login(credentials)
        except AuthenticationFailed as e:
            self._auth_failure = e
            raise
        self.stats.bump("logins")
        self._cache.set(self.clinic.id, cookies, self._session_ttl_s)
        self._adopt(cookies)

    def _adopt(self, cookies: dict[str, str]) -> None:
        with self._state_lock:
            self._cookies = dict(cookies)
            self._generation += 1

    def _relogin(self, seen_generation: int) -> None:
        """Replace the session that failed, unless another thread already did."""
        with self._login_lock:
            if self._generation != seen_generation and self._cookies is not None:
                return
            self.stats.bump("session_expired")
            dead = self._cookies
            self._cache.invalidate(self.clinic.id, dead)
            with self._state_lock:
                self._cookies = None
            fresh = self._cache.get(self.clinic.id)
            if fresh and fresh != dead:  # another worker already logged in: share its session
                self._adopt(fresh)
                return
            log.info("IDEXX session for clinic %s expired; logging in again", self.clinic.id)
            self._login()

    def _client(self) -> tuple[IdexxClient, int]:
        """This thread's client, carrying the current cookies."""
        with self._state_lock:
            cookies, generation = self._cookies, self._generation
        client = getattr(self._local, "client", None)
        if client is None:
            client = IdexxClient(
                self.base_url, cookies=cookies or {}, on_request=self._on_request, **self._client_options
            )
            self._local.client, self._local.generation = client, generation
            with self._state_lock:
                self._clients.append(client)
        elif self._local.generation != generation:
            client.set_cookies(cookies or {})
            self._local.generation = generation
        return client, generation

    def client_for_thread(self) -> IdexxClient:
        """The calling thread's own HTTP client (sessions are per thread, cookies shared)."""
        self.ensure_session()
        return self._client()[0]

    def _on_request(self, endpoint: str, status: int | None, attempt: int) -> None:
        self.stats.count_request(endpoint, status, attempt)
        if self._user_hook is not None:
            self._user_hook(endpoint, status, attempt)

    def _call(self, fetch: Callable[[IdexxClient], T]) -> T:
        """Run ``fetch`` with a live session: on expiry, one re-login and one repeat."""
        self.ensure_session()
        client, generation = self._client()
        try:
            return fetch(client)
        except SessionExpired:
            self._relogin(generation)
        client, _ = self._client()
        try:
            return fetch(client)
        except SessionRejected as second:
            if second.evidence == "html":
                raise PimsProtocolError(
                    "HTML page instead of JSON, even with a fresh session",
                    endpoint=second.endpoint,
                    snippet=second.snippet,
                ) from second
            raise SessionExpired(
                f"IDEXX rejected a session right after a fresh login ({second}); giving up, not looping"
            ) from second

    def close(self) -> None:
        with self._state_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()

    # --- data ----------------------------------------------------------------------------------

    def external_id(self, appointment_id: str) -> str:
        return external_id_for(appointment_id)

    def schedule_config(self) -> ScheduleConfig:
        return self._schedule_data()[0]

    def _schedule_data(self) -> tuple[ScheduleConfig, dict[str, str]]:
        if self._schedule is None:
            body = self._call(lambda c: c.get_json(t.SCHEDULE, expect=t.schedule_shape))
            self._schedule = (t.schedule_config_from_json(body), t.room_names(body))
        return self._schedule

    def appointments(self, start: datetime, end: datetime) -> list[Appointment]:
        """Appointments starting in [start, end); the query is widened in wall time, then filtered."""
        start, end = _utc_range(start, end)
        lo, hi = query_window(start, end, self.tz)
        rooms = self._schedule_data()[1]
        body = self._call(lambda c: c.get_json(t.CALENDAR, t.calendar_params(lo, hi), expect=t.calendar_shape))
        found = t.appointments_from_calendar(body, tz=self.tz, phone_region=self.clinic.phone_region, rooms=rooms)
        return sorted((a for a in found if start <= a.start < end), key=lambda a: (a.start, a.id))

    def consultations(self, start: datetime, end: datetime) -> list[ConsultationSummary]:
        """Every consultation dated in [start, end): reads pages until ``total`` rows are read."""
        start, end = _utc_range(start, end)
        lo, hi = query_window(start, end, self.tz)
        rows: list[ConsultationSummary] = []
        page = 1
        while True:
            params = t.search_params(page, lo, hi)
            body = self._call(lambda c, p=params: c.get_json(t.SEARCH, p, expect=t.search_shape))
            result = t.search_page(body, tz=self.tz)
            rows.extend(result.rows)
            if len(rows) >= result.total:
                break
            if not result.rows:
                raise PimsProtocolError(
                    f"page {page} of the consultation search was empty after {len(rows)} of "
                    f"{result.total} rows; refusing to return a partial list",
                    endpoint=t.SEARCH,
                )
            page += 1
        unique = {r.id: r for r in rows}  # rows can shift between pages while IDEXX is in use
        return sorted((r for r in unique.values() if start <= r.date < end), key=lambda r: (r.date, r.id))

    def consultation(self, consultation_id: str) -> Consultation:
        path = t.page_data_path(consultation_id)
        body = self._call(lambda c: c.get_json(path, expect=t.consultation_shape, endpoint=t.PAGE_DATA))
        return t.consultation_from_page_data(body, tz=self.tz)

    def consultation_view(self, consultation_id: str) -> Consultation:
        """The legacy view: the notes as IDEXX's one clinical-notes text block."""
        path = t.view_path(consultation_id)
        body = self._call(lambda c: c.get_json(path, expect=t.consultation_shape, endpoint=t.VIEW))
        return t.consultation_from_view(body, tz=self.tz)


def _utc_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The range in UTC (same-zone aware datetimes compare by wall clock, not by instant)."""
    for value in (start, end):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("provider ranges take aware datetimes (UTC or with an offset)")
    return start.astimezone(UTC), end.astimezone(UTC)
