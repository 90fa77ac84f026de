"""Phone normalisation: messy input in, E.164 or None (with the raw text kept) out."""

from __future__ import annotations

import pytest

from pims_sync.phone import PhoneResult, normalize_phone, normalize_region


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(555) 010-0123", "+15550100123"),
        ("555.010.0123", "+15550100123"),
        ("555-010-0123", "+15550100123"),
        ("5550100123", "+15550100123"),
        ("+1 555 010 0123", "+15550100123"),
        ("1 (555) 010-0123", "+15550100123"),
        ("  555 010 0123  ", "+15550100123"),
        ("tel:+1-555-010-0123", "+15550100123"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("Home: 555-010-0123", "+15550100123"),
        ("(555) 010-0123 cell", "+15550100123"),
        ("mobile 415 555 2671", "+14155552671"),
        ("555-010-0123 / 555-010-0199", "+15550100123"),  # the first number wins
        ("1-800-FLOWERS", "+18003569377"),  # vanity letters are digits
        ("+61 412 345 678", "+61412345678"),  # international format beats the region
        ("+44 20 7946 0018", "+442079460018"),
    ],
)
def test_us_numbers(raw, expected):
    result = normalize_phone(raw, region="US")
    assert result == PhoneResult(expected, raw.strip(), None)
    assert result.ok


@pytest.mark.parametrize(
    "raw, e164, ext",
    [
        ("555-010-0123 ext. 12", "+15550100123", "12"),
        ("555-010-0123 ext 12", "+15550100123", "12"),
        ("555 010 0123 extension 7", "+15550100123", "7"),
        ("555 010 0123 x45", "+15550100123", "45"),
        ("555-010-0123 X 45", "+15550100123", "45"),
        ("5550100123#99", "+15550100123", "99"),
        ("+1 555 010 0123;ext=5", "+15550100123", "5"),
        ("555-010-0123 ext 45 (work)", "+15550100123", "45"),
    ],
)
def test_extensions(raw, e164, ext):
    assert normalize_phone(raw) == PhoneResult(e164, raw, ext)


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_blank_is_none_without_raw(raw):
    assert normalize_phone(raw) == PhoneResult(None, None, None)
    assert not normalize_phone(raw).ok


@pytest.mark.parametrize(
    "raw",
    [
        "x123",  # an extension with no number
        "ext. 12",
        "abc",
        "unknown",
        "n/a",
        "call the owner",
        "123",  # too short
        "555-0123",  # local only: no area code, cannot be E.164
        "555-0123 cell",
        "12345678",
        "1234567890123456",  # too long
        "000-000-0000",  # placeholder
        "(999) 999-9999",
        "+999 1234",  # no such country code
        "+1",
        "5" * 300,
        "555-010-0123" * 20,  # a note, not a number
    ],
)
def test_invalid_keeps_raw(raw):
    result = normalize_phone(raw)
    assert result.e164 is None
    assert result.raw == raw.strip()
    assert result.extension is None


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("0412 345 678", "AU", "+61412345678"),
        ("(02) 9876 5432", "AU", "+61298765432"),
        ("0011 61 412 345 678", "AU", "+61412345678"),  # AU international dialling prefix
        ("020 7946 0018", "GB", "+442079460018"),
        ("07700 900123", "GB", "+447700900123"),  # Ofcom drama range: possible, not valid
        ("020 7946 0018", "UK", "+442079460018"),  # common alias for GB
        ("020 7946 0018", "gb", "+442079460018"),
        ("011 44 20 7946 0018", "US", "+442079460018"),  # US international dialling prefix
    ],
)
def test_other_regions(raw, region, expected):
    assert normalize_phone(raw, region=region) == PhoneResult(expected, raw, None)


def test_same_digits_differ_by_region():
    assert normalize_phone("0412 345 678", region="US").e164 is None
    assert normalize_phone("0412 345 678", region="AU").e164 == "+61412345678"


@pytest.mark.parametrize("region", [None, "", "XX", "not-a-region"])
def test_unknown_region_only_accepts_international_format(region):
    if region in (None, ""):
        assert normalize_phone("555-010-0123", region=region).e164 == "+15550100123"  # default US
    else:
        assert normalize_phone("555-010-0123", region=region).e164 is None
    assert normalize_phone("+61 412 345 678", region=region).e164 == "+61412345678"


def test_normalize_region():
    assert normalize_region("au") == "AU"
    assert normalize_region("UK") == "GB"
    assert normalize_region(None) == "US"
    assert normalize_region("Mars") == "ZZ"


@pytest.mark.parametrize("raw", [5550100123, 12.5, b"555", object(), ["555"]])
def test_never_raises_on_odd_types(raw):
    result = normalize_phone(raw)
    assert isinstance(result, PhoneResult)


def test_integer_input_is_read_as_digits():
    assert normalize_phone(5550100123).e164 == "+15550100123"
