"""Dialects: the variants of IDEXX Neo's answers that the facts leave open, chosen per clinic.

the facts file IDEXX_FACTS.md marks some things **[unknown]**: which calendar envelope IDEXX
sends, whether times are wall time or ISO 8601, whether diagnoses are strings or objects,
whether ids are strings or numbers, whether optional fields are left out. Older login pages name
the company field ``companyId``, some show errors in ``.alert-danger``, and some accounts have a
two-step page. A dialect fixes one choice per question for one clinic, so a test can prove the
provider reads every variant.

A dialect changes the *encoding* of an answer, never its information: the same records are
served in every dialect, and `/__sim/truth` (the ground truth) does not depend on it. That is
what lets one fidelity test run unchanged over every dialect.

Each clinic starts with a seeded default: clinic number ``n`` takes option ``(n - 1) % len``
of every question (so clinic 1 speaks the first option of each, and four clinics cover every
calendar envelope). ``twoStep`` is always ``off`` by default, or the demo could not sign in.
`PUT /__sim/clinics/<n>/dialect` changes any subset; `POST /__sim/reset` restores the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..models import JsonObject

# question -> the variants, in the order the facts list them (the first is clinic 1's default)
OPTIONS: dict[str, tuple[str, ...]] = {
    "calendarEnvelope": ("appointments", "data", "events", "bare"),
    "dateFormat": ("wall", "iso", "iso_local"),
    "diagnoses": ("objects", "strings"),
    "ids": ("numbers", "strings"),
    "optionalFields": ("present", "absent"),
    "dischargeSummary": ("consultation", "consultationNotes"),
    "companyField": ("company_id", "companyId"),
    "errorBanner": ("error-message", "alert-danger"),
    "twoStep": ("off", "code", "otp"),
}
NOT_SEEDED = {"twoStep": "off"}  # a default clinic must be one the demo can sign in to

_ATTRS = {
    "calendarEnvelope": "calendar_envelope", "dateFormat": "date_format", "diagnoses": "diagnoses",
    "ids": "ids", "optionalFields": "optional_fields", "dischargeSummary": "discharge_summary",
    "companyField": "company_field", "errorBanner": "error_banner", "twoStep": "two_step",
}


class DialectError(ValueError):
    """A dialect change the control API refuses (400); the message lists the valid options."""


@dataclass(frozen=True)
class Dialect:
    calendar_envelope: str = "appointments"  # {"appointments": [...]}, {"data": ...}, {"events": ...}, bare list
    date_format: str = "wall"  # wall: 2026-11-26 09:00:00; iso: 2026-11-26T09:00:00-05:00; iso_local: no offset
    diagnoses: str = "objects"  # objects: [{"name", "code", "status"}]; strings: ["Otitis externa"]
    ids: str = "numbers"  # appointment and consultation ids as JSON numbers or as strings
    optional_fields: str = "present"  # present: null/false/empty served; absent: such fields left out
    discharge_summary: str = "consultation"  # consultation.dischargeSummary or consultationNotes.notes
    company_field: str = "company_id"  # the login form's company input name
    error_banner: str = "error-message"  # the login page's error banner class
    two_step: str = "off"  # off, or a two-step page asking for `code` / `otp` after a good password

    def to_json(self) -> dict[str, str]:
        values = asdict(self)
        return {question: values[attr] for question, attr in _ATTRS.items()}

    def changed(self, changes: JsonObject) -> Dialect:
        """A copy with ``changes`` (question -> option) applied; unknown questions or options refused."""
        if not isinstance(changes, dict):
            raise DialectError("a dialect is a JSON object like {\"calendarEnvelope\": \"bare\"}")
        updates = {}
        for question, option in changes.items():
            if question not in OPTIONS:
                raise DialectError(f"unknown dialect question {question!r}; use {sorted(OPTIONS)}")
            if option not in OPTIONS[question]:
                raise DialectError(f"{question} must be one of {list(OPTIONS[question])}")
            updates[_ATTRS[question]] = option
        return replace(self, **updates)

    @property
    def omit_empty(self) -> bool:
        return self.optional_fields == "absent"


def seeded(number: int) -> Dialect:
    """Clinic ``number``'s default dialect: a rotation through every option, deterministic."""
    choice = {q: NOT_SEEDED.get(q, opts[(number - 1) % len(opts)]) for q, opts in OPTIONS.items()}
    return Dialect().changed(choice)
