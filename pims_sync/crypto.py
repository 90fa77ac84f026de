"""AES-256-GCM for PIMS credentials and cached session cookies.

The format is the one the existing product already stored, so rows written by it decrypt here
and vice versa (a Node.js ``crypto`` implementation in tests/data proves it):

* key   = PBKDF2-HMAC-SHA256(secret, salt = key id as UTF-8, 100,000 iterations, 32 bytes)
* bytes = 12-byte IV ‖ 16-byte GCM tag ‖ ciphertext

The secret is chosen by key id (``IDEXX_ENCRYPTION_KEY_<ID>``, else ``IDEXX_ENCRYPTION_KEY``),
so rotating keys means writing new rows under a new key id while old rows keep decrypting.
Errors name the key id, never the secret or the plaintext.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import Settings
from .errors import ConfigError, CredentialDecryptError
from .models import Credentials, EncryptedCredentials

PBKDF2_ITERATIONS = 100_000
KEY_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16
DEFAULT_KEY_ID = "default"

BytesLike = bytes | bytearray | memoryview


@lru_cache(maxsize=64)
def derive_key(secret: str, key_id: str) -> bytes:
    """PBKDF2 is slow on purpose, so a process derives each (secret, key id) once.

    Workers build a cipher per task; the cache here keeps that cheap across instances.
    """
    return hashlib.pbkdf2_hmac(
        "sha256", secret.encode("utf-8"), key_id.encode("utf-8"), PBKDF2_ITERATIONS, KEY_BYTES
    )


class CredentialCipher:
    """Encrypts and decrypts with a per-key-id derived key, derived once per process."""

    def __init__(self, *, secret_for: Callable[[str], str]):
        self._secret_for = secret_for
        self._keys: dict[str, AESGCM] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        return cls(secret_for=settings.secret_for_key_id)

    def __repr__(self) -> str:
        return f"CredentialCipher(key_ids={sorted(self._keys)!r})"

    def _aead(self, key_id: str) -> AESGCM:
        if not isinstance(key_id, str) or not key_id:
            raise CredentialDecryptError("encryption key id must be a non-empty string")
        aead = self._keys.get(key_id)
        if aead is None:
            with self._lock:
                aead = self._keys.get(key_id)
                if aead is None:
                    try:
                        secret = self._secret_for(key_id)
                    except ConfigError as e:
                        raise CredentialDecryptError(
                            f"no secret configured for encryption key id {key_id!r}: {e}"
                        ) from None
                    aead = AESGCM(derive_key(secret, key_id))
                    self._keys[key_id] = aead
        return aead

    # --- raw strings -------------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, key_id: str = DEFAULT_KEY_ID) -> bytes:
        if not isinstance(plaintext, str):
            raise TypeError("encrypt() takes a str")
        iv = os.urandom(IV_BYTES)
        sealed = self._aead(key_id).encrypt(iv, plaintext.encode("utf-8"), None)
        # cryptography returns ciphertext ‖ tag; the stored layout puts the tag first
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        return iv + tag + ciphertext

    def decrypt(self, blob: BytesLike, *, key_id: str = DEFAULT_KEY_ID) -> str:
        if isinstance(blob, memoryview | bytearray):
            blob = bytes(blob)
        if not isinstance(blob, bytes):
            raise CredentialDecryptError(
                f"cannot decrypt a {type(blob).__name__} with key id {key_id!r}: expected bytes"
            )
        if len(blob) < IV_BYTES + TAG_BYTES:
            raise CredentialDecryptError(
                f"encrypted value is truncated ({len(blob)} bytes, need at least "
                f"{IV_BYTES + TAG_BYTES}) for key id {key_id!r}"
            )
        aead = self._aead(key_id)
        iv, tag, ciphertext = (
            blob[:IV_BYTES],
            blob[IV_BYTES : IV_BYTES + TAG_BYTES],
            blob[IV_BYTES + TAG_BYTES :],
        )
        try:
            data = aead.decrypt(iv, ciphertext + tag, None)
        except InvalidTag:
            raise CredentialDecryptError(
                f"cannot decrypt with key id {key_id!r}: wrong key or tampered data"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise CredentialDecryptError(
                f"decrypted value under key id {key_id!r} is not UTF-8 text"
            ) from None

    # --- JSON (session cookies) --------------------------------------------------------------

    def encrypt_json(self, value: Any, *, key_id: str = DEFAULT_KEY_ID) -> bytes:
        return self.encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False), key_id=key_id)

    def decrypt_json(self, blob: BytesLike, *, key_id: str = DEFAULT_KEY_ID) -> Any:
        text = self.decrypt(blob, key_id=key_id)
        try:
            return json.loads(text)
        except ValueError:
            raise CredentialDecryptError(f"decrypted value under key id {key_id!r} is not JSON") from None

    # --- credential rows ---------------------------------------------------------------------

    def encrypt_credentials(
        self,
        username: str,
        password: str,
        company_id: str,
        *,
        clinic_id: str,
        provider: str = "idexx",
        key_id: str = DEFAULT_KEY_ID,
    ) -> EncryptedCredentials:
        return EncryptedCredentials(
            clinic_id=clinic_id,
            provider=provider,
            username_encrypted=self.encrypt(username, key_id=key_id),
            password_encrypted=self.encrypt(password, key_id=key_id),
            company_id_encrypted=self.encrypt(company_id, key_id=key_id),
            encryption_key_id=key_id,
        )

    def decrypt_credentials(self, enc: EncryptedCredentials) -> Credentials:
        key_id = enc.encryption_key_id or DEFAULT_KEY_ID
        fields = {}
        for name in ("username", "password", "company_id"):
            try:
                fields[name] = self.decrypt(getattr(enc, f"{name}_encrypted"), key_id=key_id)
            except CredentialDecryptError as e:
                raise CredentialDecryptError(
                    f"credentials of clinic {enc.clinic_id} ({enc.provider}), field {name}: {e}"
                ) from None
        return Credentials(**fields)
