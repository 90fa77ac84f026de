"""The way back from the duplicate-case merge: `pims-sync db restore-duplicates`.

`db migrate` merges duplicate cases (same clinic, source, external id) into the most recently
updated copy and archives the others in ``pims_sync_archived_cases``
(20261201000006/7). Restoring them needs the unique key gone first, since the restored rows
collide on it: the index is dropped CONCURRENTLY and the migration that builds it is taken out
of the ledger, so the next `db migrate` merges again and rebuilds it. Until then upsert_cases
has no key to conflict on and inbound syncs fail (MIGRATING.md says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..errors import StoreError
from ._errors import describe_pg_error
from .migrate import DEFAULT_LOCK_TIMEOUT_S, LEDGER, ensure_ledger, migration_session, scalar

UNIQUE_KEY_INDEX = "cases_clinic_source_external_key"
# the file that merges duplicates and builds UNIQUE_KEY_INDEX (re-run by the next `db migrate`)
UNIQUE_KEY_MIGRATION = "20261201000007_cases_indexes_concurrently.sql"


@dataclass(frozen=True)
class RestoreResult:
    restored: int  # archived cases put back
    index_dropped: bool  # the unique key existed and was dropped


def archived_count(database_url: str) -> int:
    """Archived duplicates not yet restored (0 on a database never migrated)."""
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
            if not scalar(conn,
                "select to_regclass('public.pims_sync_archived_cases') is not null"
            ):
                return 0
            return int(
                scalar(conn,
                    "select count(*) from pims_sync_archived_cases where restored_at is null"
                )
            )
    except psycopg.Error as e:
        raise StoreError(f"cannot read pims_sync_archived_cases: {describe_pg_error(e, database_url)}") from e


def restore_duplicates(database_url: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> RestoreResult:
    """Drop the unique key, put every archived duplicate back, re-point the product rows to them."""
    with migration_session(database_url) as conn:
        ensure_ledger(conn, database_url)
        try:
            if scalar(conn,
                "select to_regprocedure('pims_sync.restore_duplicate_cases()') is null"
            ):
                raise StoreError("this database was never migrated by pims-sync: there is nothing to restore")
            conn.execute("select set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",))
            existed = scalar(conn,
                "select to_regclass(%s) is not null", (f"public.{UNIQUE_KEY_INDEX}",)
            )
            conn.execute(f"drop index concurrently if exists public.{UNIQUE_KEY_INDEX}")
            with conn.transaction():
                conn.execute(f"delete from {LEDGER} where filename = %s", (UNIQUE_KEY_MIGRATION,))
                restored = scalar(conn, "select pims_sync.restore_duplicate_cases()")
            conn.execute("reset lock_timeout")
        except psycopg.errors.LockNotAvailable as e:
            raise StoreError(
                f"could not lock cases within lock_timeout ({lock_timeout_s:g}s): another session is using it; "
                "nothing was restored. Try again at a quieter moment, or raise --lock-timeout"
            ) from e
        except psycopg.Error as e:
            raise StoreError(f"restoring duplicates failed: {describe_pg_error(e, database_url)}") from e
    return RestoreResult(restored=int(restored), index_dropped=bool(existed))
