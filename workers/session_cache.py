"""Session cookies shared by every worker on every machine, encrypted in Redis.

Logging in means a Chromium page load and a form post, and IDEXX may notice many logins, so a
clinic's cookies are cached once and reused by any worker until they expire (a TTL below the
PIMS session lifetime) or the PIMS rejects them. The cookies are encrypted with the credentials
key (AES-GCM, :class:`~pims_sync.crypto.CredentialCipher`): Redis never holds a usable session.

Three rules keep logins to one per expiry:

* ``invalidate(clinic_id, cookies)`` drops the entry only if it still holds *those* cookies, so
  a worker that saw a stale session cannot throw away the fresh one another worker just stored;
* ``login_lock(clinic_id)`` is a short Redis lock: one worker logs in while the others wait for
  it, then re-read the cache and reuse what it stored;
* ``mark_verified`` records (as the SHA-256 of the stored ciphertext, next to it) that a data
  call worked with the stored session, so every worker can tell an expiry (a session that worked
  is rejected: log in again once) from an outage (a fresh session is rejected: do not log in).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from pims_sync.crypto import CredentialCipher
from pims_sync.errors import CredentialDecryptError

from .locks import TokenLock

log = logging.getLogger(__name__)


class RedisSessionCache:
    """The ``SessionCache`` protocol of ``pims_sync.providers.base``, backed by Redis."""

    def __init__(
        self,
        client: redis.Redis,
        cipher: CredentialCipher,
        *,
        ttl_s: int,
        key_id: str = "default",
        prefix: str = "pims:session:",
        login_lock_ttl_s: float = 90.0,
        login_wait_s: float = 120.0,
    ):
        self.client, self.cipher, self.ttl_s, self.key_id, self.prefix = client, cipher, ttl_s, key_id, prefix
        self.login_lock_ttl_s, self.login_wait_s = login_lock_ttl_s, login_wait_s

    def __repr__(self) -> str:
        return f"RedisSessionCache(prefix={self.prefix!r}, ttl_s={self.ttl_s})"

    def key(self, clinic_id: str) -> str:
        return f"{self.prefix}{clinic_id}"

    def verified_key(self, clinic_id: str) -> str:
        return f"{self.prefix}verified:{clinic_id}"

    def get(self, clinic_id: str) -> Any | None:
        blob = self._raw(self.key(clinic_id))
        if blob is None:
            return None
        try:
            return self.cipher.decrypt_json(blob, key_id=self.key_id)
        except CredentialDecryptError:
            # written under another key (rotation) or corrupted: useless, drop it and log in again
            log.warning("dropping an undecryptable cached session for clinic %s", clinic_id)
            TokenLock.held(self.client, self.key(clinic_id), blob).release()
            return None

    def set(self, clinic_id: str, cookies: Any, ttl_s: float | None = None) -> None:
        ttl = int(min(ttl_s, self.ttl_s)) if ttl_s else self.ttl_s
        if ttl <= 0:
            return
        self.client.set(self.key(clinic_id), self.cipher.encrypt_json(cookies, key_id=self.key_id), ex=ttl)

    def invalidate(self, clinic_id: str, cookies: Any | None = None) -> bool:
        """Drop the cached session; with ``cookies``, only if the cache still holds those."""
        key = self.key(clinic_id)
        if cookies is None:
            return bool(self.client.delete(key))
        blob = self._raw(key)
        if blob is None:
            return False
        try:
            current = self.cipher.decrypt_json(blob, key_id=self.key_id)
        except CredentialDecryptError:
            current = None
        if current is not None and _normalise(current) != _normalise(cookies):
            return False  # someone already stored a fresh session: keep it
        # atomic against a concurrent set(): delete only the exact bytes we compared
        return TokenLock.held(self.client, key, blob).release()

    def mark_verified(self, clinic_id: str, cookies: Any) -> None:
        blob = self._stored_blob(clinic_id, cookies)
        if blob is None:
            return
        ttl_ms = self.client.pttl(self.key(clinic_id))
        if ttl_ms and ttl_ms > 0:
            self.client.set(self.verified_key(clinic_id), _fingerprint(blob), px=ttl_ms)

    def is_verified(self, clinic_id: str, cookies: Any) -> bool:
        blob = self._stored_blob(clinic_id, cookies)
        if blob is None:
            return False
        marker = self._raw(self.verified_key(clinic_id))
        return marker is not None and marker.decode() == _fingerprint(blob)

    def _stored_blob(self, clinic_id: str, cookies: Any) -> bytes | None:
        """The stored ciphertext if it holds exactly these cookies, else None."""
        blob = self._raw(self.key(clinic_id))
        if blob is None:
            return None
        try:
            current = self.cipher.decrypt_json(blob, key_id=self.key_id)
        except CredentialDecryptError:
            return None
        return blob if _normalise(current) == _normalise(cookies) else None

    def _raw(self, key: str) -> bytes | None:
        """A stored value: ciphertext is bytes, so the client must not decode responses."""
        value = self.client.get(key)
        if isinstance(value, str):
            raise TypeError("RedisSessionCache needs a Redis client without decode_responses")
        return value

    @contextmanager
    def login_lock(self, clinic_id: str) -> Iterator[bool]:
        """Hold the clinic's login lock; yields False if the holder never finished in time.

        Callers re-read the cache after entering: if another worker logged in meanwhile they
        reuse its session instead of logging in again.
        """
        lock = TokenLock(self.client, f"{self.prefix}login:{clinic_id}", ttl_s=self.login_lock_ttl_s)
        acquired = lock.acquire(wait_s=self.login_wait_s, poll_s=0.05)
        if not acquired:
            log.warning("login lock for clinic %s still held after %.0f s; logging in anyway",
                        clinic_id, self.login_wait_s)
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    lock.release()
                except redis.exceptions.RedisError:
                    pass  # expires on its own


def _fingerprint(blob: bytes) -> str:
    """Names a stored ciphertext (random IV: says nothing about the cookies)."""
    return hashlib.sha256(blob).hexdigest()


def _normalise(cookies: Any) -> Any:
    """Cookies as a name -> value map, whether given as a dict or a list of cookie dicts."""
    if isinstance(cookies, dict):
        return {str(k): str(v) for k, v in cookies.items()}
    if isinstance(cookies, list | tuple):
        try:
            return {str(c["name"]): str(c["value"]) for c in cookies}
        except (TypeError, KeyError):
            return list(cookies)
    return cookies
