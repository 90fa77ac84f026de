"""`db migrate --dry-run`: what the pending migrations would do, with nothing changed.

The pending transactional files really run, inside one transaction that is always rolled back:
the plan is the difference between the catalog before and after (tables created or adopted,
columns added, constraints widened, functions, indexes, triggers), which cannot drift from
the SQL the way a hand-written description would. Files that must run outside a transaction
(``CREATE INDEX CONCURRENTLY``) are listed, not run; the duplicates they would merge are counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ..errors import StoreError
from ._errors import describe_pg_error
from .migrate import (
    CREATE_LEDGER_SQL,
    DEFAULT_LOCK_TIMEOUT_S,
    load_migrations,
    migration_session,
    pending,
    run_statements,
    scalar,
    split_statements,
)

_SCHEMAS = ("public", "pims_sync")

_CATALOG = {
    "tables": """
        select n.nspname || '.' || c.relname, c.relrowsecurity::text
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p') and n.nspname = any (%s)""",
    "columns": """
        select n.nspname || '.' || c.relname, a.attname,
               format_type(a.atttypid, a.atttypmod) || case when a.attnotnull then ' not null' else '' end
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
          from pg_attribute a join pg_class c on c.oid = a.attrelid
          join pg_namespace n on n.oid = c.relnamespace
          left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and n.nspname = any (%s)""",
    "constraints": """
        select n.nspname || '.' || c.relname, k.conname, pg_get_constraintdef(k.oid)
          from pg_constraint k join pg_class c on c.oid = k.conrelid
          join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = any (%s)""",
    "indexes": """
        select n.nspname || '.' || t.relname, c.relname, pg_get_indexdef(c.oid)
          from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
          join pg_namespace n on n.oid = t.relnamespace
         where n.nspname = any (%s)""",
    "functions": """
        select n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               md5(p.prosrc || pg_get_function_result(p.oid))
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = any (%s) and p.prokind = 'f'""",
    "triggers": """
        select n.nspname || '.' || c.relname, t.tgname, pg_get_triggerdef(t.oid)
          from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
         where not t.tgisinternal and n.nspname = any (%s)""",
    "policies": """
        select n.nspname || '.' || c.relname, p.polname, pg_get_expr(p.polqual, p.polrelid)
          from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = any (%s)""",
}


def catalog_snapshot(conn: psycopg.Connection) -> dict[str, set[tuple[Any, ...]]]:
    """The parts of the catalog a migration may change, in our two schemas."""
    return {
        kind: {tuple(row) for row in conn.execute(query, (list(_SCHEMAS),))}
        for kind, query in _CATALOG.items()
    }


@dataclass(frozen=True)
class MigrationPlan:
    pending: tuple[str, ...]
    tables_created: tuple[str, ...] = ()
    tables_adopted: tuple[str, ...] = ()  # existed before and get something added
    columns_added: tuple[str, ...] = ()  # "table.column type"
    constraints_added: tuple[str, ...] = ()
    constraints_widened: tuple[str, ...] = ()
    constraints_dropped: tuple[str, ...] = ()
    indexes_created: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()  # created or replaced
    triggers: tuple[str, ...] = ()
    rls_enabled: tuple[str, ...] = ()
    policies_changed: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()  # no-transaction statements, listed not run
    duplicate_groups: int = 0
    duplicate_rows: int = 0  # rows that would be archived (groups' extra copies)
    notices: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def _sorted(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(items))


