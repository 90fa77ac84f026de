"""Login sessions and the one-time anti-forgery nonces of the login page.

A session dies when idle longer than ``idle_s`` or older than ``max_s`` (both settable at
run time), or when the control API expires them all. Thread-safe.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

COOKIE_NAME = "neo_session"
NONCE_TTL_S = 600
MAX_NONCES = 20_000


def expected_token(nonce: str) -> str:
    """What the login page's script computes from the nonce; mirrored in login.py's JS."""
    return nonce[::-1] + "." + str(len(nonce))


@dataclass
class Session:
    clinic_id: str
    username: str
    created: float
    last_seen: float


class SessionStore:
    def __init__(self, *, idle_s: float = 2 * 3600, max_s: float = 12 * 3600) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._nonces: dict[str, float] = {}

    # -- login page nonces --------------------------------------------------------------------
    def issue_nonce(self) -> str:
        nonce = secrets.token_hex(12)
        now = time.monotonic()
        with self._lock:
            if len(self._nonces) >= MAX_NONCES:
                self._nonces = {n: t for n, t in self._nonces.items() if now - t < NONCE_TTL_S}
            self._nonces[nonce] = now
        return nonce

    def redeem_token(self, token: str) -> bool:
        """True once for a token computed from a nonce this server issued recently."""
        nonce, _, _ = (token or "").partition(".")
        nonce = nonce[::-1]
        if not nonce or expected_token(nonce) != token:
            return False
        with self._lock:
            issued = self._nonces.pop(nonce, None)
        return issued is not None and time.monotonic() - issued < NONCE_TTL_S

    # -- sessions -----------------------------------------------------------------------------
    def create(self, clinic_id: str, username: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._sessions[sid] = Session(clinic_id, username, now, now)
        return sid

    def peek(self, sid: str | None) -> Session | None:
        """The live session for a cookie, without counting it as activity."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s or now - session.created > self.max_s:
                del self._sessions[sid]
                return None
            return session

    def touch(self, sid: str | None) -> Session | None:
        session = self.peek(sid)
        if session is not None:
            with self._lock:
                session.last_seen = time.monotonic()
        return session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def expire_all(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def count(self) -> int:
        with self._lock:
            return len(self._sessions)
