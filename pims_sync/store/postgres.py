"""PostgresStore: the Store protocol on psycopg 3 and a connection pool.

Clinics, credentials, schedule configs and snapshots live here, API keys in :mod:`._pg_keys`,
the sync data (cases, audits) in :mod:`._pg_sync`, which calls the SQL functions from
``supabase/migrations`` for every multi-row operation. The tables are the product's own
(clinics, idexx_credentials, clinic_api_keys, cases) beside ours (pims_sync_runs,
pims_sync_key_clinics): every write names its columns, so the product's other columns are never
touched, and what we write is checked first (:mod:`._clinic_rules`).

The pool is opened lazily and again after a fork: a Celery prefork worker that inherited a
store from its parent must not share the parent's sockets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import CredentialsMissing, StoreError, ValidationError
from ..models import (
    Clinic,
    EncryptedCredentials,
    ScheduleConfigRow,
)
from . import _clinic_rules as rules
from . import _rows as rows
from ._errors import redact, safe_url, translate
from ._freshness import FreshnessQueries
from ._host import Connection, Params, Query, Row
from ._pg_keys import ApiKeyQueries
from ._pg_sync import SyncDataQueries, jsonb
from ._provider_credentials import ProviderCredentialQueries
from ._provider_state import ProviderStateQueries
from ._webhooks import WebhookQueries

# sync_enabled: the flag of the credentials row the store uses; NULL (no row) reads as True
_SYNC_ENABLED = (
    "(select ic.sync_enabled from idexx_credentials ic where ic.clinic_id = {clinic}.id "
    f"order by {rules.credentials_order_sql('ic')} limit 1)"
)
_CLINIC_SELECT = f"select c.*, {_SYNC_ENABLED.format(clinic='c')} as sync_enabled from clinics c"

# the API's bound on waiting for a connection: with the probe's quarter of it, an unreachable
# database is a 503 within 3 s (issue 16); workers wait the pool's 30 s default (probe: 3 s)
API_WAIT_S = 2.0
PROBE_WAIT_MAX_S = 3.0

_CONFIG_SELECT = """
select s.clinic_id, s.sync_schedules, s.version, s.updated_at, c.timezone, c.is_active as clinic_active
  from clinic_schedule_configs s join clinics c on c.id = s.clinic_id
