"""Client phone numbers to E.164, tolerant of what receptionists type into a PIMS.

A sync must never fail because of a phone number, so :func:`normalize_phone` never raises:
anything it cannot make sense of comes back as ``e164=None`` with the raw text kept, so a
human can still read it on the case.

Acceptance rule (a decision, documented here because it is deliberate): a number is accepted
when ``phonenumbers`` deems it *possible* (right length for its country), not only when it is
*valid* (assigned to a real range). Test data and some real clinics use fictional numbers such
as 555-01xx, and a slightly stale metadata table must not drop real numbers either. We still
reject what is clearly not a number: text without digits, too short or too long, numbers that
only make sense locally (7-digit US numbers without an area code), placeholder digits such
as 000-000-0000, and North American numbers whose area code starts with 0 or 1.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

DEFAULT_REGION = "US"
# people (and some clinic settings) say UK; the ISO code phonenumbers knows is GB
_REGION_ALIASES = {"UK": "GB"}
_MAX_INPUT = 100  # a phone field longer than this is a note, not a number
# words that introduce an extension; any other letters make us look for a number inside text
_EXTENSION_WORDS = re.compile(r"(?i)\b(?:ext(?:ension)?|x)\.?\s*\d|#\s*\d|;ext=")


@dataclass(frozen=True)
class PhoneResult:
    """The outcome of normalisation: ``e164`` is None when the input is not a usable number."""

    e164: str | None
    raw: str | None
    extension: str | None = None

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def normalize_region(region: str | None) -> str:
    """An ISO region phonenumbers knows, or ``ZZ`` (only +-prefixed numbers then parse)."""
    code = (region or DEFAULT_REGION).strip().upper()
    code = _REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else "ZZ"


def normalize_phone(raw: object, *, region: str | None = DEFAULT_REGION) -> PhoneResult:
    """Parse ``raw`` in the clinic's default ``region``; never raises."""
    if raw is None:
        return PhoneResult(None, None)
    text = str(raw).strip()
    if not text:
        return PhoneResult(None, None)
    return _normalized(text, normalize_region(region))


@functools.lru_cache(maxsize=8192)
def _normalized(text: str, region: str) -> PhoneResult:
    """Cached: parsing costs ~0.3 ms, and a clinic's calendar repeats its clients' numbers."""
    try:
        number = _parse(text, region)
    except Exception:  # a phone number must never break a sync
        number = None
    if number is None:
        return PhoneResult(None, text)
    return PhoneResult(
        phonenumbers.format_number(number, PhoneNumberFormat.E164), text, number.extension or None
    )


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    if len(text) > _MAX_INPUT or not any(ch.isdigit() for ch in text):
        return None
    # Letters other than an extension marker are usually words ("cell", "home: ..."); the
    # matcher finds the number inside them, while parse() would read them as vanity digits.
    # parse() still gets its turn afterwards so that 1-800-FLOWERS works.
    letters = re.sub(_EXTENSION_WORDS, "", text)
    if any(ch.isalpha() for ch in letters):
        strategies = (_from_matcher, _from_parse)
    else:
        strategies = (_from_parse, _from_matcher)
    for strategy in strategies:
        number = strategy(text, region)
        if number is not None and _acceptable(number):
            return number
    return None


def _from_parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _from_matcher(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The first number found inside free text ("Home: ...", "a / b": the first one wins)."""
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        if _acceptable(match.number):
            return match.number
    return None


def _acceptable(number: phonenumbers.PhoneNumber) -> bool:
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return False
    national = phonenumbers.national_significant_number(number)
    # placeholders typed to get past a required field: 000-000-0000, 999 999 9999
    if len(set(national)) == 1:
        return False
    # North American area codes never start with 0 or 1 (not even fictional ones), so such a
    # number is a typo or a foreign number read in the wrong region
    if number.country_code == 1 and national[0] in "01":
        return False
    return True
