"""What pims-sync keeps between syncs about a clinic's PIMS: ``pims_sync_provider_state``.

One row per clinic and provider (migration 20261201000010), written by a successful inbound
phase of a provider that declares ``supports_incremental`` (pims_sync/providers/registry.py):

* the incremental watermark: ``modified_since`` (when that phase's fetch started) and the window
  it read (``covered_start``, ``covered_end``). The next inbound run whose window lies inside that
  one asks only for appointments modified since then (the provider subtracts its own overlap);
  any other window is read in full, and its own window is stored instead;
* ``site_timezone``: what the PIMS reported (ezyVet's /v3/siteInformation), kept when a run did
  not learn it again, so ``pims-sync clinics show`` compares it with clinics.timezone offline.

Both stores implement the same three columns' rules: PostgresStore in one statement, the
Supabase store as a clinic read and an upsert over PostgREST (timestamps from this machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postgrest.types import ReturnMethod

from ..errors import NotFound, ValidationError
from . import _rows as rows
from ._host import PostgresHost, SupabaseHost

TABLE = "pims_sync_provider_state"
MAX_ZONE_LENGTH = 64


@dataclass(frozen=True)
class ProviderState:
    clinic_id: str
    provider: str
    modified_since: datetime | None = None  # start of the last successful inbound fetch
    covered_start: datetime | None = None  # the window that fetch read, [start, end)
    covered_end: datetime | None = None
    site_timezone: str | None = None  # what the PIMS said its site's zone is
    site_checked_at: datetime | None = None
    updated_at: datetime | None = None

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether an inbound window [start, end) lies inside the last one read (so an
        incremental read of it misses nothing)."""
        if self.modified_since is None or self.covered_start is None or self.covered_end is None:
            return False
        return self.covered_start <= start and end <= self.covered_end


def _when(value: Any) -> datetime | None:
    """psycopg gives datetimes, PostgREST ISO strings."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _state(row: dict[str, Any]) -> ProviderState:
    return ProviderState(
        clinic_id=str(row["clinic_id"]),
        provider=str(row["provider"]),
        modified_since=_when(row.get("modified_since")),
        covered_start=_when(row.get("covered_start")),
        covered_end=_when(row.get("covered_end")),
        site_timezone=row.get("site_timezone"),
        site_checked_at=_when(row.get("site_checked_at")),
        updated_at=_when(row.get("updated_at")),
    )


def _checked(modified_since: datetime, window: tuple[datetime, datetime], site_timezone: str | None) -> None:
    for name, value in (("modified_since", modified_since), ("window start", window[0]), ("window end", window[1])):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValidationError(f"provider state: {name} must be an aware datetime", details={"field": name})
    if window[1] < window[0]:
        raise ValidationError("provider state: the window ends before it starts", details={"field": "window"})
    if site_timezone is not None and (not site_timezone.strip() or len(site_timezone) > MAX_ZONE_LENGTH):
        raise ValidationError("provider state: site_timezone must be a zone name", details={"field": "site_timezone"})


class ProviderStateQueries(PostgresHost):
    """PostgresStore's methods (a mixin over its ``_one``)."""

    def get_provider_state(self, clinic_id: str, provider: str) -> ProviderState | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "get provider state", f"select * from {TABLE} where clinic_id = %s and provider = %s", (cid, provider)
        )
        return None if row is None else _state(row)

    def save_sync_watermark(
        self,
        clinic_id: str,
        provider: str,
        *,
        modified_since: datetime,
        window: tuple[datetime, datetime],
        site_timezone: str | None = None,
    ) -> None:
        """After a successful inbound phase: its fetch's start and window; the site's zone when
        the run learnt it (else the stored one stays). NotFound without the clinic."""
        cid = rows.parse_uuid(clinic_id, "clinic")
        _checked(modified_since, window, site_timezone)
        row = self._one(
            "save sync watermark",
            f"""insert into {TABLE} (clinic_id, provider, modified_since, covered_start, covered_end,
                                     site_timezone, site_checked_at)
                select c.id, %s, %s, %s, %s, %s::text, case when %s::text is null then null else now() end
                from clinics c where c.id = %s
                on conflict (clinic_id, provider) do update set
                    modified_since = excluded.modified_since, covered_start = excluded.covered_start,
                    covered_end = excluded.covered_end,
                    site_timezone = coalesce(excluded.site_timezone, {TABLE}.site_timezone),
                    site_checked_at = coalesce(excluded.site_checked_at, {TABLE}.site_checked_at)
                returning clinic_id""",
            (provider, modified_since, window[0], window[1], site_timezone, site_timezone, cid),
        )
        if row is None:
            raise NotFound(f"clinic {cid} not found")


class SupabaseProviderState(SupabaseHost):
    """SupabaseStore's methods (a mixin over its ``table`` and ``_read``), the same rules."""

    def get_provider_state(self, clinic_id: str, provider: str) -> ProviderState | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = self.table(TABLE).select("*").eq("clinic_id", cid).eq("provider", provider)
        found = self._read("get provider state", TABLE, query)
        return _state(found[0]) if found else None

    def save_sync_watermark(
        self,
        clinic_id: str,
        provider: str,
        *,
        modified_since: datetime,
        window: tuple[datetime, datetime],
        site_timezone: str | None = None,
    ) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        _checked(modified_since, window, site_timezone)
        found = self._read(
            "save sync watermark", "clinics", self.table("clinics").select("id").eq("id", cid)
        )
        if not found:
            raise NotFound(f"clinic {cid} not found")
        row: dict[str, Any] = {
            "clinic_id": cid,
            "provider": provider,
            "modified_since": modified_since.isoformat(),
            "covered_start": window[0].isoformat(),
            "covered_end": window[1].isoformat(),
        }
        if site_timezone is not None:  # columns left out of an upsert keep their stored value
            row |= {"site_timezone": site_timezone, "site_checked_at": datetime.now(UTC).isoformat()}
        query = self.table(TABLE).upsert(
            row, on_conflict="clinic_id,provider", returning=ReturnMethod.minimal
        )
        self._read("save sync watermark", TABLE, query)
