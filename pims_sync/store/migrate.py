"""Apply ``supabase/migrations/*.sql`` to a Postgres database, in order, once each.

The same files create a fresh database and adopt the product's existing one in place (see
docs/MIGRATING.md). Each pending file runs in its own transaction together with its row in our
ledger, ``pims_sync.schema_migrations`` (our own schema: the product may have a
``schema_migrations`` of its own), so a failing file leaves nothing behind and the next run
retries exactly that file. A file whose first line is ``-- pims-sync: no-transaction`` runs
statement by statement instead (``CREATE INDEX CONCURRENTLY`` cannot run in a transaction); its
statements are written to be re-runnable. Every statement runs with ``lock_timeout``, so a
migration never queues behind a long transaction on a live database while blocking everyone
behind it: it fails, names the table, and can be retried. A session advisory lock makes two
processes migrating at once safe: the second waits, then finds nothing left to do.

Where the files are: ``pims_sync/store/migrations`` is a symlink to the repository's
``supabase/migrations`` (one copy of the SQL, which the Supabase CLI also reads); setuptools
follows it when building a wheel, so an installed package carries the files as package data.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import StoreError
from ._errors import describe_pg_error, redact
from ._host import Params, Query

log = logging.getLogger(__name__)

# any 64-bit constant works; it only has to be the same for every pims-sync process
_LOCK_KEY = 0x70696D735F737963  # "pims_syc"
_LOCK_POLL_S = 0.25
_FILE_RE = re.compile(r"^\d{4,}_[\w.-]+\.sql$")
NO_TRANSACTION_MARKER = "-- pims-sync: no-transaction"
NOTICE_PREFIX = "pims-sync: "
DEFAULT_LOCK_TIMEOUT_S = 5.0
LEDGER = "pims_sync.schema_migrations"

CREATE_LEDGER_SQL = f"""
create schema if not exists pims_sync;
create table if not exists {LEDGER} (
    filename   text primary key,
    checksum   text not null,
    applied_at timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class Migration:
    """One file: its name, text and whether it runs outside a transaction."""

    path: Path
    sql: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def transactional(self) -> bool:
        return not self.sql.lstrip().startswith(NO_TRANSACTION_MARKER)


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


def load_migrations(directory: Path | str | None = None) -> list[Migration]:
    return [Migration(p, p.read_text(encoding="utf-8")) for p in migration_files(directory)]


_TOKEN = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_]\w*)?\$|;", re.S)


def split_statements(sql: str) -> list[tuple[int, str]]:
    """(offset in the file, text) of each top-level statement: comments, quotes and $$ bodies respected."""
    out: list[tuple[int, str]] = []
    start = pos = 0
    while True:
        m = _TOKEN.search(sql, pos)
        if m is None:
            break
        tok = m.group(0)
        if tok.startswith("$"):
            end = sql.find(tok, m.end())  # the closing tag of a dollar-quoted body
            pos = len(sql) if end < 0 else end + len(tok)
            continue
        pos = m.end()
        if tok == ";":
            out.append((start, sql[start:pos]))
            start = pos
    out.append((start, sql[start:]))
    stripped = []
    for offset, text in out:
        body = _TOKEN.sub(lambda t: "" if t.group(0).startswith(("--", "/*")) else t.group(0), text)
        if body.strip(" \t\r\n;"):
            lead = len(text) - len(text.lstrip())
            stripped.append((offset + lead, text.strip()))
    return stripped


def _line_at(sql: str, index: int) -> int:
    return sql.count("\n", 0, max(index, 0)) + 1


_LOCKED_TABLE = (
    re.compile(r'(?:alter|lock)\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?([\w."]+)', re.I),
    re.compile(r'\s+on\s+(?:only\s+)?([\w."]+)', re.I),
    re.compile(r'(?:update|insert\s+into|delete\s+from|drop\s+index)\s+([\w."]+)', re.I),
)


def _locked_table(statement: str, context: str | None) -> str:
    """The table a statement (or the PL/pgSQL line in Postgres's error context) was locking."""
    for text in (context or "", statement):
        for pattern in _LOCKED_TABLE:
            m = pattern.search(text)
            if m:
                return m.group(1).strip('"')
    return "a table"


def _failure(
    mig: Migration, offset: int, statement: str, e: psycopg.Error, url: str, lock_timeout_s: float
) -> StoreError:
    position = getattr(e.diag, "statement_position", None)
    try:
        index = offset + int(str(position)) - 1
    except (TypeError, ValueError):
        index = offset
    where = f"{mig.name} (line {_line_at(mig.sql, index)})"
    undo = "was rolled back" if mig.transactional else "stopped; its earlier statements are re-runnable"
    if isinstance(e, pg_errors.LockNotAvailable):
        table = _locked_table(statement, getattr(e.diag, "context", None))
        return StoreError(
            f"migration {where} {undo}: could not lock {table} within lock_timeout "
            f"({lock_timeout_s:g}s): another session is using it. Run `pims-sync db migrate` again "
            "at a quieter moment, or raise --lock-timeout"
        )
    return StoreError(f"migration {where} failed and {undo}: {describe_pg_error(e, url)}")