"""


TRANSACTION_POOLER_PORT = 6543  # Supabase's transaction-mode pooler (Supavisor / PgBouncer)


class PostgresStore(ApiKeyQueries, SyncDataQueries, ProviderCredentialQueries, WebhookQueries,
                    FreshnessQueries, ProviderStateQueries):
    """The product database over a direct Postgres connection (DATABASE_URL)."""

    def __init__(self, database_url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 30.0,
                 connect_timeout_s: int = 10, prepared_statements: bool | None = None):
        """``timeout_s``: the longest a caller waits for a pooled connection before StoreError.

        Workers keep the patient default (a brief database restart should not fail a sync); the
        API passes :data:`API_WAIT_S`, so a request answers 503 while its client still waits.
        ``connect_timeout_s`` bounds one connection attempt (libpq's minimum is 2).
        ``prepared_statements``: psycopg prepares a query it has run 5 times on a connection; a
        transaction-mode pooler (PgBouncer, Supavisor) hands the next transaction another server
        connection, where that statement does not exist. None: off on port 6543 (Supabase's
        transaction pooler), on elsewhere; DATABASE_PREPARED_STATEMENTS decides otherwise.
        """
        self._url = database_url
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._connect_timeout_s = max(2, int(connect_timeout_s))
        if prepared_statements is None:
            prepared_statements = urlparse(database_url).port != TRANSACTION_POOLER_PORT
        self._prepare_threshold: int | None = 5 if prepared_statements else None  # psycopg's default: 5
        self._pool_obj: ConnectionPool[psycopg.Connection[DictRow]] | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({safe_url(self._url)!r})"

    @property
    def prepares_statements(self) -> bool:
        """Whether its connections prepare repeated queries (off through a transaction pooler)."""
        return self._prepare_threshold is not None

    # --- plumbing ----------------------------------------------------------------------------

    def _pool(self) -> ConnectionPool[psycopg.Connection[DictRow]]:
        with self._lock:
            if self._pool_obj is None or self._pool_pid != os.getpid():
                # after a fork the inherited pool belongs to the parent: leave it, open our own
                self._pool_obj = ConnectionPool(
                    self._url,
                    connection_class=psycopg.Connection[DictRow],
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._timeout_s,
                    kwargs={"row_factory": dict_row, "connect_timeout": self._connect_timeout_s,
                            "prepare_threshold": self._prepare_threshold},
                    name="pims-sync",
                    open=False,
                )
                self._pool_obj.open(wait=False)
                self._pool_pid = os.getpid()
            return self._pool_obj

    @contextmanager
    def _conn(self, what: str) -> Iterator[Connection]:
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
        """Why connecting fails, in Postgres's words (the pool only says it timed out).

        Bounded by a quarter of the pool wait, at most 3 s (the attempt runs in a daemon thread),
        so a server that accepts connections and never answers cannot hold the caller's error up
        for long; that is named instead.
        """
        wait_s = min(PROBE_WAIT_MAX_S, self._timeout_s / 4)
        box: list[str] = []

        def attempt() -> None:
            try:
                psycopg.connect(self._url, connect_timeout=self._connect_timeout_s).close()
                box.append("the pool is exhausted: every connection is busy")
            except psycopg.Error as e:
                box.append(redact(str(e).strip().splitlines()[0], self._url))

        thread = threading.Thread(target=attempt, name="pg-probe", daemon=True)
        thread.start()
        thread.join(wait_s)
        return box[0] if box else f"a new connection got no answer within {wait_s:g} s"

    # _one, _all and _count run ONE statement, in autocommit: a statement is its own transaction
    # anyway, and psycopg would otherwise send a BEGIN and a COMMIT as round trips of their own
    # (three where one does; against a remote database, a Supabase project's, each is a network
    # round trip). Blocks of several statements use _conn, which keeps them in one transaction.
    # (The pool hands connections out idle, outside any transaction.)
    def _single(self, conn: Connection, sql: Query, params: Params) -> psycopg.Cursor[Row]:
        conn.autocommit = True
        try:
            return conn.execute(sql, params)  # the client-side cursor holds every row already
        finally:
            conn.autocommit = False

    def _one(self, what: str, sql: Query, params: Params = ()) -> Row | None:
        with self._conn(what) as conn:
            return self._single(conn, sql, params).fetchone()

    def _all(self, what: str, sql: Query, params: Params = ()) -> list[Row]:
        with self._conn(what) as conn:
            return self._single(conn, sql, params).fetchall()

    def _count(self, what: str, sql: Query, params: Params = ()) -> int:
        with self._conn(what) as conn:
            return self._single(conn, sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            pool, self._pool_obj = self._pool_obj, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()

    def ping(self) -> None:
        self._one("ping", "select 1")

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
        values = rules.clinic_columns(
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
        cid = None if clinic_id is None else rules.check_uuid(clinic_id, "clinic_id")
        columns = sql.SQL(", ").join(map(sql.Identifier, values))
        query = sql.SQL(
            # sync_owner comes from the column default ('pims-sync'); a new clinic has no credentials
            "with made as (insert into clinics (id, {columns}) values (coalesce(%s::uuid, gen_random_uuid()), {params})"
            " returning *) select made.*, null::boolean as sync_enabled from made"
        ).format(columns=columns, params=sql.SQL(", ").join(sql.Placeholder() * len(values)))
        return rows.clinic(rows.returned(self._one("create clinic", query, (cid, *values.values())), "create clinic"))

    def update_clinic(self, clinic_id: str, **changes: Any) -> Clinic:
        """Change the named fields only; the product's other columns are never written."""
        values = rules.clinic_columns(changes)
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not values:
            return self.get_clinic(cid)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values
        )
        query = sql.SQL(
            "with changed as (update clinics set {assignments} where id = %s returning *) "
            "select changed.*, {enabled} as sync_enabled from changed"
        ).format(assignments=assignments, enabled=sql.SQL(_SYNC_ENABLED.format(clinic="changed")))
        row = self._one("update clinic", query, (*values.values(), cid))
        if row is None:
            raise rows.clinic_not_found(cid)
        return rows.clinic(row)

    def get_clinic(self, clinic_id: str) -> Clinic:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one("get clinic", f"{_CLINIC_SELECT} where c.id = %s", (cid,))
        if row is None:
            raise rows.clinic_not_found(cid)
        return rows.clinic(row)

    def list_clinics(self, *, active_only: bool = True) -> list[Clinic]:
        found = self._all(
            "list clinics",
            f"{_CLINIC_SELECT} where c.is_active or not %s order by c.name, c.id",
            (active_only,),
        )
        return [rows.clinic(r) for r in found]

    # --- credentials (idexx_credentials: the product's table, possibly one row per user) -----

    def save_credentials(self, creds: EncryptedCredentials) -> None:
        """Update the clinic's row (CREDENTIALS_ORDER) or insert one owned by the clinic's owner."""
        cid = rows.parse_uuid(creds.clinic_id, "clinic")
        if not rules.is_idexx(creds.provider):
            raise ValidationError(rows.other_provider(creds.provider, cid))
        secret = (
            creds.username_encrypted,
            creds.password_encrypted,
            creds.company_id_encrypted,
            creds.encryption_key_id,
            creds.is_active,
            creds.validation_status,
        )
        with self._conn("save credentials") as conn:
            # no unique key on the product's table: two first saves must not insert two rows
            conn.execute(
                "select pg_advisory_xact_lock(hashtext('pims_sync.credentials'), hashtext(%s))", (cid,)
            )
            row = conn.execute(
                f"""
                with target as (
                    select id from idexx_credentials where clinic_id = %s
                     order by {rules.credentials_order_sql()} limit 1
                ),
                updated as (
                    update idexx_credentials ic set
                        username_encrypted = %s, password_encrypted = %s, company_id_encrypted = %s,
                        encryption_key_id = %s, is_active = %s, validation_status = %s,
                        last_validated_at = null
                      from target where ic.id = target.id
                    returning ic.id
                ),
                inserted as (
                    insert into idexx_credentials (clinic_id, user_id, username_encrypted, password_encrypted,
                        company_id_encrypted, encryption_key_id, is_active, validation_status)
                    select c.id, c.owner_user_id, %s, %s, %s, %s, %s, %s
                      from clinics c
                     where c.id = %s and not exists (select 1 from target)
                    returning id
                )
                select (select id from updated) as updated, (select id from inserted) as inserted
                """,
                (cid, *secret, *secret, cid),
            ).fetchone()
        if row is None or (row["updated"] is None and row["inserted"] is None):
            raise rows.clinic_not_found(cid)

    def get_credentials(self, clinic_id: str, provider: str = "idexx") -> EncryptedCredentials:
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not rules.is_idexx(provider):
            raise CredentialsMissing(rows.other_provider(provider, cid))
        row = self._one(
            "get credentials",
            f"select * from idexx_credentials where clinic_id = %s and is_active "
            f"order by {rules.credentials_order_sql()} limit 1",
            (cid,),
        )
        if row is None:
            raise rows.no_credentials(cid, provider, active=True)
        return rows.credentials(row, provider)

    def mark_credentials_validated(self, clinic_id: str, provider: str, *, status: str) -> None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        if not rules.is_idexx(provider):  # other providers' rows: pims_sync_provider_credentials
            return self.mark_provider_credentials_validated(cid, provider, status=status)
        n = self._count(
            "mark credentials validated",
            "update idexx_credentials set validation_status = %s, last_validated_at = now() "
            f"where id = (select id from idexx_credentials where clinic_id = %s "
            f"order by {rules.credentials_order_sql()} limit 1)",
            (status, cid),
        )
        if n == 0:
            raise rows.no_credentials(cid, provider)

    def set_sync_enabled(self, clinic_id: str, enabled: bool) -> None:
        """Every credentials row of the clinic, so the old service (which reads its user's row)
        stops too; the row the store uses is written last, in its own transaction, so it stays
        the most recently updated one whatever the table's updated_at trigger does."""
        cid = rows.parse_uuid(clinic_id, "clinic")
        enabled = rules.check_bool(enabled, "enabled")
        chosen = self._one(
            "set sync enabled",
            f"select id from idexx_credentials where clinic_id = %s order by {rules.credentials_order_sql()} limit 1",
            (cid,),
        )
        if chosen is None:
            raise CredentialsMissing(
                f"clinic {cid} has no credentials row (idexx_credentials) to hold sync_enabled"
            )
        for scope in ("id <> %s", "id = %s"):
            self._count(
                "set sync enabled",
                f"update idexx_credentials set sync_enabled = %s "
                f"where clinic_id = %s and {scope} and sync_enabled is distinct from %s",
                (enabled, cid, chosen["id"], enabled),
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
        if row is None:  # the insert returns its row unless the clinic is gone (no join row)
            raise rows.clinic_not_found(cid)
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
            (cid, rows.day(day), jsonb(payload)),
        )

    def get_schedule_snapshot(self, clinic_id: str, day: str) -> dict[str, Any] | None:
        cid = rows.parse_uuid(clinic_id, "clinic")
        row = self._one(
            "get schedule snapshot",
            "select payload from clinic_schedule_snapshots where clinic_id = %s and day = %s",
            (cid, rows.day(day)),
        )
        return None if row is None else row["payload"]

