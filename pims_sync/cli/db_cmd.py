"""`pims-sync db`: the database schema (apply migrations, show what is applied).

Migrations need a direct Postgres connection (DATABASE_URL); a Supabase-only deployment applies
the same files with the Supabase CLI (`supabase db push`), since they live in supabase/migrations.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Settings
from ..errors import ConfigError, StoreError
from .output import console, err_console, json_option, print_json, redact_url

if TYPE_CHECKING:
    from ..store.plan import MigrationPlan

USAGE_EXIT = 2


def _database_url() -> str:
    """DATABASE_URL from the settings; a missing or bad one exits 2 naming the variable."""
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        err_console.print(f"[red]configuration:[/] {e}")
        raise SystemExit(USAGE_EXIT) from None
    if not settings.database_url:
        err_console.print(
            "[red]configuration:[/] DATABASE_URL: expected a postgresql:// URL "
            "(migrations need a direct connection; on Supabase-only setups run `supabase db push`)"
        )
        raise SystemExit(USAGE_EXIT)
    return settings.database_url


directory_option = click.option(
    "--directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Migrations directory (default: the packaged supabase/migrations).",
)


@click.group("db")
def command() -> None:
    """Database schema: apply (or plan) migrations, inspect them, undo the duplicate merge."""


lock_timeout_option = click.option(
    "--lock-timeout",
    "lock_timeout_s",
    type=click.FloatRange(min=0.1, max=600),
    default=5.0,
    show_default=True,
    help="Seconds each DDL statement may wait for a table lock before the migration stops (live databases).",
)


def _print_plan(plan: MigrationPlan) -> None:
    """The dry run's plan, one section per kind of change (empty sections left out)."""
    if not plan.pending:
        console.print("nothing to do: every migration is applied")
        return
    console.print(f"[bold]{len(plan.pending)} pending migration(s)[/] (dry run: nothing was changed)")
    for name in plan.pending:
        console.print(f"  {name}")
    sections = (
        ("tables to create", plan.tables_created),
        ("existing tables to adopt (additions only)", plan.tables_adopted),
        ("columns to add", plan.columns_added),
        ("constraints to add", plan.constraints_added),
        ("constraints to widen", plan.constraints_widened),
        ("constraints to drop", plan.constraints_dropped),
        ("indexes to create", plan.indexes_created),
        ("functions to create or replace", plan.functions),
        ("triggers to create", plan.triggers),
        ("row-level security enabled on (new tables)", plan.rls_enabled),
        ("policies changed", plan.policies_changed),
        ("run outside a transaction (not run by the dry run)", plan.deferred),
        ("migrations report", plan.notices),
    )
    for title, items in sections:
        if items:
            console.print(f"[bold]{title}:[/]")
            for item in items:
                console.print(f"  {item}")
    console.print(
        f"duplicate cases found: {plan.duplicate_rows} row(s) in {plan.duplicate_groups} group(s) "
        "(would be merged into the most recently updated copy and archived in pims_sync_archived_cases)"
    )
    for warning in plan.warnings:
        console.print(f"[yellow]WARNING:[/] {warning}")