def scalar(conn: psycopg.Connection[Any], query: Query, params: Params = ()) -> Any:
    """The first column of the one row a catalog query answers."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise StoreError(f"no row from {query!r}")
    return row[0]


def _connect(database_url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to the database: {redact(str(e), database_url)}") from e


@contextmanager
def migration_session(
    database_url: str, on_notice: Callable[[str], None] | None = None
) -> Iterator[psycopg.Connection]:
    """An autocommit connection holding the migration lock, with our ledger present."""
    conn = _connect(database_url)

    def notice(diag: psycopg.errors.Diagnostic) -> None:
        text = diag.message_primary or ""
        if on_notice is not None and text.startswith(NOTICE_PREFIX):
            on_notice(text[len(NOTICE_PREFIX) :])

    conn.add_notice_handler(notice)
    with conn:
        try:
            # poll rather than block: a session waiting inside pg_advisory_lock holds a
            # transaction open, and the holder's CREATE INDEX CONCURRENTLY waits for every open
            # transaction to end (a deadlock)
            while not scalar(conn, "select pg_try_advisory_lock(%s)", (_LOCK_KEY,)):
                time.sleep(_LOCK_POLL_S)
        except psycopg.Error as e:
            raise StoreError(f"cannot take the migration lock: {describe_pg_error(e, database_url)}") from e
        try:
            yield conn
        finally:
            try:
                conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
            except psycopg.Error:
                pass  # the lock goes with the session anyway


def ensure_ledger(conn: psycopg.Connection, database_url: str) -> dict[str, str]:
    """Create our ledger if missing; return {filename: checksum} of applied files."""
    try:
        with conn.transaction():
            conn.execute(CREATE_LEDGER_SQL)
        return dict(conn.execute(f"select filename, checksum from {LEDGER}").fetchall())
    except psycopg.Error as e:
        raise StoreError(f"cannot read {LEDGER}: {describe_pg_error(e, database_url)}") from e


def pending(migrations: list[Migration], done: dict[str, str]) -> list[Migration]:
    out = []
    for mig in migrations:
        if mig.name in done:
            if done[mig.name] != mig.checksum:
                # an applied file was edited: never re-run it, but say so
                log.warning("migration %s changed after it was applied; not re-running it", mig.name)
            continue
        out.append(mig)
    return out


def run_statements(
    conn: psycopg.Connection, mig: Migration, database_url: str, lock_timeout_s: float
) -> None:
    """Every statement of one file, with lock_timeout (the caller owns the transaction, if any)."""
    timeout = f"{int(lock_timeout_s * 1000)}ms"
    if mig.transactional:
        conn.execute("select set_config('lock_timeout', %s, true)", (timeout,))
    else:
        conn.execute("select set_config('lock_timeout', %s, false)", (timeout,))
    try:
        for offset, statement in split_statements(mig.sql):
            try:
                conn.execute(statement.encode("utf-8"), prepare=False)
            except psycopg.Error as e:
                raise _failure(mig, offset, statement, e, database_url, lock_timeout_s) from e
    finally:
        if not mig.transactional and not conn.closed:
            conn.execute("reset lock_timeout")


def apply_migrations(
    database_url: str,
    *,
    directory: Path | str | None = None,
    on_progress: Callable[[str, str], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> list[str]:
    """Apply pending migrations; return the file names applied (empty when up to date).

    ``on_progress(filename, state)`` is called with state ``"applying"`` then ``"applied"``;
    ``on_notice(text)`` with what a migration reports (duplicates merged, rows carried over).
    Raises StoreError naming the failing file and line and Postgres's message; that file is
    rolled back (a no-transaction file stops at the failing statement).
    """
    migrations = load_migrations(directory)
    notify = on_progress or (lambda _name, _state: None)
    applied: list[str] = []
    with migration_session(database_url, on_notice) as conn:
        done = ensure_ledger(conn, database_url)
        for mig in pending(migrations, done):
            notify(mig.name, "applying")
            record = f"insert into {LEDGER} (filename, checksum) values (%s, %s)"
            if mig.transactional:
                with conn.transaction():
                    run_statements(conn, mig, database_url, lock_timeout_s)
                    conn.execute(record, (mig.name, mig.checksum))
            else:
                run_statements(conn, mig, database_url, lock_timeout_s)
                conn.execute(record, (mig.name, mig.checksum))
            applied.append(mig.name)
            notify(mig.name, "applied")
    return applied


def applied_migrations(database_url: str) -> list[str]:
    """File names recorded in our ledger (empty for a database never migrated)."""
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
            exists = scalar(conn, "select to_regclass(%s) is not null", (LEDGER,))
            if not exists:
                return []
            return [r[0] for r in conn.execute(f"select filename from {LEDGER} order by filename")]
    except psycopg.Error as e:
        raise StoreError(f"cannot read {LEDGER}: {describe_pg_error(e, database_url)}") from e
