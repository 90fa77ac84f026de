"""One bounded HTTP attempt: no redirects, short timeouts, the answer's body read and dropped.

The connection goes to an address :func:`~.urls.resolve_target` checked, by IP (urllib3, which
requests runs on, with the name as Host header and TLS server name): the host is never
resolved a second time, so DNS rebinding cannot swap in a private address after the check.
Proxy variables are not used for the same reason. Certificates are checked against the name
with requests' bundle (certifi), or ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` when set (as requests does).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from .policy import MAX_RESPONSE_BYTES, TIMEOUT_S
from .urls import Resolver, Target, WebhookUrlRefused, resolve_target

USER_AGENT = "pims-sync-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None  # our own words; a receiver's body is never kept
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def default_ca_bundle() -> str:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or DEFAULT_CA_BUNDLE_PATH


def _pool(target: Target, address: str, *, timeout: urllib3.Timeout, ca_certs: str) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                           server_hostname=target.host, assert_hostname=target.host,
                                           cert_reqs="CERT_REQUIRED", ca_certs=ca_certs)
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)


def _send(target: Target, address: str, *, body: bytes, headers: dict[str, str], timeout: urllib3.Timeout,
          ca_certs: str) -> int:
    """POST to one checked address; the status code (the answer's first bytes read and dropped)."""
    with _pool(target, address, timeout=timeout, ca_certs=ca_certs) as pool:
        resp = pool.urlopen("POST", target.path, body=body, redirect=False, retries=False,
                            preload_content=False, assert_same_host=False,
                            headers={**headers, "host": target.netloc, "user-agent": USER_AGENT})
        try:
            resp.read(MAX_RESPONSE_BYTES)  # a receiver's answer is not ours to keep
        finally:
            resp.release_conn()
        return int(resp.status)


def post_once(url: str, *, body: bytes, headers: dict[str, str], allow_private: bool,
              timeout_s: tuple[float, float] = TIMEOUT_S, resolver: Resolver = socket.getaddrinfo,
              ca_certs: str | None = None) -> AttemptResult:
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> AttemptResult:
        return AttemptResult(status, error, int((time.monotonic() - started) * 1000))

    try:
        target = resolve_target(url, allow_private=allow_private, resolver=resolver)
    except WebhookUrlRefused as e:
        return done(None, f"refused: {e}")
    # the next checked address only when this one cannot be reached, within one connect budget
    connect_by = time.monotonic() + timeout_s[0]
    error = "connection failed"
    for address in target.addresses:
        left = connect_by - time.monotonic()
        if left <= 0:
            break
        timeout = urllib3.Timeout(connect=left, read=timeout_s[1])
        try:
            status = _send(target, address, body=body, headers=headers, timeout=timeout,
                           ca_certs=ca_certs or default_ca_bundle())
        except NewConnectionError:  # before ConnectTimeoutError: it is one (urllib3's history)
            error = "connection failed"
            continue
        except ConnectTimeoutError:
            error = "timed out"
            continue
        except ReadTimeoutError:
            return done(None, "timed out")
        except SSLError:
            return done(None, "TLS handshake failed (certificate or protocol)")
        except (HTTPError, OSError) as e:
            return done(None, f"request failed ({e.__class__.__name__})")
        if 300 <= status < 400:
            return done(status, "redirect not followed")
        return done(status, None if 200 <= status < 300 else f"HTTP {status}")
    return done(None, error)
