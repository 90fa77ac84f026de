"""HTTP to ezyVet: OAuth2 client-credentials tokens, the rate limiter, retries, error envelopes.

Token rules (EZYVET_FACTS.md §1: a new token per call hurts ezyVet, and may revoke older ones):

* one token per site per lifetime: cached (encrypted, in the shared cache the worker passes:
  Redis for workers) until ``expires_in`` minus a margin; a token fetch happens under the
  site's single-flight lock, and whoever waited on it re-reads the cache first;
* a 401 on a data call means the token is dead: it is dropped from the cache (only if it is
  still the stored one) and fetched again **once**, then the call is repeated; a second 401
  is AuthenticationFailed;
* a refused token request (401/400) is AuthenticationFailed(invalid_credentials): never retried.

Every data call first takes a token from the site's and the endpoint's buckets
(:mod:`.limiter`); a 429 anyway waits ``Retry-After`` or ``x-ratelimit-reset``. 5xx and
connection errors are retried with backoff, then PimsUnavailable. Errors carry ezyVet's own
``messages`` text (trimmed), the endpoint and status: never a response's records.

Metrics (docs/METRICS.md), labelled ``provider="ezyvet"``: every request's latency and status by
endpoint path (paths are fixed, ids travel in the query) in
``pims_sync_pims_request_duration_seconds``; every token request in ``pims_sync_logins_total``,
kind ``login``, or ``relogin`` when a 401 on a data call made it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import requests

from ... import metrics
from ...errors import AuthenticationFailed, PimsProtocolError, PimsUnavailable, RateLimited
from ..registry import RateLimit
from .limiter import Bucket

log = logging.getLogger(__name__)

PROVIDER = "ezyvet"  # the metrics' provider label (the registry name)
TOKEN_PATH = "/v1/oauth/access_token"
DEFAULT_TOKEN_TTL_S = 43_200  # the documented 12 h, when expires_in is missing or absurd
MAX_TOKEN_TTL_S = 14 * 86_400  # older tokens lived 14 days (EZYVET_FACTS.md §1)
SCOPES = ("read-appointment,read-appointmentstatus,read-appointmenttype,read-animal,read-contact,"
          "read-contactdetail,read-consult,read-resource,read-species")
BUCKET_HEADROOM = 2  # tokens kept back from each published limit (see limiter.py)


class _Dead401(Exception):
    """A data call answered 401: the provider's token is dead."""


def token_margin_s(expires_in: int) -> float:
    """How long before expiry a token stops being used: 10 %, at most 5 minutes."""
    return min(300.0, expires_in * 0.1)