def diff(before: dict[str, set[tuple[str, ...]]], after: dict[str, set[tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    """Catalog differences in words an operator reads."""
    old_tables = {t for t, _ in before["tables"]}
    new_tables = {t for t, _ in after["tables"]}
    created = new_tables - old_tables
    rls_before = {t for t, on in before["tables"] if on == "true"}
    rls_after = {t for t, on in after["tables"] if on == "true"}

    def added(kind: str) -> set[tuple[str, ...]]:
        return after[kind] - before[kind]

    def removed(kind: str) -> set[tuple[str, ...]]:
        return before[kind] - after[kind]

    columns = {f"{t}.{c} {d}" for t, c, d in added("columns") if t not in created}
    touched = {
        t for t, *_ in (added("columns") | added("constraints") | added("indexes") | added("triggers"))
    }
    cons_added = {(t, n): d for t, n, d in added("constraints") if t not in created}
    cons_removed = {(t, n): d for t, n, d in removed("constraints")}
    widened = {
        f"{t}.{n}: {cons_removed[(t, n)]} -> {d}"
        for (t, n), d in cons_added.items()
        if (t, n) in cons_removed
    }
    old_functions = {f for f, _ in before["functions"]}
    return {
        "tables_created": _sorted(created),
        "tables_adopted": _sorted((touched & old_tables) - created),
        "columns_added": _sorted(columns),
        "constraints_added": _sorted(
            f"{t}.{n}: {d}" for (t, n), d in cons_added.items() if (t, n) not in cons_removed
        ),
        "constraints_widened": _sorted(widened),
        "constraints_dropped": _sorted(f"{t}.{n}" for (t, n) in cons_removed if (t, n) not in cons_added),
        "indexes_created": _sorted(f"{t}: {n}" for t, n, _ in added("indexes") if t not in created),
        "functions": _sorted(
            f"{f} ({'replaced' if f in old_functions else 'new'})" for f, _ in added("functions")
        ),
        "triggers": _sorted(f"{t}: {n}" for t, n, _ in added("triggers") if t not in created),
        "rls_enabled": _sorted(rls_after - rls_before),
        "policies_changed": _sorted(f"{t}: {n}" for t, n, _ in added("policies") ^ removed("policies")),
    }


def _duplicates(conn: psycopg.Connection) -> tuple[int, int]:
    if scalar(conn, "select to_regprocedure('pims_sync.duplicate_case_ids()') is not null"):
        row = conn.execute(
            "select count(distinct survivor_id), count(*) from pims_sync.duplicate_case_ids()"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
    return 0, 0


def _owner_warning(conn: psycopg.Connection) -> str | None:
    """cases.user_id NOT NULL and an active clinic with no owner: new cases would fail to insert."""
    notnull = conn.execute(
        """select a.attnotnull from pg_attribute a
            where a.attrelid = to_regclass('public.cases') and a.attname = 'user_id' and not a.attisdropped"""
    ).fetchone()
    has_owner = scalar(conn,
        """select exists (select 1 from pg_attribute where attrelid = to_regclass('public.clinics')
                             and attname = 'owner_user_id' and not attisdropped)"""
    )
    if not (notnull and notnull[0]) or not has_owner:
        return None
    names = [
        r[0]
        for r in conn.execute(
            "select id::text from clinics where is_active and owner_user_id is null order by name limit 20"
        )
    ]
    if not names:
        return None
    return (
        f"cases.user_id is NOT NULL and {len(names)}{'+' if len(names) == 20 else ''} active clinic(s) have no "
        f"owner_user_id ({', '.join(names)}): new cases for them cannot be inserted. Set one with "
        "`pims-sync clinics set CLINIC_ID --owner-user UUID`"
    )


def plan_migrations(
    database_url: str,
    *,
    directory: Path | str | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> MigrationPlan:
    """Run the pending migrations in a transaction that is rolled back; describe the difference."""
    migrations = load_migrations(directory)
    notices: list[str] = []
    with migration_session(database_url, notices.append) as conn:
        try:
            with conn.transaction() as tx:
                before = catalog_snapshot(conn)
                conn.execute(CREATE_LEDGER_SQL)
                done = dict(
                    conn.execute("select filename, checksum from pims_sync.schema_migrations").fetchall()
                )
                todo = pending(migrations, done)
                deferred: list[str] = []
                for mig in todo:
                    if mig.transactional:
                        run_statements(conn, mig, database_url, lock_timeout_s)
                    else:
                        for _, statement in split_statements(mig.sql):
                            first = next(
                                (
                                    ln.strip()
                                    for ln in statement.splitlines()
                                    if ln.strip() and not ln.strip().startswith("--")
                                ),
                                "",
                            )
                            deferred.append(f"{mig.name}: {first}")
                after = catalog_snapshot(conn)
                groups, rows = _duplicates(conn)
                warning = _owner_warning(conn)
                raise psycopg.Rollback(tx)  # the whole point: nothing stays
        except psycopg.Error as e:
            raise StoreError(f"dry run failed: {describe_pg_error(e, database_url)}") from e
    changes = diff(before, after)
    warnings = [warning] if warning else []
    if changes["rls_enabled"]:
        adopted = set(changes["rls_enabled"]) - set(changes["tables_created"])
        if adopted:  # never expected: a migration must not do this to the product's tables
            warnings.append(f"RLS would be enabled on existing tables: {', '.join(sorted(adopted))}")
    return MigrationPlan(
        pending=tuple(m.name for m in todo),
        deferred=tuple(deferred),
        duplicate_groups=groups,
        duplicate_rows=rows,
        notices=tuple(notices),
        warnings=tuple(warnings),
        **changes,
    )
