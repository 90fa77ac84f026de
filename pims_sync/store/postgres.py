"""PostgresStore: the Store protocol on psycopg 3 and a connection pool.

Clinic configuration (clinics, credentials, API keys, schedule configs, snapshots) lives here;
the sync data (cases, audits) in :mod:`._pg_sync`, which calls the SQL functions from
``supabase/migrations`` for every multi-row operation.

The pool is opened lazily and again after a fork: a Celery prefork worker that inherited a
store from its parent must not share the parent's sockets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import CredentialsMissing, NotFound, StoreError, ValidationError
from ..models import (
    PERMISSION_ALIASES,
    PERMISSIONS,
    ApiKeyRecord,
    Clinic,
    EncryptedCredentials,
    ScheduleConfigRow,
)
from . import _rows as rows
from ._errors import redact, safe_url, translate
from ._pg_sync import SyncDataQueries, jsonb

_CONFIG_SELECT = """
select s.clinic_id, s.sync_schedules, s.version, s.updated_at, c.timezone, c.is_active as clinic_active
  from clinic_schedule_configs s join clinics c on c.id = s.clinic_id
"""


class PostgresStore(SyncDataQueries):
    """The product database over a direct Postgres connection (DATABASE_URL)."""

    def __init__(self, database_url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 30.0):
        self._url = database_url
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool_obj: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({safe_url(self._url)!r})"

    # --- plumbing ----------------------------------------------------------------------------

    def _pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool_obj is None or self._pool_pid != os.getpid():
                # after a fork the inherited pool belongs to the parent: leave it, open our own
                self._pool_obj = ConnectionPool(
                    self._url,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._timeout_s,
                    kwargs={"row_factory": dict_row, "connect_timeout": 10},
                    name="pims-sync",
                    open=False,
                )
                self._pool_obj.open(wait=False)
                self._pool_pid = os.getpid()
            return self._pool_obj

    @contextmanager
    def _conn(self, what: str) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction; psycopg errors become StoreError/NotFound."""
        try:
            with self._pool().connection() as conn:
                yield conn
        except PoolTimeout as e:
            raise StoreError(
                f"{what} failed: no database connection within {self._timeout_s:g} s "
                f"({safe_url(self._url)}: {self._probe()})"
            ) from e
        except psycopg.Error as e:
            raise translate(e, what, self._url) from e

    def _probe(self) -> str:
        """Why connecting fails, in Postgres's words (the pool only says it timed out)."""
        try:
            psycopg.connect(self._url, connect_timeout=3).close()
        except psycopg.Error as e:
            return redact(str(e).strip().splitlines()[0], self._url)
        return "the pool is exhausted: every connection is busy"

    def _one(self, what: str, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._conn(what) as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._conn(what) as conn:
            return conn.execute(sql, params).fetchall()

    def _count(self, what: str, sql: str, params: Sequence[Any] = ()) -> int:
        with self._conn(what) as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            pool, self._pool_obj = self._pool_obj, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()

    def ping(self) -> None:
        self._one("ping", "select 1")

    # --- clinics -----------------------------------------------------------------------------

    def create_clinic(
        self, *, name: str, timezone: str, pims_provider: str = "idexx", clinic_id: str | None = None
    ) -> Clinic:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {timezone!r} (expected an IANA name)") from None
        if clinic_id is not None:
            clinic_id = _uuid_arg(clinic_id, "clinic_id")
        row = self._one(
            "create clinic",
            "insert into clinics (id, name, timezone, pims_provider) "
            "values (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s) returning *",
            (clinic_id, name, timezone, pims_provider),
        )
        return rows.clinic(row)

    def get_clinic(self, clinic_id: str) -> Clinic:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one("get clinic", "select * from clinics where id = %s", (cid,))
        if row is None:
            raise NotFound(f"clinic {cid} not found")
        return rows.clinic(row)

    def list_clinics(self, *, active_only: bool = True) -> list[Clinic]:
        found = self._all(
            "list clinics",
            "select * from clinics where is_active or not %s order by name, id",
            (active_only,),
        )
        return [rows.clinic(r) for r in found]

    # --- credentials -------------------------------------------------------------------------

    def save_credentials(self, creds: EncryptedCredentials) -> None:
        cid = rows.parse_uuid(creds.clinic_id, "clinic")
        self._one(
            "save credentials",
            """
            insert into pims_credentials (clinic_id, provider, username_encrypted, password_encrypted,
                company_id_encrypted, encryption_key_id, is_active, validation_status)
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (clinic_id, provider) do update set
                username_encrypted = excluded.username_encrypted,
                password_encrypted = excluded.password_encrypted,
                company_id_encrypted = excluded.company_id_encrypted,
                encryption_key_id = excluded.encryption_key_id,
                is_active = excluded.is_active,
                validation_status = excluded.validation_status,
                last_validated_at = null
            returning id
            """,
            (
                cid,
                creds.provider,
                creds.username_encrypted,
                creds.password_encrypted,
                creds.company_id_encrypted,
                creds.encryption_key_id,
                creds.is_active,
                creds.validation_status,
            ),
        )

    def get_credentials(self, clinic_id: str, provider: str = "idexx") -> EncryptedCredentials:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "get credentials",
            "select * from pims_credentials where clinic_id = %s and provider = %s and is_active",
            (cid, provider),
        )
        if row is None:
            raise CredentialsMissing(f"clinic {cid} has no active {provider} credentials")
        return rows.credentials(row)

    def mark_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        n = self._count(
            "mark credentials validated",
            "update pims_credentials set validation_status = %s, last_validated_at = now() "
            "where clinic_id = %s and provider = %s",
            (status, cid, provider),
        )
        if n == 0:
            raise CredentialsMissing(f"clinic {cid} has no {provider} credentials")

    # --- API keys ----------------------------------------------------------------------------

    def create_api_key(
        self,
        *,
        clinic_id: str,
        name: str,
        key_prefix: str,
        key_hash: str,
        permissions: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        cid = rows.parse_uuid(clinic_id, "clinic")
        perms = None if permissions is None else _permissions(permissions)
        row = self._one(
            "create API key",
            "insert into clinic_api_keys (clinic_id, name, key_prefix, key_hash, permissions, expires_at) "
            "values (%s, %s, %s, %s, %s, %s) returning *",
            (cid, name, key_prefix, key_hash, perms, expires_at),
        )
        return rows.api_key(row)

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        row = self._one("find API key", "select * from clinic_api_keys where key_hash = %s", (key_hash,))
        return None if row is None else rows.api_key(row)

    def list_api_keys(self, clinic_id: str) -> list[ApiKeyRecord]:
        cid = rows.parse_uuid(clinic_id, "clinic")
        found = self._all(
            "list API keys",
            "select * from clinic_api_keys where clinic_id = %s order by created_at, id",
            (cid,),
        )
        return [rows.api_key(r) for r in found]

    def revoke_api_key(self, key_id: str, *, clinic_id: str | None = None) -> bool:
        """True when an active key was revoked now (False: unknown, another clinic's, or already)."""
        try:
            kid = rows.parse_uuid(key_id, "API key")
            cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        except NotFound:
            return False
        n = self._count(
            "revoke API key",
            "update clinic_api_keys set is_active = false "
            "where id = %s and is_active and (%s::uuid is null or clinic_id = %s::uuid)",
            (kid, cid, cid),
        )
        return n > 0

    def touch_api_keys(self, key_ids: Sequence[str], at: datetime) -> None:
        ids = []
        for key_id in key_ids:
            try:
                ids.append(rows.parse_uuid(key_id, "API key"))
            except NotFound:
                continue
        if not ids:
            return
        self._count(
            "touch API keys",
            # never move last_used_at backwards: batches may arrive out of order
            "update clinic_api_keys set last_used_at = %s "
            "where id = any(%s::uuid[]) and (last_used_at is null or last_used_at < %s)",
            (at, ids, at),
        )

    # --- schedule configs --------------------------------------------------------------------

    def set_schedule_config(self, clinic_id: str, sync_schedules: Any) -> ScheduleConfigRow:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "set schedule config",
            # RETURNING carries the version/updated_at the trigger set; the clinic adds its zone
            """
            with up as (
                insert into clinic_schedule_configs (clinic_id, sync_schedules) values (%s, %s)
                on conflict (clinic_id) do update set sync_schedules = excluded.sync_schedules
                returning clinic_id, sync_schedules, version, updated_at
            )
            select up.*, c.timezone, c.is_active as clinic_active from up join clinics c on c.id = up.clinic_id
            """,
            (cid, jsonb(sync_schedules)),
        )
        return rows.schedule_config(row)

    def get_schedule_config(self, clinic_id: str) -> ScheduleConfigRow | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one("get schedule config", f"{_CONFIG_SELECT} where s.clinic_id = %s", (cid,))
        return None if row is None else rows.schedule_config(row)

    def list_schedule_configs(self, *, changed_since: datetime | None = None) -> list[ScheduleConfigRow]:
        found = self._all(
            "list schedule configs",
            f"{_CONFIG_SELECT} where %s::timestamptz is null or s.updated_at > %s order by s.updated_at, s.clinic_id",
            (changed_since, changed_since),
        )
        return [rows.schedule_config(r) for r in found]

    # --- legacy schedule snapshots -----------------------------------------------------------

    def save_schedule_snapshot(self, clinic_id: str, day: str, payload: dict[str, Any]) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        self._one(
            "save schedule snapshot",
            "insert into clinic_schedule_snapshots (clinic_id, day, payload) values (%s, %s, %s) "
            "on conflict (clinic_id, day) do update set payload = excluded.payload "
            "where clinic_schedule_snapshots.payload is distinct from excluded.payload returning id",
            (cid, _day(day), jsonb(payload)),
        )

    def get_schedule_snapshot(self, clinic_id: str, day: str) -> dict[str, Any] | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "get schedule snapshot",
            "select payload from clinic_schedule_snapshots where clinic_id = %s and day = %s",
            (cid, _day(day)),
        )
        return None if row is None else row["payload"]


def _uuid_arg(value: str, name: str) -> str:
    try:
        return rows.parse_uuid(value, name)
    except NotFound:
        raise ValidationError(f"{name} must be a UUID, got {value!r}") from None


def _day(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"day must be YYYY-MM-DD, got {value!r}") from None


def _permissions(values: Sequence[str]) -> list[str]:
    """Canonical permission names (sync:reconciliation is accepted as sync:reconcile)."""
    out: list[str] = []
    for value in values:
        canonical = PERMISSION_ALIASES.get(value, value)
        if canonical not in PERMISSIONS:
            raise ValidationError(f"unknown permission {value!r}; expected one of {', '.join(PERMISSIONS)}")
        if canonical not in out:
            out.append(canonical)
    return out