@command.command("migrate")
@directory_option
@lock_timeout_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (tables, columns, constraints, duplicates) and change nothing.",
)
@json_option
def migrate(directory: Path | None, lock_timeout_s: float, dry_run: bool, as_json: bool) -> None:
    """Apply pending migrations to DATABASE_URL: a fresh database, or the product's adopted in place.

    Take a backup first (docs/MIGRATING.md). Each file runs in its own transaction, except the
    CONCURRENTLY index builds, which run statement by statement.
    """
    from ..store.migrate import apply_migrations

    url = _database_url()
    if dry_run:
        from ..store.plan import plan_migrations

        try:
            plan = plan_migrations(url, directory=directory, lock_timeout_s=lock_timeout_s)
        except StoreError as e:
            if as_json:
                print_json({"ok": False, "database": redact_url(url), "error": str(e)})
            err_console.print(f"[red]dry run failed:[/] {e}")
            raise SystemExit(1) from None
        if as_json:
            print_json({"ok": True, "database": redact_url(url), "dry_run": True, **plan.as_json()})
        else:
            _print_plan(plan)
        return

    started: dict[str, float] = {}
    notices: list[str] = []
    status = None if as_json else console.status("checking migrations…")

    def on_progress(name: str, state: str) -> None:
        if status is None:  # --json: no live status line
            return
        if state == "applying":
            started[name] = time.monotonic()
            status.update(f"applying {name}…")
        else:
            elapsed_ms = (time.monotonic() - started.get(name, time.monotonic())) * 1000
            console.print(f"[green]✓[/] applied {name} [dim]({elapsed_ms:.0f} ms)[/]")

    def on_notice(text: str) -> None:
        notices.append(text)
        if not as_json:
            console.print(f"  {text}")

    def run() -> list[str]:
        return apply_migrations(
            url,
            directory=directory,
            on_progress=on_progress,
            on_notice=on_notice,
            lock_timeout_s=lock_timeout_s,
        )

    try:
        if status is not None:
            with status:
                applied = run()
        else:
            applied = run()
    except StoreError as e:
        if as_json:
            print_json({"ok": False, "database": redact_url(url), "error": str(e), "notices": notices})
        err_console.print(f"[red]migration failed:[/] {e}")
        raise SystemExit(1) from None

    if as_json:
        print_json({"ok": True, "database": redact_url(url), "applied": applied, "notices": notices})
    elif applied:
        console.print(f"{len(applied)} migration(s) applied to {redact_url(url)}")
    else:
        console.print(f"database {redact_url(url)} is up to date")


@command.command("restore-duplicates")
@lock_timeout_option
@json_option
def restore_duplicates_cmd(lock_timeout_s: float, as_json: bool) -> None:
    """Put back the duplicate cases `db migrate` merged (the way back; see docs/MIGRATING.md).

    Drops the unique key on cases (clinic_id, source, external_id) first: inbound syncs fail
    until the next `pims-sync db migrate`, which merges the duplicates again and rebuilds it.
    """
    from ..store.dedupe import UNIQUE_KEY_INDEX, restore_duplicates

    url = _database_url()
    try:
        result = restore_duplicates(url, lock_timeout_s=lock_timeout_s)
    except StoreError as e:
        if as_json:
            print_json({"ok": False, "database": redact_url(url), "error": str(e)})
        err_console.print(f"[red]restore failed:[/] {e}")
        raise SystemExit(1) from None
    if as_json:
        print_json(
            {
                "ok": True,
                "database": redact_url(url),
                "restored": result.restored,
                "index_dropped": result.index_dropped,
            }
        )
        return
    if result.index_dropped:
        console.print(
            f"dropped the unique index {UNIQUE_KEY_INDEX} on cases (clinic_id, source, external_id)"
        )
    console.print(
        f"restored {result.restored} archived duplicate case(s) into cases (product references re-pointed)"
    )
    console.print(
        "[yellow]note:[/] pims-sync's inbound sync needs that unique index; `pims-sync db migrate` merges the "
        "duplicates again and rebuilds it"
    )


@command.command("status")
@directory_option
@json_option
def status(directory: Path | None, as_json: bool) -> None:
    """List migrations: applied, and pending ones that `db migrate` would apply."""
    from ..store.migrate import applied_migrations, migration_files

    url = _database_url()
    try:
        files = [p.name for p in migration_files(directory)]
        done = set(applied_migrations(url))
    except StoreError as e:
        err_console.print(f"[red]error:[/] {e}")
        raise SystemExit(1) from None
    rows = [{"file": name, "applied": name in done} for name in files]
    if as_json:
        print_json({"database": redact_url(url), "migrations": rows})
        return
    for row in rows:
        mark = "[green]applied[/]" if row["applied"] else "[yellow]pending[/]"
        console.print(f"{mark}  {row['file']}")