def sane_ttl(value: Any) -> int:
    try:
        ttl = int(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_TTL_S
    return ttl if 0 < ttl <= MAX_TOKEN_TTL_S else DEFAULT_TOKEN_TTL_S


def messages_text(body: Any) -> str:
    """ezyVet's ``messages`` as one short line: type and text of each, no record data."""
    items = body.get("messages") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return "no messages"
    parts = []
    for m in items[:3]:
        if isinstance(m, Mapping):
            parts.append(f"{m.get('type') or 'error'}: {str(m.get('text') or '')[:160]}".strip())
    return "; ".join(parts) or "no messages"


class EzyvetClient:
    """One site's HTTP client, shared by a provider's threads (a requests session per thread)."""

    def __init__(self, base_url: str, *, site_key: Callable[[], str], clinic_id: str,
                 credentials: Callable[[], Mapping[str, str]], token_cache: Any,
                 token_lock: Callable[[str], AbstractContextManager[Any]], limiter: Any, rate_limit: RateLimit,
                 timeout_s: float = 30.0, max_attempts: int = 4, backoff_s: float = 0.5,
                 retry_after_max_s: float = 120.0):
        self.base_url, self.clinic_id = base_url.rstrip("/"), clinic_id
        self._site_key_of: Callable[[], str] = site_key
        self._site_key: str | None = None
        self._credentials, self._cache, self._lock_for = credentials, token_cache, token_lock
        self._limiter, self._rate = limiter, rate_limit
        self.timeout_s, self.max_attempts, self.backoff_s = timeout_s, max_attempts, backoff_s
        self.retry_after_max_s = retry_after_max_s
        self._local = threading.local()
        self._state = threading.Lock()
        self._token: dict[str, Any] | None = None
        self._sessions: list[requests.Session] = []
        self.requests: Counter[str] = Counter()
        self.tokens_fetched = 0
        self.rate_limited = 0

    def __repr__(self) -> str:
        return f"EzyvetClient(base_url={self.base_url!r}, site={self._site_key!r})"

    @property
    def site_key(self) -> str:
        """Whose tokens and buckets these are; asked for (and so credentials read) on first use."""
        if self._site_key is None:
            self._site_key = self._site_key_of()
        return self._site_key

    # --- tokens --------------------------------------------------------------------------------

    def token(self) -> dict[str, Any]:
        """A live token: this client's, else the shared cache's, else one fetched under the lock."""
        with self._state:
            if self._token is not None and self._token["expires_at"] > time.time():
                return self._token
        cached = self._usable(self._cache.get(self.site_key))
        if cached is None:
            with self._lock_for(self.site_key):
                cached = self._usable(self._cache.get(self.site_key)) or self._fetch_token()
        with self._state:
            self._token = cached
        return cached

    def _usable(self, entry: Any) -> dict[str, Any] | None:
        if isinstance(entry, Mapping) and entry.get("access_token") and float(entry.get("expires_at", 0)) > time.time():
            return dict(entry)
        return None

    def _fetch_token(self, kind: str = "login") -> dict[str, Any]:
        """A new token from ezyVet (caller holds the site's lock), counted in pims_sync_logins_total
        as ``kind`` (login, or relogin after a 401): succeeded, refused (bad credentials) or error."""
        try:
            token = self._request_token()
        except AuthenticationFailed:
            metrics.LOGINS.labels(PROVIDER, kind, "refused").inc()
            raise
        except Exception:
            metrics.LOGINS.labels(PROVIDER, kind, "error").inc()
            raise
        metrics.LOGINS.labels(PROVIDER, kind, "succeeded").inc()
        return token

    def _request_token(self) -> dict[str, Any]:
        creds = self._credentials()
        body = {"partner_id": creds["partner_id"], "client_id": creds["client_id"],
                "client_secret": creds["client_secret"], "grant_type": "client_credentials", "scope": SCOPES}
        if creds.get("site_uid"):
            body["site_uid"] = creds["site_uid"]
        response = self._send("POST", TOKEN_PATH, json_body=body)
        assert response is not None  # not soft: a failed send raised PimsUnavailable
        if response.status_code in (400, 401, 403):
            raise AuthenticationFailed(
                f"ezyVet refused the client credentials of clinic {self.clinic_id} "
                f"(HTTP {response.status_code}: {messages_text(_json_or_none(response))})",
                reason="invalid_credentials")
        if response.status_code == 404:
            raise PimsProtocolError(f"HTTP 404: ezyVet does not know the site of clinic {self.clinic_id} (an expired "
                                    "trial site answers 404)", endpoint=TOKEN_PATH)
        if response.status_code >= 400:
            error = PimsUnavailable if response.status_code >= 500 or response.status_code == 429 else PimsProtocolError
            raise error(f"ezyVet {TOKEN_PATH} answered HTTP {response.status_code} "
                        f"({messages_text(_json_or_none(response))})")
        answer = self._json(response, TOKEN_PATH)
        if not isinstance(answer, Mapping) or not answer.get("access_token"):
            raise PimsProtocolError("the token answer has no access_token", endpoint=TOKEN_PATH)
        ttl = sane_ttl(answer.get("expires_in"))
        keep_s = ttl - token_margin_s(ttl)
        token = {"access_token": str(answer["access_token"]), "expires_at": time.time() + keep_s}
        self._cache.set(self.site_key, token, keep_s)
        self.tokens_fetched += 1
        log.info("ezyVet token fetched for site of clinic %s (kept %.0f s)", self.clinic_id, keep_s)
        return token

    def _replace_dead(self, dead: dict[str, Any]) -> None:
        """Forget a token a data call was refused with, unless another thread already did."""
        with self._lock_for(self.site_key):
            self._cache.invalidate(self.site_key, dead)
            with self._state:
                if self._token is not None and self._token["access_token"] == dead["access_token"]:
                    self._token = None
            fresh = self._usable(self._cache.get(self.site_key))
            if fresh is None or fresh["access_token"] == dead["access_token"]:
                fresh = self._fetch_token("relogin")
            with self._state:
                self._token = fresh

    # --- data ----------------------------------------------------------------------------------

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a data endpoint as JSON: throttled, one token re-fetch on 401, retries on 429/5xx."""
        query = {k: json.dumps(v, separators=(",", ":")) if isinstance(v, dict | list) else v
                 for k, v in (params or {}).items()}
        token = self.token()
        for fresh in (False, True):
            try:
                return self._get(endpoint, query, token)
            except _Dead401:
                if fresh:
                    raise AuthenticationFailed(
                        f"ezyVet refused a freshly issued token for clinic {self.clinic_id} on {endpoint}",
                        reason="token_rejected") from None
                self._replace_dead(token)
                token = self.token()
        raise AssertionError("unreachable")

    def _buckets(self, endpoint: str) -> list[Bucket]:
        r, out = self._rate, []
        if r.per_endpoint:
            out.append(Bucket(f"pims:ezyvet:rl:{self.site_key}:{endpoint}", max(1, r.per_endpoint - BUCKET_HEADROOM), r.per_s
                              * max(1, r.per_endpoint - BUCKET_HEADROOM) / r.per_endpoint))
        if r.per_site:
            out.append(Bucket(f"pims:ezyvet:rl:{self.site_key}:*", max(1, r.per_site - BUCKET_HEADROOM), r.per_s
                              * max(1, r.per_site - BUCKET_HEADROOM) / r.per_site))
        return out

    def _get(self, endpoint: str, query: Mapping[str, Any], token: Mapping[str, Any]) -> Any:
        buckets = self._buckets(endpoint)
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            if buckets:
                self._limiter.acquire(buckets)
            response = self._send("GET", endpoint, params=query, token=token["access_token"], soft=not last)
            if response is None:  # connection error or timeout, retried
                self._backoff(attempt)
                continue
            status = response.status_code
            if status == 401:
                raise _Dead401()
            if status == 429:
                self.rate_limited += 1
                wait = _retry_after(response)
                if last:
                    raise RateLimited(f"ezyVet kept answering 429 on {endpoint}", retry_after_s=wait)
                held = min(wait if wait is not None else self.backoff_s * 2**attempt, self.retry_after_max_s)
                metrics.RATE_LIMIT_WAIT.labels(PROVIDER).observe(held)
                time.sleep(held)
                continue
            if status >= 500:
                if last:
                    raise PimsUnavailable(f"ezyVet {endpoint} answered HTTP {status} {self.max_attempts} times "
                                          f"({messages_text(_json_or_none(response))})")
                self._backoff(attempt)
                continue
            if status == 404:
                raise PimsProtocolError(
                    f"HTTP 404: ezyVet does not know this site or endpoint (an expired trial site answers "
                    f"404) for clinic {self.clinic_id}", endpoint=endpoint)
            if status >= 400:
                raise PimsProtocolError(f"HTTP {status}: {messages_text(_json_or_none(response))}", endpoint=endpoint)
            return self._json(response, endpoint)
        raise PimsUnavailable(f"ezyVet {endpoint} could not be reached after {self.max_attempts} attempts")

    def _send(self, method: str, endpoint: str, *, params: Mapping[str, Any] | None = None,
              json_body: Mapping[str, Any] | None = None, token: str | None = None,
              soft: bool = False) -> requests.Response | None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._state:
                self._sessions.append(session)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with self._state:
            self.requests[endpoint] += 1
        started = time.monotonic()
        try:
            response = session.request(method, self.base_url + endpoint, params=params, json=json_body,
                                       headers=headers, timeout=self.timeout_s)
        except requests.RequestException as e:
            _record(endpoint, None, started)
            if soft:
                log.info("ezyVet %s: %s, retrying", endpoint, e.__class__.__name__)
                return None
            raise PimsUnavailable(f"ezyVet {endpoint} could not be reached ({e.__class__.__name__})") from None
        _record(endpoint, response.status_code, started)
        return response

    def _json(self, response: requests.Response, endpoint: str) -> Any:
        try:
            body = response.json()
        except ValueError:
            raise PimsProtocolError(f"HTTP {response.status_code} answer is not JSON", endpoint=endpoint) from None
        if isinstance(body, Mapping) and body.get("messages") and "items" not in body and "access_token" not in body:
            raise PimsProtocolError(f"ezyVet answered only messages ({messages_text(body)})", endpoint=endpoint)
        return body

    def _backoff(self, attempt: int) -> None:
        time.sleep(random.uniform(0, self.backoff_s * 2 ** (attempt - 1)))

    def close(self) -> None:
        with self._state:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()


def _record(endpoint: str, status: int | None, started: float) -> None:
    """pims_sync_pims_request_duration_seconds: the endpoint is a fixed path (ids go in the query)."""
    metrics.PIMS_REQUEST_DURATION.labels(PROVIDER, endpoint, str(status or "error")).observe(
        time.monotonic() - started)


def _retry_after(response: requests.Response) -> float | None:
    for name in ("Retry-After", "x-ratelimit-reset"):
        try:
            return max(0.0, float(response.headers[name]))
        except (KeyError, ValueError):
            continue
    return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
