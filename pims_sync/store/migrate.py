"""Apply ``supabase/migrations/*.sql`` to a Postgres database, in order, once each.

Each pending file runs in its own transaction together with its row in ``schema_migrations``,
so a failing file leaves nothing behind and the next run retries exactly that file. A session
advisory lock makes two processes migrating at once (two containers starting) safe: the second
waits, then finds nothing left to do.

Where the files are: ``pims_sync/store/migrations`` is a symlink to the repository's
``supabase/migrations`` (one copy of the SQL, which the Supabase CLI also reads); setuptools
follows it when building a wheel, so an installed package carries the files as package data.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

import psycopg

from ..errors import StoreError
from ._errors import describe_pg_error, redact

log = logging.getLogger(__name__)

# any 64-bit constant works; it only has to be the same for every pims-sync process
_LOCK_KEY = 0x70696D735F737963  # "pims_syc"
_FILE_RE = re.compile(r"^\d{4,}_[\w.-]+\.sql$")

_CREATE_TABLE = """
create table if not exists schema_migrations (
    filename   text primary key,
    checksum   text not null,
    applied_at timestamptz not null default now()
);
-- not for PostgREST's anon/authenticated roles on Supabase
alter table schema_migrations enable row level security;
"""


def default_migrations_dir() -> Path:
    """The packaged migrations (a symlink to supabase/migrations in a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "migrations", here.parents[1] / "supabase" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise StoreError(
        "the migrations directory was not found (looked in pims_sync/store/migrations and "
        "supabase/migrations); pass directory= (CLI: --directory)"
    )


def migration_files(directory: Path | str | None = None) -> list[Path]:
    """The migration files in apply order (their names start with a timestamp)."""
    path = Path(directory) if directory is not None else default_migrations_dir()
    if not path.is_dir():
        raise StoreError(f"migrations directory {path} does not exist")
    return sorted((p for p in path.iterdir() if p.is_file() and _FILE_RE.match(p.name)), key=lambda p: p.name)


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _line_of(sql: str, position: str | int | None) -> str:
    """ " (line N)" for Postgres's 1-based character position in the file, else ""."""
    try:
        index = int(position) - 1
    except (TypeError, ValueError):
        return ""
    return f" (line {sql.count(chr(10), 0, max(index, 0)) + 1})"


def apply_migrations(
    database_url: str,
    *,
    directory: Path | str | None = None,
    on_progress: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Apply pending migrations; return the file names applied (empty when up to date).

    ``on_progress(filename, state)`` is called with state ``"applying"`` then ``"applied"``.
    Raises StoreError naming the failing file and Postgres's message; that file is rolled back.
    """
    files = migration_files(directory)
    notify = on_progress or (lambda _name, _state: None)
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to the database: {redact(str(e), database_url)}") from e
    applied: list[str] = []
    with conn:
        try:
            conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
            conn.execute(_CREATE_TABLE)
            done = {
                name: checksum
                for name, checksum in conn.execute("select filename, checksum from schema_migrations")
            }
        except psycopg.Error as e:
            raise StoreError(f"cannot read schema_migrations: {describe_pg_error(e, database_url)}") from e
        try:
            for path in files:
                sql = path.read_text(encoding="utf-8")
                checksum = _checksum(sql)
                if path.name in done:
                    if done[path.name] != checksum:
                        # an applied file was edited: never re-run it, but say so
                        log.warning("migration %s changed after it was applied; not re-running it", path.name)
                    continue
                notify(path.name, "applying")
                try:
                    with conn.transaction():
                        conn.execute(sql)
                        conn.execute(
                            "insert into schema_migrations (filename, checksum) values (%s, %s)",
                            (path.name, checksum),
                        )
                except psycopg.Error as e:
                    where = _line_of(sql, getattr(e.diag, "statement_position", None))
                    raise StoreError(
                        f"migration {path.name}{where} failed and was rolled back: "
                        f"{describe_pg_error(e, database_url)}"
                    ) from e
                applied.append(path.name)
                notify(path.name, "applied")
        finally:
            try:
                conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
            except psycopg.Error:
                pass  # the lock goes with the session anyway
    return applied


def applied_migrations(database_url: str) -> list[str]:
    """File names recorded in schema_migrations (empty for a database never migrated)."""
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("select to_regclass('schema_migrations') is not null").fetchone()[0]
            if not exists:
                return []
            return [r[0] for r in conn.execute("select filename from schema_migrations order by filename")]
    except psycopg.Error as e:
        raise StoreError(f"cannot read schema_migrations: {describe_pg_error(e, database_url)}") from e
