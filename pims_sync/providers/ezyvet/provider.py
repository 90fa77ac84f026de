"""EzyvetProvider: the PimsProvider for ezyVet's public REST API (no browser).

Reading a window costs a handful of calls, never one per appointment: /v2/appointment by
``start_at`` epoch range, every page at ``limit=200``; then the animals, contacts and their
contact details of that page set, batched with ``id={"in": [...]}``; status, type, resource
and species names from lookup tables read once per site and kept in this process for
``LOOKUP_TTL_S``. Consults come from /v1/consult by date range (enrichment reads the window
once, then each detail from that), else one by id.

Appointment times are epoch seconds (UTC): no wall-time conversion, unlike IDEXX. The clinic's
time zone still decides the window (the sync phases compute it), so it is compared with
/v3/siteInformation and a mismatch is reported in ``warnings``, as is time held by the limiter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import PimsProtocolError, ProviderError
from ...models import Appointment, Clinic, Consultation, ConsultationSummary, ScheduleConfig, external_id_for
from ..registry import PROVIDERS, RateLimit
from ..session import InMemorySessionCache
from . import transforms as t
from .client import EzyvetClient
from .limiter import LocalRateLimiter

log = logging.getLogger(__name__)

SPEC = PROVIDERS["ezyvet"]
PAGE_LIMIT = 200  # the most a page holds (client practice; the simulator's cap)
BATCH = 200  # ids per id={"in": [...]} call: one page each
LOOKUP_TTL_S = 900.0
#: an incremental read asks for changes since the last run's start minus this: it covers a clock
#: difference between this machine and ezyVet, and writes ezyVet had not committed when we read
MODIFIED_OVERLAP_S = 300
_LOOKUPS: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}  # (base url, site) -> (fetched at, tables)
_LOOKUPS_LOCK = threading.Lock()


class EzyvetProvider:
    """ezyVet for one clinic. Fetches only; never touches the store."""

    source = SPEC.source
    supports_incremental = SPEC.supports_incremental

    def __init__(self, *, clinic: Clinic, credentials_loader: Callable[[], Mapping[str, str]], base_url: str,
                 token_cache: Any = None, token_lock: Callable[[str], Any] | None = None, limiter: Any = None,
                 rate_limit: RateLimit | None = None, client_options: Mapping[str, Any] | None = None):
        self.clinic = clinic
        self._loader = credentials_loader
        self._creds: Mapping[str, str] | None = None
        self._creds_lock = threading.Lock()
        locks: dict[str, threading.RLock] = {}
        self.limiter = limiter or LocalRateLimiter()
        self.client = EzyvetClient(
            base_url, site_key=self._site_key, clinic_id=clinic.id, credentials=self._credentials,
            token_cache=token_cache if token_cache is not None else InMemorySessionCache(),
            token_lock=token_lock or (lambda key: locks.setdefault(key, threading.RLock())),
            limiter=self.limiter, rate_limit=rate_limit or SPEC.rate_limit, **dict(client_options or {}))
        self._consults: dict[str, Consultation] = {}
        self._warnings: list[str] = []

    def __repr__(self) -> str:
        return f"EzyvetProvider(clinic={self.clinic.id!r}, base_url={self.client.base_url!r})"

    def _credentials(self) -> Mapping[str, str]:
        with self._creds_lock:
            if self._creds is None:
                self._creds = self._loader()
            return self._creds

    def _site_key(self) -> str:
        """The site the tokens and rate buckets belong to: the site uid when the clinic has one
        stored, else the clinic (loading credentials here is cheap: no login, just a decrypt)."""
        site = (self._credentials().get("site_uid") or "").strip()
        return site or f"clinic-{self.clinic.id}"

    # --- protocol ------------------------------------------------------------------------------

    def ensure_session(self) -> None:
        self.client.token()

    def close(self) -> None:
        self.client.close()

    def external_id(self, appointment_id: str) -> str:
        return external_id_for(appointment_id, "ezyvet")

    @property
    def warnings(self) -> list[str]:
        found = list(self._warnings)
        if self.limiter.waited_s >= 0.05:
            found.append(f"waited {self.limiter.waited_s:.1f} s on the ezyVet rate limiter")
        return found

    @property
    def site_timezone(self) -> str | None:
        """The time zone /v3/siteInformation reported, once this process read the site's lookups."""
        with _LOOKUPS_LOCK:
            entry = _LOOKUPS.get((self.client.base_url, self.client.site_key))
        zone = entry[1].get("timezone") if entry is not None else None
        return zone if isinstance(zone, str) else None

    @property
    def stats(self) -> dict[str, Any]:
        return {"requests": dict(self.client.requests), "tokens_fetched": self.client.tokens_fetched,
                "rate_limited": self.client.rate_limited, "limiter_waited_s": round(self.limiter.waited_s, 3)}

    def appointments(self, start: datetime, end: datetime, modified_since: datetime | None = None
                     ) -> list[Appointment]:
        """Appointments starting in [start, end), block-outs left out; with ``modified_since``,
        only those ezyVet changed after it, minus MODIFIED_OVERLAP_S (docs/EZYVET_API.md says why)."""
        lo, hi = _epochs(start, end)
        filters: dict[str, Any] = {"start_at": {"gte": lo, "lt": hi}}
        if modified_since is not None:
            since, _ = _epochs(modified_since, modified_since)
            filters["modified_at"] = {"gt": since - MODIFIED_OVERLAP_S}
        records = self._all(t.APPOINTMENT, "appointment", filters)
        lookups = self._lookups()
        animals = self._by_ids(t.ANIMAL, "animal", {r.get("animal_id") for r in records})
        contact_ids = {r.get("contact_id") for r in records} | {a.get("contact_id") for a in animals.values()}
        contacts = self._by_ids(t.CONTACT, "contact", contact_ids)
        details = self._batched(t.CONTACT_DETAIL, "contactdetail", "contact_id", list(contacts))
        points = t.contact_points(details)
        found = []
        for r in records:
            a = t.appointment(r, statuses=lookups["statuses"], types=lookups["types"], resources=lookups["resources"],
                              animals=animals, contacts=contacts, points=points, species=lookups["species"],
                              phone_region=self.clinic.phone_region)
            if a is not None and lo <= a.start.timestamp() < hi:
                found.append(a)
        return sorted({a.id: a for a in found}.values(), key=lambda a: (a.start, a.id))

    def schedule_config(self) -> ScheduleConfig:
        lookups = self._lookups()
        return ScheduleConfig(slot_minutes=15, business_hours=(), providers=tuple(lookups["resources"].values()),
                              rooms=(), source=t.RESOURCE)

    def consultations(self, start: datetime, end: datetime) -> list[ConsultationSummary]:
        lo, hi = _epochs(start, end)
        records = self._all(t.CONSULT, "consult", {"date": {"gte": lo, "lt": hi}})
        animals = self._by_ids(t.ANIMAL, "animal", {r.get("animal_id") for r in records})
        found = [t.consultation(r, animals=animals) for r in records]
        self._consults.update({c.id: c for c in found})
        return sorted((t.summary(c) for c in found), key=lambda s: (s.date, s.id))

    def consultation(self, consultation_id: str) -> Consultation:
        known = self._consults.get(str(consultation_id))
        if known is not None:
            return known
        records, _ = t.unwrap(self.client.get(t.CONSULT, {"id": {"eq": consultation_id}}), "consult", t.CONSULT)
        if not records:
            raise PimsProtocolError(f"HTTP 404: consult {consultation_id} not found", endpoint=t.CONSULT)
        animals = self._by_ids(t.ANIMAL, "animal", {records[0].get("animal_id")})
        return t.consultation(records[0], animals=animals)

    # --- reading -------------------------------------------------------------------------------

    def _all(self, endpoint: str, wrapper: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page of a filtered list: page 1 says items_page_total, then 2..N."""
        params = {**filters, "limit": PAGE_LIMIT, "page": 1}
        records, pages = t.unwrap(self.client.get(endpoint, params), wrapper, endpoint)
        for page in range(2, pages + 1):
            more, _ = t.unwrap(self.client.get(endpoint, {**params, "page": page}), wrapper, endpoint)
            records.extend(more)
        return records

    def _batched(self, endpoint: str, wrapper: str, field: str, ids: Iterable[Any]) -> list[dict[str, Any]]:
        wanted = sorted({i for i in (t.as_int(x) for x in ids) if i is not None})
        out: list[dict[str, Any]] = []
        for k in range(0, len(wanted), BATCH):
            out.extend(self._all(endpoint, wrapper, {field: {"in": wanted[k:k + BATCH]}}))
        return out

    def _by_ids(self, endpoint: str, wrapper: str, ids: Iterable[Any]) -> dict[int, dict[str, Any]]:
        found = ((t.as_int(r.get("id")), r) for r in self._batched(endpoint, wrapper, "id", ids))
        return {rid: r for rid, r in found if rid is not None}

    def _lookups(self) -> dict[str, Any]:
        """Names of statuses, types, resources, species for this site, read once per LOOKUP_TTL_S
        per process; the site's time zone is compared with the clinic's at the same time."""
        key = (self.client.base_url, self.client.site_key)
        with _LOOKUPS_LOCK:
            entry = _LOOKUPS.get(key)
        if entry is not None and time.monotonic() - entry[0] < LOOKUP_TTL_S:
            tables = entry[1]
        else:
            tables = {name: t.names(self._all(endpoint, wrapper, {"active": 1}))
                      for name, endpoint, wrapper in (("statuses", t.STATUS, "appointmentstatus"),
                                                      ("types", t.TYPE, "appointmenttype"),
                                                      ("resources", t.RESOURCE, "resource"),
                                                      ("species", t.SPECIES, "species"))}
            tables["timezone"] = self._site_timezone()
            with _LOOKUPS_LOCK:
                _LOOKUPS[key] = (time.monotonic(), tables)
        zone = tables.get("timezone")
        if zone and zone != self.clinic.timezone:
            warning = (f"clinics.timezone is {self.clinic.timezone} but ezyVet's /v3/siteInformation says {zone}; "
                       "sync windows follow clinics.timezone")
            if warning not in self._warnings:
                self._warnings.append(warning)
        return tables

    def _site_timezone(self) -> str | None:
        try:
            return t.site_timezone(self.client.get(t.SITE_INFORMATION))
        except ProviderError as e:  # a nicety: never fails a sync
            log.info("clinic %s: %s unusable (%s)", self.clinic.id, t.SITE_INFORMATION, e.__class__.__name__)
            return None


def forget_lookups() -> None:
    """Drop the per-process lookup cache (tests that change a site's tables)."""
    with _LOOKUPS_LOCK:
        _LOOKUPS.clear()


def _epochs(start: datetime, end: datetime) -> tuple[int, int]:
    for value in (start, end):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("provider ranges take aware datetimes (UTC or with an offset)")
    return int(start.astimezone(UTC).timestamp()), int(end.astimezone(UTC).timestamp())
