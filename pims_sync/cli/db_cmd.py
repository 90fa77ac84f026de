"""`pims-sync db`: the database schema (apply migrations, show what is applied).

Migrations need a direct Postgres connection (DATABASE_URL); a Supabase-only deployment applies
the same files with the Supabase CLI (`supabase db push`), since they live in supabase/migrations.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..config import Settings
from ..errors import ConfigError, StoreError
from .output import console, err_console, json_option, print_json, redact_url

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
    """Database schema: apply and inspect migrations."""


@command.command("migrate")
@directory_option
@json_option
def migrate(directory: Path | None, as_json: bool) -> None:
    """Apply pending migrations to DATABASE_URL, in order, each in its own transaction."""
    from ..store.migrate import apply_migrations

    url = _database_url()
    started: dict[str, float] = {}
    status = None if as_json else console.status("checking migrations…")

    def on_progress(name: str, state: str) -> None:
        if as_json:
            return
        if state == "applying":
            started[name] = time.monotonic()
            status.update(f"applying {name}…")
        else:
            elapsed_ms = (time.monotonic() - started.get(name, time.monotonic())) * 1000
            console.print(f"[green]✓[/] applied {name} [dim]({elapsed_ms:.0f} ms)[/]")

    try:
        if status is not None:
            with status:
                applied = apply_migrations(url, directory=directory, on_progress=on_progress)
        else:
            applied = apply_migrations(url, directory=directory, on_progress=on_progress)
    except StoreError as e:
        if as_json:
            print_json({"ok": False, "database": redact_url(url), "error": str(e)})
        err_console.print(f"[red]migration failed:[/] {e}")
        raise SystemExit(1) from None

    if as_json:
        print_json({"ok": True, "database": redact_url(url), "applied": applied})
    elif applied:
        console.print(f"{len(applied)} migration(s) applied to {redact_url(url)}")
    else:
        console.print(f"database {redact_url(url)} is up to date")


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
