"""HTTP client for IDEXX Neo's internal JSON endpoints, on a requests session with cookies.

What it guarantees, because a sync must never mistake a failure for "no appointments":

* connection errors, timeouts, 5xx and a malformed or truncated JSON body (a proxy cutting
  the answer short looks just like that) are retried with exponential backoff and full jitter
  (delay = U(0, min(backoff_max_s, backoff_base_s * 2**(attempt-1)))); then PimsUnavailable,
  or PimsProtocolError for a body that stayed unreadable;
* 429 waits for ``Retry-After`` (seconds or an HTTP date, capped), then RateLimited;
* a rejected session (3xx to a login page, 401/403, an HTML page) raises SessionRejected at
  once with its evidence: whether that is an expiry or an outage is the provider's call (it
  knows whether this session ever worked), not the client's;
* a body of the wrong JSON shape raises PimsProtocolError naming the endpoint.

Errors never quote a response body (patient and client data end up in audit rows, API answers
and CLI output); ``dump_dir`` saves raw bodies for an operator who asked for them. Cookies are
never logged and never part of a repr or an exception.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import urljoin, urlparse

import requests

from ... import metrics
from ...errors import PimsProtocolError, PimsUnavailable, RateLimited, SessionExpired
from .dump import BodyDump

log = logging.getLogger(__name__)
PROVIDER = "idexx-neo"  # the metrics' provider label

HEADERS = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
Cookies = Mapping[str, str] | Iterable[Mapping[str, Any]]
#: on_request(endpoint, status or None for a connection error/timeout, attempt)
RequestHook = Callable[[str, int | None, int], None]


class _ClientOptions(TypedDict):
    """IdexxClient's keyword options, kept so ``clone`` builds an identical client."""

    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float
    retry_after_max_s: float
    sleep: Callable[[float], None]
    on_request: RequestHook | None
    jitter: Callable[[], float]
    dump_dir: str | None


def cookie_map(cookies: Cookies) -> dict[str, str]:
    """name -> value, from a plain mapping or a list of Playwright cookie dicts."""
    if isinstance(cookies, Mapping):
        return {str(k): str(v) for k, v in cookies.items()}
    return {str(c["name"]): str(c["value"]) for c in cookies}


class SessionRejected(SessionExpired):
    """The PIMS did not serve JSON to this session; ``evidence`` says how (never the body).

    redirect (to the login page) | status (401/403, in ``status``) | login_page | html.
    """

    EVIDENCE = {
        "redirect": "a redirect to its login page",
        "status": "HTTP {status}",
        "login_page": "its HTML login page",
        "html": "an HTML page",
    }

    def __init__(self, message: str, *, evidence: str, endpoint: str, status: int = 200):
        super().__init__(message)
        self.evidence = evidence
        self.endpoint = endpoint
        self.status = status

    def what(self) -> str:
        """What IDEXX answered, in words, e.g. "an HTML page" or "HTTP 403"."""
        return self.EVIDENCE[self.evidence].format(status=self.status)


class _Unreadable(Exception):
    """A 2xx body that is not JSON: retried like a 5xx (it is usually a cut-off answer)."""


