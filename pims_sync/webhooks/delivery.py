"""One bounded HTTP attempt: no redirects, short timeouts, the answer's body read and dropped."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from .policy import MAX_RESPONSE_BYTES, TIMEOUT_S
from .urls import WebhookUrlRefused, check_url


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None  # our own words; a receiver's body is never kept
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_once(url: str, *, body: bytes, headers: dict[str, str], allow_private: bool,
              timeout_s: tuple[float, float] = TIMEOUT_S) -> AttemptResult:
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> AttemptResult:
        return AttemptResult(status, error, int((time.monotonic() - started) * 1000))

    try:
        check_url(url, allow_private=allow_private)
    except WebhookUrlRefused as e:
        return done(None, f"refused: {e}")
    try:
        with requests.post(url, data=body, headers={**headers, "user-agent": "pims-sync-webhooks/1"},
                           timeout=timeout_s, allow_redirects=False, stream=True) as resp:
            for _ in resp.iter_content(chunk_size=MAX_RESPONSE_BYTES):
                break  # a receiver's answer is not ours to keep; read a little so the socket can close
            if 300 <= resp.status_code < 400:
                return done(resp.status_code, "redirect not followed")
            return done(resp.status_code, None if resp.ok else f"HTTP {resp.status_code}")
    except requests.Timeout:
        return done(None, "timed out")
    except requests.ConnectionError:
        return done(None, "connection failed")
    except requests.RequestException as e:
        return done(None, f"request failed ({e.__class__.__name__})")
