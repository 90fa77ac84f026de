"""SupabaseStore: the Store protocol over Supabase's REST API (supabase-py, PostgREST underneath).

For deployments that have SUPABASE_URL and the service-role key but no direct Postgres
connection. Multi-row semantics are never re-implemented here: batch upsert, soft delete,
restore and the audit lifecycle are ``.rpc()`` calls of the same SQL functions PostgresStore
runs with ``SELECT fn(...)`` (``supabase/migrations``). Plain reads and single-row writes use the
table API. Clinics, credentials and schedule configs live in this module, API keys in
:mod:`._supabase_keys`, the sync data (cases, audits) in :mod:`._supabase_sync`, other providers'
credentials and state in :mod:`._provider_credentials` and :mod:`._provider_state`, webhooks in
:mod:`._supabase_webhooks`.

Differences a caller may notice, all forced by the REST API: each upsert chunk of 500 cases is its
own transaction (PostgresStore puts a whole batch in one), timestamps PostgREST cannot compute
(``last_validated_at``) come from this machine's clock, and lists are read in pages of
``page_size`` rows because Supabase caps a response at its "Max Rows" setting (1000 by default).
Writes that PostgresStore makes in one statement take a read and a write here (saving credentials,
binding or granting a key): a bind only applies while the key is still shared, but two first saves
of a clinic's credentials at the same moment can insert two rows (the newer is then the one used,
where PostgresStore serialises them with an advisory lock); a
clinic's credentials rows come embedded in the clinic read, and the row that holds its flags is
chosen in Python by the same rule (``_clinic_rules.CREDENTIALS_ORDER``) the SQL orders by.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod

from ..errors import CredentialsMissing, StoreError, ValidationError
from ..models import Clinic, EncryptedCredentials, ScheduleConfigRow
from . import _clinic_rules as rules
from . import _rows as rows
from ._provider_credentials import SupabaseProviderCredentials
from ._provider_state import SupabaseProviderState
from ._supabase_errors import redact_key, translate_api_error, translate_transport_error
from ._supabase_keys import SupabaseApiKeys
from ._supabase_sync import SupabaseSyncData
from ._supabase_webhooks import SupabaseWebhooks

# PostgREST embeds the clinic through the clinic_id foreign key: one request, no join view needed
CONFIG_SELECT = "clinic_id,sync_schedules,version,updated_at,clinics(timezone,is_active)"
CREDENTIALS = "idexx_credentials"
# what picks the clinic's credentials row (CREDENTIALS_ORDER) and the flag it holds
CHOICE_COLUMNS = "id,is_active,updated_at,created_at,sync_enabled"
# a clinic with its credentials rows embedded: sync_enabled is the chosen row's flag
CLINIC_SELECT = f"*,{CREDENTIALS}({CHOICE_COLUMNS})"
DEFAULT_PAGE_SIZE = 1000


def jsonable(value: Any) -> Any:
    """Plain JSON values (datetimes as ISO strings, tuples as lists), as PostgresStore sends them."""
    import json

    return json.loads(rows.dumps(value))


def iso(value: datetime) -> str:
    return value.isoformat()


def _clinic(row: dict[str, Any]) -> Clinic:
    chosen = rules.preferred(row.get(CREDENTIALS) or [])
    return rows.clinic({**row, "sync_enabled": None if chosen is None else chosen.get("sync_enabled")})


def _credentials_order(query: Any) -> Any:
    for column, desc in rules.CREDENTIALS_ORDER:
        query = query.order(column, desc=desc, nullsfirst=False)
    return query


def _config_row(row: dict[str, Any]) -> ScheduleConfigRow:
    clinic = row.get("clinics") or {}
    return rows.schedule_config({**row, "timezone": clinic["timezone"], "clinic_active": clinic["is_active"]})


class SupabaseStore(SupabaseApiKeys, SupabaseSyncData, SupabaseProviderCredentials, SupabaseProviderState,
                    SupabaseWebhooks):
    """The product database through a Supabase project's REST API, as the service role."""

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        client: Any = None,
        timeout_s: float = 30.0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ):
        if not url or not service_role_key:
            raise StoreError("SupabaseStore needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
        self._url = url.rstrip("/")
        self._key = service_role_key
        self._timeout_s = timeout_s
        self.page_size = page_size
        self._given_client = client
        self._client_obj: Any = None
        self._http: httpx.Client | None = None
        self._client_pid: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SupabaseStore({self._url!r})"

    # --- plumbing ----------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._given_client is not None:
            return self._given_client
        with self._lock:
            if self._client_obj is None or self._client_pid != os.getpid():
                # after a fork the parent's HTTP connections are not ours: open our own
                from supabase import ClientOptions, create_client

                self._http = httpx.Client(timeout=self._timeout_s, follow_redirects=True, http2=True)
                options = ClientOptions(
                    auto_refresh_token=False, persist_session=False, httpx_client=self._http
                )
                try:
                    self._client_obj = create_client(self._url, self._key, options=options)
                except Exception as e:  # supabase-py checks the URL's shape
                    raise StoreError(
                        redact_key(f"cannot create a Supabase client for {self._url}: {e}", self._key)
                    ) from None
                self._client_pid = os.getpid()
            return self._client_obj

    def table(self, name: str) -> Any:
        return self._client().table(name)

    def rpc(self, fn: str, args: dict[str, Any]) -> Any:
        return self._client().rpc(fn, jsonable(args))

    def _execute(self, what: str, target: str, builder: Any) -> Any:
        """Run one request; the response's data, or a StoreError naming ``target`` and the fix."""
        try:
            return builder.execute().data
        except APIError as e:
            # not chained: the APIError's details can hold row values (client PII, key hashes)
            raise translate_api_error(e, what, target=target, key=self._key) from None
        except httpx.HTTPError as e:
            raise translate_transport_error(e, what, url=self._url, key=self._key) from e

    def _read(self, what: str, table: str, builder: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._execute(what, f"table {table}", builder)
        return found

    def _read_all(self, what: str, table: str, build: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every row, in pages: Supabase returns at most "Max Rows" rows per request."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._read(what, table, build().range(len(found), len(found) + self.page_size - 1))
            found.extend(page)
            if len(page) < self.page_size:
                return found

    def _call(self, what: str, fn: str, args: dict[str, Any]) -> Any:
        return self._execute(what, f"function {fn}({', '.join(args)})", self.rpc(fn, args))

    def close(self) -> None:
        with self._lock:
            http, self._http, self._client_obj = self._http, None, None
        if http is not None and self._client_pid == os.getpid():
            http.close()

    def ping(self) -> None:
        """One cheap read that also proves the key works and the migrations are applied.

        Not retried (reads otherwise are, on 503s and dropped connections): a health probe must
        answer now rather than after postgrest-py's 1 + 2 + 4 s of backoff.
        """
        self._read("ping", "clinics", self.table("clinics").select("id").limit(1).retry(False))

    # --- clinics -----------------------------------------------------------------------------

    def create_clinic(
        self,
        *,
        name: str,
        timezone: str,
        pims_provider: str = "idexx-neo",
        clinic_id: str | None = None,
        pims_host: str | None = None,
        owner_user_id: str | None = None,
        is_active: bool = True,
        phone_region: str = "US",
    ) -> Clinic:
        row = rules.clinic_columns(
            {
                "name": name,
                "timezone": timezone,
                "pims_provider": pims_provider,
                "pims_host": pims_host,
                "owner_user_id": owner_user_id,
                "is_active": is_active,
                "phone_region": phone_region,
            }
        )
        if clinic_id is not None:
            row = {"id": rules.check_uuid(clinic_id, "clinic_id"), **row}
        (made,) = self._read("create clinic", "clinics", self.table("clinics").insert(row))
        return rows.clinic({**made, "sync_enabled": None})  # a new clinic has no credentials row

    def update_clinic(self, clinic_id: str, **changes: Any) -> Clinic:
        """Change the named fields only; the product's other columns are never written."""
        values = rules.clinic_columns(changes)
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not values:
            return self.get_clinic(cid)
        query = self.table("clinics").update(values).eq("id", cid).select(CLINIC_SELECT)
        found = self._read("update clinic", "clinics", query)
        if not found:
            raise rows.clinic_not_found(cid)
        return _clinic(found[0])

    def get_clinic(self, clinic_id: str) -> Clinic:
        cid = rows.parse_uuid(clinic_id, "clinic")
        found = self._read("get clinic", "clinics", self.table("clinics").select(CLINIC_SELECT).eq("id", cid))
        if not found:
            raise rows.clinic_not_found(cid)
        return _clinic(found[0])

    def list_clinics(self, *, active_only: bool = True) -> list[Clinic]:
        def build() -> Any:
            query = self.table("clinics").select(CLINIC_SELECT)
            if active_only:
                query = query.eq("is_active", True)
            return query.order("name").order("id")

        return [_clinic(r) for r in self._read_all("list clinics", "clinics", build)]

    # --- credentials (idexx_credentials: the product's table, possibly one row per user) -----

    def _credentials_row_id(self, what: str, clinic_id: str) -> str | None:
        """The id of the row the store uses for the clinic (CREDENTIALS_ORDER), if any."""
        query = _credentials_order(self.table(CREDENTIALS).select("id").eq("clinic_id", clinic_id)).limit(1)
        found = self._read(what, CREDENTIALS, query)
        return found[0]["id"] if found else None

    def save_credentials(self, creds: EncryptedCredentials) -> None:
        """Update the clinic's row (CREDENTIALS_ORDER) or insert one owned by the clinic's owner."""
        cid = rows.parse_uuid(creds.clinic_id, "clinic")
        if not rules.is_idexx(creds.provider):
            raise ValidationError(rows.other_provider(creds.provider, cid))
        query = (
            self.table("clinics").select(f"id,owner_user_id,{CREDENTIALS}({CHOICE_COLUMNS})").eq("id", cid)
        )
        found = self._read("save credentials", "clinics", query)
        if not found:
            raise rows.clinic_not_found(cid)
        row = {
            # bytea goes over JSON in Postgres's hex form
            "username_encrypted": "\\x" + creds.username_encrypted.hex(),
            "password_encrypted": "\\x" + creds.password_encrypted.hex(),
            "company_id_encrypted": "\\x" + creds.company_id_encrypted.hex(),
            "encryption_key_id": creds.encryption_key_id,
            "is_active": creds.is_active,
            "validation_status": creds.validation_status,
        }
        chosen = rules.preferred(found[0].get(CREDENTIALS) or [])
        table = self.table(CREDENTIALS)
        if chosen is not None:
            query = table.update({**row, "last_validated_at": None}, returning=ReturnMethod.minimal)
            query = query.eq("id", chosen["id"])
        else:
            new = {"clinic_id": cid, "user_id": found[0].get("owner_user_id"), **row}
            query = table.insert(new, returning=ReturnMethod.minimal)
        self._read("save credentials", CREDENTIALS, query)

    def get_credentials(self, clinic_id: str, provider: str = "idexx") -> EncryptedCredentials:
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not rules.is_idexx(provider):
            raise CredentialsMissing(rows.other_provider(provider, cid))
        query = self.table(CREDENTIALS).select("*").eq("clinic_id", cid).eq("is_active", True)
        found = self._read("get credentials", CREDENTIALS, _credentials_order(query).limit(1))
        if not found:
            raise rows.no_credentials(cid, provider, active=True)
        return rows.credentials(found[0], provider)

    def mark_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not rules.is_idexx(provider):  # other providers' rows: pims_sync_provider_credentials
            return self.mark_provider_credentials_validated(cid, provider, status=status)
        chosen = self._credentials_row_id("mark credentials validated", cid)
        if chosen is None:
            raise rows.no_credentials(cid, provider)
        query = (
            self.table(CREDENTIALS)
            .update({"validation_status": status, "last_validated_at": iso(datetime.now(UTC))})
            .eq("id", chosen)
            .select("id")
        )
        if not self._read("mark credentials validated", CREDENTIALS, query):
            raise rows.no_credentials(cid, provider)

    # other providers' credentials (pims_sync_provider_credentials): SupabaseProviderCredentials

    def set_sync_enabled(self, clinic_id: str, enabled: bool) -> None:
        """Every credentials row of the clinic (the old service reads its user's row); the row
        the store uses is written last, so it stays the most recently updated one."""
        cid = rows.parse_uuid(clinic_id, "clinic")
        enabled = rules.check_bool(enabled, "enabled")
        chosen = self._credentials_row_id("set sync enabled", cid)
        if chosen is None:
            raise CredentialsMissing(
                f"clinic {cid} has no credentials row (idexx_credentials) to hold sync_enabled"
            )
        for pick in ("neq", "eq"):
            query = (
                self.table(CREDENTIALS)
                .update({"sync_enabled": enabled}, returning=ReturnMethod.minimal)
                .eq("clinic_id", cid)
                .filter("id", pick, chosen)
                .not_.is_("sync_enabled", enabled)
            )
            self._read("set sync enabled", CREDENTIALS, query)

    # --- schedule configs --------------------------------------------------------------------

    def set_schedule_config(self, clinic_id: str, sync_schedules: Any) -> ScheduleConfigRow:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = (
            self.table("clinic_schedule_configs")
            .upsert({"clinic_id": cid, "sync_schedules": jsonable(sync_schedules)}, on_conflict="clinic_id")
            .select(CONFIG_SELECT)  # the version/updated_at the trigger set, and the clinic's zone
        )
        (row,) = self._read("set schedule config", "clinic_schedule_configs", query)
        return _config_row(row)

    def get_schedule_config(self, clinic_id: str) -> ScheduleConfigRow | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = self.table("clinic_schedule_configs").select(CONFIG_SELECT).eq("clinic_id", cid)
        found = self._read("get schedule config", "clinic_schedule_configs", query)
        return _config_row(found[0]) if found else None

    def list_schedule_configs(self, *, changed_since: datetime | None = None) -> list[ScheduleConfigRow]:
        """What the beat polls: LISTEN needs a direct connection, so REST deployments poll this."""

        def build() -> Any:
            query = self.table("clinic_schedule_configs").select(CONFIG_SELECT)
            if changed_since is not None:
                query = query.gt("updated_at", iso(changed_since))
            return query.order("updated_at").order("clinic_id")

        found = self._read_all("list schedule configs", "clinic_schedule_configs", build)
        return [_config_row(r) for r in found]

    # --- legacy schedule snapshots -----------------------------------------------------------

    def save_schedule_snapshot(self, clinic_id: str, day: str, payload: dict[str, Any]) -> None:
        row = {
            "clinic_id": rows.parse_uuid(clinic_id, "clinic"),
            "day": rows.day(day).isoformat(),
            "payload": jsonable(payload),
        }
        query = self.table("clinic_schedule_snapshots").upsert(
            row, on_conflict="clinic_id,day", returning=ReturnMethod.minimal
        )
        self._read("save schedule snapshot", "clinic_schedule_snapshots", query)

    def get_schedule_snapshot(self, clinic_id: str, day: str) -> dict[str, Any] | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        query = (
            self.table("clinic_schedule_snapshots")
            .select("payload")
            .eq("clinic_id", cid)
            .eq("day", rows.day(day).isoformat())
        )
        found = self._read("get schedule snapshot", "clinic_schedule_snapshots", query)
        return found[0]["payload"] if found else None
