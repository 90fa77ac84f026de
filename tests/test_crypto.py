"""Credential crypto: the stored format, interop with Node.js, rotation and clear failures."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pims_sync.config import Settings
from pims_sync.crypto import IV_BYTES, TAG_BYTES, CredentialCipher, derive_key
from pims_sync.errors import CredentialDecryptError
from pims_sync.models import Credentials

DATA = Path(__file__).parent / "data"
VECTORS = json.loads((DATA / "crypto_vectors.json").read_text(encoding="utf-8"))["vectors"]
NODE_SCRIPT = DATA / "make_crypto_vectors.js"

DEFAULT_SECRET = "test-encryption-key-0123456789abcdef"
ROTATED_SECRET = "rotation-key-2026-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env(
        {"IDEXX_ENCRYPTION_KEY": DEFAULT_SECRET, "IDEXX_ENCRYPTION_KEY_K2026": ROTATED_SECRET}
    )


@pytest.fixture(scope="module")
def cipher(settings) -> CredentialCipher:
    return CredentialCipher.from_settings(settings)


def _cipher_for_vector(vector) -> CredentialCipher:
    return CredentialCipher(secret_for=lambda key_id: vector["secret"])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['key_id']}:{v['plaintext'][:12]!r}")
def test_decrypts_node_vectors(vector):
    blob = base64.b64decode(vector["blob_b64"])
    assert _cipher_for_vector(vector).decrypt(blob, key_id=vector["key_id"]) == vector["plaintext"]


def test_vectors_cover_unicode_and_two_key_ids():
    assert any(not v["plaintext"].isascii() for v in VECTORS)
    assert len({v["key_id"] for v in VECTORS}) >= 2


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is needed for the reverse direction")
def test_node_decrypts_what_python_encrypted():
    plaintext = "Zoë's password 🐾 ünïcode"
    cipher = CredentialCipher(secret_for=lambda _: DEFAULT_SECRET)
    blob = cipher.encrypt(plaintext, key_id="default")
    payload = {"secret": DEFAULT_SECRET, "key_id": "default", "blob_b64": base64.b64encode(blob).decode()}
    out = subprocess.run(
        ["node", str(NODE_SCRIPT), "--decrypt"],
        input=json.dumps(payload).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.decode("utf-8") == plaintext


def test_layout_is_iv_tag_ciphertext(cipher):
    blob = cipher.encrypt("abcd")
    assert len(blob) == IV_BYTES + TAG_BYTES + len(b"abcd")
    # a fresh IV each time: the same plaintext never encrypts to the same bytes
    assert cipher.encrypt("abcd") != blob


@pytest.mark.parametrize("plaintext", ["", "user@example.com", "pässwörd ✓ 🐕", "x" * 5000])
def test_round_trip(cipher, plaintext):
    assert cipher.decrypt(cipher.encrypt(plaintext)) == plaintext


def test_accepts_memoryview_and_bytearray(cipher):
    blob = cipher.encrypt("from psycopg")
    assert cipher.decrypt(memoryview(blob)) == "from psycopg"
    assert cipher.decrypt(bytearray(blob)) == "from psycopg"


def test_key_rotation_keeps_old_rows_readable(cipher):
    old = cipher.encrypt("old-password", key_id="default")
    new = cipher.encrypt("new-password", key_id="k2026")
    assert cipher.decrypt(old, key_id="default") == "old-password"
    assert cipher.decrypt(new, key_id="k2026") == "new-password"
    with pytest.raises(CredentialDecryptError, match="k2026"):
        cipher.decrypt(old, key_id="k2026")
    with pytest.raises(CredentialDecryptError, match="'default'"):
        cipher.decrypt(new, key_id="default")


def test_same_secret_different_key_id_is_a_different_key():
    cipher = CredentialCipher(secret_for=lambda _: DEFAULT_SECRET)
    blob = cipher.encrypt("salted by key id", key_id="a")
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(blob, key_id="b")


def test_wrong_secret_is_a_clear_error_without_secret_or_plaintext():
    blob = CredentialCipher(secret_for=lambda _: DEFAULT_SECRET).encrypt("hunter2-secret-value")
    wrong = "wrong-secret-wrong-secret-wrong-secret!"
    with pytest.raises(CredentialDecryptError) as info:
        CredentialCipher(secret_for=lambda _: wrong).decrypt(blob)
    message = str(info.value)
    assert "'default'" in message and "wrong key or tampered" in message
    for secret in (wrong, DEFAULT_SECRET, "hunter2"):
        assert secret not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("position", [0, IV_BYTES, IV_BYTES + TAG_BYTES, -1])
def test_tampered_bytes_are_rejected(cipher, position):
    blob = bytearray(cipher.encrypt("do not touch"))
    blob[position] ^= 0x01
    with pytest.raises(CredentialDecryptError, match="tampered"):
        cipher.decrypt(bytes(blob))


@pytest.mark.parametrize("length", [0, 1, IV_BYTES, IV_BYTES + TAG_BYTES - 1])
def test_truncated_blob_is_rejected(cipher, length):
    blob = cipher.encrypt("short")[:length]
    with pytest.raises(CredentialDecryptError, match="truncated"):
        cipher.decrypt(blob)


def test_cut_ciphertext_is_rejected(cipher):
    blob = cipher.encrypt("a longer plaintext")
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(blob[:-3])


def test_not_bytes_is_rejected(cipher):
    with pytest.raises(CredentialDecryptError, match="expected bytes"):
        cipher.decrypt("not bytes")  # type: ignore[arg-type]


def test_unknown_key_id_without_fallback_secret_names_the_key_id():
    cipher = CredentialCipher.from_settings(Settings.from_env({}))
    with pytest.raises(CredentialDecryptError, match="'nokey'") as info:
        cipher.decrypt(b"\0" * 40, key_id="nokey")
    assert "IDEXX_ENCRYPTION_KEY" in str(info.value)


def test_derived_keys_are_cached_per_key_id():
    calls: list[str] = []

    def secret_for(key_id: str) -> str:
        calls.append(key_id)
        return DEFAULT_SECRET

    cipher = CredentialCipher(secret_for=secret_for)
    for _ in range(3):
        cipher.decrypt(cipher.encrypt("x", key_id="a"), key_id="a")
    cipher.encrypt("y", key_id="b")
    assert calls == ["a", "b"]
    assert DEFAULT_SECRET not in repr(cipher)


def test_key_derivation_is_shared_across_cipher_instances():
    derive_key.cache_clear()
    secret = "shared-secret-for-the-cache-test-000000"
    blob = CredentialCipher(secret_for=lambda _: secret).encrypt("x", key_id="shared")
    assert CredentialCipher(secret_for=lambda _: secret).decrypt(blob, key_id="shared") == "x"
    info = derive_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_credentials_round_trip(cipher):
    enc = cipher.encrypt_credentials(
        "vet@clinic.example", "p@ss wörd", "COMPANY-7", clinic_id="clinic-1", key_id="k2026"
    )
    assert enc.clinic_id == "clinic-1" and enc.provider == "idexx" and enc.encryption_key_id == "k2026"
    assert b"vet@clinic" not in enc.username_encrypted
    for secret in ("vet@clinic.example", "p@ss", "COMPANY-7"):
        assert secret not in repr(enc)
    creds = cipher.decrypt_credentials(enc)
    assert creds == Credentials("vet@clinic.example", "p@ss wörd", "COMPANY-7")
    assert "p@ss" not in repr(creds)


def test_credentials_with_wrong_key_id_name_clinic_and_field(cipher):
    enc = cipher.encrypt_credentials("u", "p", "c", clinic_id="clinic-9")
    with pytest.raises(CredentialDecryptError, match=r"clinic-9.*username.*'k2026'"):
        cipher.decrypt_credentials(replace(enc, encryption_key_id="k2026"))


def test_json_round_trip(cipher):
    cookies = [{"name": "PHPSESSID", "value": "abc;123", "domain": "127.0.0.1", "secure": False}]
    blob = cipher.encrypt_json({"cookies": cookies, "note": "ünï"})
    assert b"PHPSESSID" not in blob
    assert cipher.decrypt_json(blob) == {"cookies": cookies, "note": "ünï"}


def test_decrypt_json_rejects_non_json(cipher):
    with pytest.raises(CredentialDecryptError, match="not JSON"):
        cipher.decrypt_json(cipher.encrypt("not json {"))
