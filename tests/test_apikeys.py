"""API-key helpers: format, hashing, constant-time verification, permissions."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from pims_sync.apikeys import (
    GeneratedKey,
    display_prefix,
    generate_api_key,
    has_permissions,
    hash_api_key,
    normalize_permissions,
    verify_api_key,
)
from pims_sync.errors import ValidationError


def test_generated_key_format():
    gen = generate_api_key()
    assert re.fullmatch(r"[0-9a-f]{8}", gen.key_prefix)  # fits the product's key_prefix CHECK (8-12)
    assert gen.key.startswith(f"pims_live_{gen.key_prefix}_")
    secret = gen.key[len("pims_live_") + len(gen.key_prefix) + 1 :]
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    assert len(raw) >= 32
    assert gen.key_hash == hashlib.sha256(gen.key.encode()).hexdigest()


def test_generated_keys_are_unique():
    keys = [generate_api_key() for _ in range(200)]
    assert len({k.key for k in keys}) == 200
    assert len({k.key_hash for k in keys}) == 200


def test_custom_prefix_and_env():
    gen = generate_api_key("vet", env="test")
    assert gen.key.startswith(f"vet_test_{gen.key_prefix}_")
    assert display_prefix(gen.key) == gen.key_prefix  # logs name a key the way keys list does


@pytest.mark.parametrize("prefix", ["", "Pims", "pims_live", "1abc", "a" * 17, "pi ms"])
def test_bad_prefix_is_rejected(prefix):
    with pytest.raises(ValidationError, match="prefix"):
        generate_api_key(prefix)


def test_repr_hides_the_key():
    gen = generate_api_key()
    secret_part = gen.key[len(gen.key_prefix) :]
    assert secret_part not in repr(gen)
    assert gen.key_hash not in repr(gen)
    assert gen.key_prefix in repr(gen)
    assert isinstance(gen, GeneratedKey)


def test_hash_is_sha256_hex_and_ignores_surrounding_whitespace():
    assert hash_api_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_api_key("  abc\n") == hash_api_key("abc")


def test_verify():
    gen = generate_api_key()
    assert verify_api_key(gen.key, gen.key_hash)
    assert verify_api_key(gen.key, gen.key_hash.upper())
    assert not verify_api_key(gen.key + "x", gen.key_hash)
    assert not verify_api_key(gen.key[:-1], gen.key_hash)
    assert not verify_api_key(generate_api_key().key, gen.key_hash)


@pytest.mark.parametrize("key, key_hash", [(None, "ab"), ("", hash_api_key("")), ("k", None), ("k", 5)])
def test_verify_rejects_missing_values(key, key_hash):
    assert verify_api_key(key, key_hash) is False


def test_display_prefix_of_legacy_key_shows_only_8_characters():
    assert display_prefix("sk_0123456789abcdefghijklmnop") == "sk_01234…"
    assert display_prefix("short") == "…"
    assert display_prefix("") == "…"


@pytest.mark.parametrize(
    "given, expected",
    [
        (None, None),
        (["sync:inbound"], ("sync:inbound",)),
        (["sync:reconciliation"], ("sync:reconcile",)),
        (("sync:reconcile", "sync:inbound", "sync:reconciliation"), ("sync:inbound", "sync:reconcile")),
        (["SYNC:Cases ", "sync:inbound"], ("sync:inbound", "sync:cases")),
        ("sync:cases, sync:inbound", ("sync:inbound", "sync:cases")),
        ([], ()),
        (["*"], None),
        ("all", None),
    ],
)
def test_normalize_permissions(given, expected):
    assert normalize_permissions(given) == expected


@pytest.mark.parametrize("given", [["sync:everything"], ["sync:inbound", "admin"], [3], "sync:inbound,nope"])
def test_unknown_permissions_are_rejected(given):
    with pytest.raises(ValidationError) as info:
        normalize_permissions(given)
    assert "unknown permission" in str(info.value)
    assert "sync:reconcile" in str(info.value)  # lists what is allowed
    assert info.value.details["unknown"]


@pytest.mark.parametrize(
    "granted, needed, ok",
    [
        (None, ["sync:inbound", "sync:cases", "sync:reconcile"], True),
        (("sync:inbound",), ["sync:inbound"], True),
        (("sync:inbound",), ["sync:cases"], False),
        (("sync:inbound",), ["sync:inbound", "sync:cases"], False),
        (("sync:reconcile",), ["sync:reconciliation"], True),
        (("sync:reconciliation",), ["sync:reconcile"], True),
        ((), ["sync:inbound"], False),
        ((), [], True),
        (
            ("sync:inbound", "sync:cases", "sync:reconcile"),
            ["sync:inbound", "sync:cases", "sync:reconcile"],
            True,
        ),
    ],
)
def test_has_permissions(granted, needed, ok):
    assert has_permissions(granted, needed) is ok
