"""IdexxProvider: the PimsProvider for IDEXX Neo (Playwright login + JSON over requests).

Session rules, the ones that keep a sync from hammering IDEXX or looping:

* ``ensure_session`` uses the cached cookies, else logs in; credentials are loaded only then.
* A session that has served data and is then rejected has expired: the cache entry is
  invalidated and the provider logs in again **once per session generation** (or adopts a
  session another worker has just stored in the shared cache) and repeats the call.
* A session nobody has had data from yet (a fresh login) that is rejected means IDEXX is not
  serving (maintenance, an HTML error page): retried with backoff, then PimsUnavailable. Never
  another login - that is how HTML on page-data once cost 140 logins in 300 s.
* AuthenticationFailed is never retried: wrong credentials or two-step verification mean
  exactly one login attempt.

Thread safety: the data methods may be called from many threads at once (enrichment). Each
thread gets its own requests session sharing the cookies; re-login is single-flight under a
lock, and a thread whose session was already replaced by another thread's login reuses it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from playwright.sync_api import Browser

from ... import metrics
from ...errors import AuthenticationFailed, PimsProtocolError, PimsUnavailable, ProviderError
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
from .chromium import BrowserRunner
from .client import PROVIDER, IdexxClient, SessionRejected
from .clock import query_window, zone

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_SESSION_TTL_S = 3600  # IDEXX sessions last hours; re-validated on every call anyway


class ProviderStats:
    """Counters benchmarks and tests read: logins, re-logins, outages, HTTP requests per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.login_attempts = 0
        self.logins = 0
        self.session_expired = 0  # rejections of a session that had worked (each may cost a re-login)
        self.unavailable = 0  # rejections of a session that never worked (retried, never a re-login)
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
                "unavailable": self.unavailable,
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
        browser_source: BrowserRunner | Callable[[], Browser] | None = None,
        session_cache: SessionCache | None = None,
        client_options: dict[str, Any] | None = None,
        login_lock: Any = None,
        authenticator: IdexxAuthenticator | None = None,
        login_timeout_ms: int = 30_000,
        session_ttl_s: float = DEFAULT_SESSION_TTL_S,
    ):
        if authenticator is None:
            if browser_source is None:
                raise ValueError("IdexxProvider needs a browser_source (or an authenticator)")
            authenticator = IdexxAuthenticator(base_url.rstrip("/"), browser_source=browser_source, timeout_ms=login_timeout_ms)
        self.clinic = clinic
        self.base_url = base_url.rstrip("/")
        self.tz = zone(clinic.timezone)
        self.stats = ProviderStats()
        self._credentials_loader = credentials_loader
        self._auth = authenticator
        self._cache: SessionCache = session_cache if session_cache is not None else InMemorySessionCache()
        self._session_ttl_s = session_ttl_s
        self._client_options = dict(client_options or {})
        self._user_hook = self._client_options.pop("on_request", None)
        self._login_lock = login_lock or threading.RLock()
        self._state_lock = threading.Lock()
        self._cookies: dict[str, str] | None = None
        self._generation = 0  # bumped whenever the cookies change
        self._verified_generation = -1  # the generation a data call succeeded with
        self._unavailable_generation = -1  # a fresh generation IDEXX would not serve (after retries)
        self._local = threading.local()
        self._clients: list[IdexxClient] = []
        self._schedule: _ScheduleLookup | None = None  # schedule settings, read once (_schedule_data)
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
                self._adopt(cached, verified=self._cache_says_verified(cached))
            else:
                self._login()

    def _login(self, kind: str = "login") -> None:
        """Log in (caller holds the login lock). AuthenticationFailed propagates, never retried.

        ``kind``: login or relogin, the label of pims_sync_logins_total (a relogin storm alerts).
        """
        if self._auth_failure is not None:  # other threads must not try the same bad credentials
            failure = self._auth_failure
            raise AuthenticationFailed(str(failure), reason=failure.reason)
        credentials = self._credentials_loader()
        self.stats.bump("login_attempts")
        try:
            cookies = self._auth.login(credentials)
        except AuthenticationFailed as e:
            self._auth_failure = e
            metrics.LOGINS.labels(PROVIDER, kind, "refused").inc()
            raise
        except Exception:
            metrics.LOGINS.labels(PROVIDER, kind, "error").inc()
            raise
        metrics.LOGINS.labels(PROVIDER, kind, "succeeded").inc()
        self.stats.bump("logins")
        self._cache.set(self.clinic.id, cookies, self._session_ttl_s)
        self._adopt(cookies, verified=False)

    def _adopt(self, cookies: dict[str, str], *, verified: bool) -> None:
        with self._state_lock:
            self._cookies = dict(cookies)
            self._generation += 1
            if verified:
                self._verified_generation = self._generation

    def _cache_says_verified(self, cookies: dict[str, str]) -> bool:
        """Whether any worker's data call worked with these cached cookies.

        A cache without that knowledge (an older SessionCache) counts as verified: the old rule,
        one re-login on a rejection.
        """
        is_verified = getattr(self._cache, "is_verified", None)
        return True if is_verified is None else bool(is_verified(self.clinic.id, cookies))

    def _mark_verified(self, generation: int) -> None:
        """The first success on a generation: from now on a rejection is an expiry."""
        with self._state_lock:
            if self._verified_generation == generation or self._generation != generation:
                return
            self._verified_generation = generation
            cookies = self._cookies
        mark = getattr(self._cache, "mark_verified", None)
        if mark is not None and cookies is not None:
            mark(self.clinic.id, cookies)

    def _relogin(self, seen_generation: int) -> None:
        """Replace the session that failed, unless another thread or worker already did.

        At most one login per generation: threads of this sync meet at ``_login_lock`` (across
        workers a Redis lock, workers/runtime.py LoginLock) and find the generation moved on;
        other workers find a different session in the shared cache and adopt it.
        """
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
                self._adopt(fresh, verified=self._cache_says_verified(fresh))
                return
            log.info("IDEXX session for clinic %s expired; logging in again", self.clinic.id)
            self._login("relogin")

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
        """Run ``fetch`` with a live session, telling an expiry from an outage.

        A rejection (login redirect, 401/403, HTML) of a session that has served data is an
        expiry: one re-login for that generation, shared by every thread and worker, and the call
        is repeated. A rejection of a session that has not served anything yet (we, or another
        worker, just logged in) is IDEXX not serving - maintenance, an error page, a broken
        login: another login would not help and a burst of them can lock the account, so the
        call is retried with backoff on the same session and then fails as PimsUnavailable.
        Once a generation has failed like that, later calls on it get one try each.
        """
        self.ensure_session()
        relogged, attempt = False, 0
        while True:
            client, generation = self._client()
            try:
                result = fetch(client)
            except SessionRejected as rejected:
                if self._verified_generation == generation and not relogged:
                    self._relogin(generation)
                    relogged = True
                    continue
                attempt += 1
                self.stats.bump("unavailable")
                budget = 1 if self._unavailable_generation == generation else client.max_attempts
                if attempt >= budget:
                    raise self._unavailable(generation, rejected, attempt) from None
                client.backoff(rejected.endpoint, attempt, f"answered {rejected.what()} right after a login")
                continue
            self._mark_verified(generation)
            return result

    def _unavailable(self, generation: int, rejected: SessionRejected, attempts: int) -> PimsUnavailable:
        """Give up on a session IDEXX never served; the next sync starts with a fresh login."""
        with self._state_lock:
            first = self._unavailable_generation != generation
            self._unavailable_generation = generation
            cookies = self._cookies if self._generation == generation else None
        if first:
            log.warning("IDEXX %s for clinic %s answered %s right after a login; treating IDEXX as "
                        "unavailable, not logging in again", rejected.endpoint, self.clinic.id, rejected.what())
            if cookies is not None:
                self._cache.invalidate(self.clinic.id, cookies)
        return PimsUnavailable(
            f"IDEXX {rejected.endpoint} answered {rejected.what()} instead of JSON right after a fresh "
            f"login ({attempts} attempt{'s' if attempts != 1 else ''}): IDEXX is not serving data "
            "(maintenance or an error page?), not a session expiry; not logging in again"
        )

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
        """The clinic's schedule settings; ProviderError when neither endpoint gave them."""
        lookup = self._schedule_data()
        if lookup.config is None:
            raise PimsProtocolError(f"schedule settings unavailable: {lookup.problem}")
        return lookup.config

    @property
    def warnings(self) -> list[str]:
        """What a sync should report without failing for it (the inbound phase copies these into
        its audit stats as ``warnings``). Today one kind: schedule settings unavailable, so rooms
        are shown by their ids. Messages name endpoints and fields, never response data."""
        lookup = self._schedule
        if lookup is None or lookup.config is not None:
            return []
        return [f"schedule settings unavailable ({lookup.problem}); rooms shown by id"]

    def _schedule_data(self) -> _ScheduleLookup:
        """getAppointmentView, else getScheduleConfigs; read once per provider.

        Room names are a nicety: any ProviderError but a refused login is remembered as the
        problem (see ``warnings``), never raised into the sync.
        """
        if self._schedule is None:
            problems = []
            for endpoint, read in t.SCHEDULE_SOURCES:
                try:
                    body = self._call(partial(IdexxClient.get_json, path=endpoint))
                    self._schedule = _ScheduleLookup(read(body), None)
                    break
                except AuthenticationFailed:
                    raise
                except ProviderError as e:
                    problems.append(str(e))
                    log.info("clinic %s: %s unusable (%s)", self.clinic.id, endpoint, e.__class__.__name__)
            else:
                self._schedule = _ScheduleLookup(None, "; ".join(problems))
        return self._schedule

    def appointments(self, start: datetime, end: datetime) -> list[Appointment]:
        """Appointments starting in [start, end); the query is widened in wall time, then filtered."""
        start, end = _utc_range(start, end)
        lo, hi = query_window(start, end, self.tz)
        lookup = self._schedule_data()
        rooms = lookup.config.room_names() if lookup.config is not None else {}
        body = self._call(lambda c: c.get_json(t.CALENDAR, t.calendar_params(lo, hi)))
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
            body = self._call(partial(IdexxClient.get_json, path=t.SEARCH, params=params))
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
        """page-data; the older view when page-data answers 404 or a body that is not a
        consultation (treated as missing, never stored as an empty consultation)."""
        path = t.page_data_path(consultation_id)
        try:
            body = self._call(lambda c: c.get_json(path, endpoint=t.PAGE_DATA))
        except PimsProtocolError as e:
            if not _not_found(e):
                raise
            return self.consultation_view(consultation_id)
        if not t.is_consultation(body):
            return self.consultation_view(consultation_id)
        return t.consultation_from_page_data(body, tz=self.tz)

    def consultation_view(self, consultation_id: str) -> Consultation:
        """The older ``/consultations/view/{id}``: notes, vitals, diagnoses and products in one."""
        path = t.view_path(consultation_id)
        body = self._call(lambda c: c.get_json(path, endpoint=t.VIEW))
        return t.consultation_from_view(body, tz=self.tz)


@dataclass(frozen=True)
class _ScheduleLookup:
    """The schedule settings, or why neither endpoint gave them (names endpoints and fields)."""

    config: ScheduleConfig | None
    problem: str | None


def _not_found(error: PimsProtocolError) -> bool:
    """A 404 from the client (which reports it as a PimsProtocolError saying "HTTP 404")."""
    return getattr(error, "status", None) == 404 or str(error).startswith("HTTP 404")


def _utc_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The range in UTC (same-zone aware datetimes compare by wall clock, not by instant)."""
    for value in (start, end):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("provider ranges take aware datetimes (UTC or with an offset)")
    return start.astimezone(UTC), end.astimezone(UTC)