class IdexxClient:
    """One requests session; use :meth:`clone` for another thread (sessions are not shared)."""

    def __init__(
        self,
        base_url: str,
        *,
        cookies: Cookies,
        connect_timeout_s: float = 5,
        read_timeout_s: float = 30,
        max_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 8,
        retry_after_max_s: float = 60,
        sleep: Callable[[float], None] = time.sleep,
        on_request: RequestHook | None = None,
        jitter: Callable[[], float] = random.random,
        dump_dir: str | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/") + "/"
        self._options = _ClientOptions(
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            retry_after_max_s=retry_after_max_s,
            sleep=sleep,
            on_request=on_request,
            jitter=jitter,
            dump_dir=dump_dir,
        )
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._sleep = sleep
        self._on_request = on_request
        self._jitter = jitter
        self._dump = BodyDump(dump_dir) if dump_dir else None
        self.session = requests.Session()
        self.session.headers.update(HEADERS)
        self.set_cookies(cookies)

    def __repr__(self) -> str:
        return f"IdexxClient({self.base_url!r})"

    def set_cookies(self, cookies: Cookies) -> None:
        """Replace the session cookies (after a fresh login)."""
        self.session.cookies.clear()
        for name, value in cookie_map(cookies).items():
            self.session.cookies.set(name, value)

    def cookies(self) -> dict[str, str]:
        return {c.name: c.value for c in self.session.cookies if c.value is not None}

    def clone(self) -> IdexxClient:
        """A client with its own HTTP session and the same cookies and options."""
        return IdexxClient(self.base_url, cookies=self.cookies(), **self._options)

    def close(self) -> None:
        self.session.close()

    # --- the one request method ---------------------------------------------------------------

    def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        expect: Callable[[Any], bool] | type | None = None,
        endpoint: str | None = None,
    ) -> Any:
        """GET ``path`` and return its JSON body, checked against ``expect``.

        ``expect`` is a type (``dict``) or a predicate over the parsed body; ``endpoint`` is the
        label used in errors and stats (defaults to ``path``; pass a template for id paths).
        """
        endpoint = endpoint or path
        url = urljoin(self.base_url, path.lstrip("/"))
        failure = ""
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            started = time.monotonic()
            try:
                response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as e:
                self._record(endpoint, None, attempt, started)
                failure = "timed out" if isinstance(e, requests.Timeout) else "could not be reached"
                if last:
                    raise PimsUnavailable(
                        f"IDEXX {endpoint} {failure} ({attempt} attempts): {e.__class__.__name__}"
                    ) from e
                self._backoff(endpoint, attempt, failure)
                continue
            self._record(endpoint, response.status_code, attempt, started)
            status = response.status_code
            if status == 429:
                retry_after = self._retry_after(response.headers.get("Retry-After"))
                if last:
                    raise RateLimited(
                        f"IDEXX {endpoint} still rate-limited after {attempt} attempts", retry_after_s=retry_after
                    )
                if retry_after is None:
                    self._backoff(endpoint, attempt, "429")
                else:
                    log.info("IDEXX %s: 429, waiting %.2fs (Retry-After)", endpoint, retry_after)
                    metrics.RATE_LIMIT_WAIT.labels(PROVIDER).observe(retry_after)
                    self._sleep(retry_after)
                continue
            if status >= 500:
                failure = f"answered HTTP {status}"
                if last:
                    raise PimsUnavailable(f"IDEXX {endpoint} {failure} ({attempt} attempts)")
                self._backoff(endpoint, attempt, failure)
                continue
            if self._dump is not None:
                self._dump.save(endpoint, status, response.content)
            try:
                return self._parse(response, endpoint, expect)
            except _Unreadable:
                failure = "answered a body that is not valid JSON"
                if last:
                    raise PimsProtocolError(f"IDEXX {failure} ({attempt} attempts)", endpoint=endpoint) from None
                self._backoff(endpoint, attempt, failure)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- internals ----------------------------------------------------------------------------

    def _record(self, endpoint: str, status: int | None, attempt: int, started: float) -> None:
        # pims_sync_pims_request_duration_seconds: endpoint is a template, never a path with ids
        metrics.PIMS_REQUEST_DURATION.labels(PROVIDER, endpoint, str(status or "error")).observe(
            time.monotonic() - started)
        if self._on_request is not None:
            self._on_request(endpoint, status, attempt)

    def backoff(self, endpoint: str, attempt: int, why: str) -> None:
        """Sleep before retry ``attempt + 1`` (the provider uses it for its own retries too)."""
        self._backoff(endpoint, attempt, why)

    def _backoff(self, endpoint: str, attempt: int, why: str) -> None:
        delay = self._jitter() * min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        log.info("IDEXX %s %s; retry %d/%d in %.2fs", endpoint, why, attempt, self.max_attempts - 1, delay)
        self._sleep(delay)

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds to wait: ``Retry-After`` as seconds or an HTTP date, capped; None if absent/bad."""
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return min(max(seconds, 0.0), self.retry_after_max_s)

    def _parse(self, response: requests.Response, endpoint: str, expect: Any) -> Any:
        status = response.status_code
        text = response.text or ""
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            if _is_login_url(location):
                raise SessionRejected(
                    f"IDEXX {endpoint} redirected to the login page",
                    evidence="redirect",
                    endpoint=endpoint,
                )
            raise PimsProtocolError(
                f"unexpected HTTP {status} redirect to {urlparse(location).path!r}", endpoint=endpoint
            )
        if status in (401, 403):
            raise SessionRejected(
                f"IDEXX {endpoint} answered HTTP {status}", evidence="status", endpoint=endpoint, status=status
            )
        if status >= 400:  # e.g. 400 for a missing XHR header, 404 for an unknown id
            raise PimsProtocolError(f"HTTP {status}", endpoint=endpoint)
        content_type = response.headers.get("Content-Type", "").lower()
        if "html" in content_type or text.lstrip()[:1] == "<":
            evidence = "login_page" if _looks_like_login(text) else "html"
            raise SessionRejected(
                f"IDEXX {endpoint} answered {SessionRejected.EVIDENCE[evidence]} instead of JSON",
                evidence=evidence,
                endpoint=endpoint,
            )
        try:
            body = json.loads(text)
        except ValueError:
            raise _Unreadable() from None
        if expect is not None:
            ok = isinstance(body, expect) if isinstance(expect, type) else bool(expect(body))
            if not ok:
                raise PimsProtocolError("JSON body does not have the expected shape", endpoint=endpoint)
        return body


def _is_login_url(location: str) -> bool:
    path = urlparse(location).path.lower()
    return "login" in path or "signin" in path or "sign-in" in path


def _looks_like_login(html: str) -> bool:
    lowered = html[:20_000].lower()
    return 'name="password"' in lowered or "login-form" in lowered or 'type="password"' in lowered
