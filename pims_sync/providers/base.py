"""The provider-agnostic PIMS protocol.

A provider fetches; it never touches the store. Sync phases depend only on this protocol,
so ezyVet or Cornerstone plug in without changing ``pims_sync.sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..models import Appointment, Consultation, ConsultationSummary, ScheduleConfig


@runtime_checkable
class PimsProvider(Protocol):
    #: value of cases.source and the slug in external ids, e.g. "pims:idexx-neo"
    source: str

    def ensure_session(self) -> None:
        """Log in if there is no usable session (may use a shared session cache)."""

    def close(self) -> None: ...

    def appointments(self, start: datetime, end: datetime) -> list[Appointment]:
        """Appointments starting in [start, end) — aware datetimes; blocks/rosters excluded."""

    def schedule_config(self) -> ScheduleConfig: ...

    def consultations(self, start: datetime, end: datetime) -> list[ConsultationSummary]:
        """Every consultation in the range, all pages read."""

    def consultation(self, consultation_id: str) -> Consultation: ...

    def external_id(self, appointment_id: str) -> str: ...


@runtime_checkable
class SessionCache(Protocol):
    """Where PIMS session cookies live between logins, shared by every worker of a clinic.

    Values are the provider's cookie dicts (``{name: value}`` for IDEXX); implementations
    store them encrypted and never log them.
    """

    def get(self, clinic_id: str) -> dict[str, str] | None: ...

    def set(self, clinic_id: str, cookies: dict[str, str], ttl_s: float) -> None: ...

    def invalidate(self, clinic_id: str, cookies: dict[str, str] | None = None) -> None:
        """Forget the clinic's session; with ``cookies``, only if those are still the stored ones
        (so a worker holding a dead session cannot erase a fresh one another worker just stored)."""

    def mark_verified(self, clinic_id: str, cookies: dict[str, str]) -> None:
        """A data call succeeded with these cookies (ignored unless they are the stored ones).

        Every worker then knows the session once worked, so a later rejection is an expiry
        (one re-login), while a session nobody has used yet that is rejected means the PIMS is
        not serving (retry, then fail): logging in again would not help and could lock the account.
        """

    def is_verified(self, clinic_id: str, cookies: dict[str, str]) -> bool:
        """Whether some worker's data call succeeded with exactly these stored cookies."""


#: builds a provider for one clinic; the worker supplies browser, session cache and credentials
ProviderFactory = Callable[..., PimsProvider]
