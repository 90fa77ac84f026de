"""`pims-sync` with no arguments in a terminal: the interactive menu the original CLI had.

Each entry runs the same click command a script would, so the menu adds no behaviour of its
own; an error is printed and the menu comes back.
"""

from __future__ import annotations

import click
from rich.prompt import Prompt

from ..config import reset_settings_cache
from .connect import load_settings, open_store, redis_client
from .demo_state import DEFAULT_DIR, refresh_live_demo
from .output import console, redact_url

ENTRIES = (
    ("1", "sync", "Run a sync for a clinic"),
    ("2", "status", "Running syncs and data freshness"),
    ("3", "history", "Past syncs and success rate"),
    ("4", "health", "API, database, Redis, workers"),
    ("5", "refresh", "Refresh connection (re-read settings, reconnect)"),
    ("0", "exit", "Exit"),
)


def _connection_line() -> str:
    try:
        settings = load_settings()
        store = open_store(settings)
        store.close()
        redis_client(settings).close()
        return f"[green]connected[/] database + Redis ({redact_url(settings.broker_url)})"
    except (click.ClickException, Exception) as e:  # the menu must keep running
        return f"[red]not connected:[/] {getattr(e, 'message', None) or e}"


def _pick_clinic() -> str | None:
    store = open_store(load_settings())
    try:
        clinics = store.list_clinics()
    finally:
        store.close()
    if not clinics:
        console.print("[yellow]no clinics yet[/] (run `pims-sync demo`, or create one in the database)")
        return None
    for i, c in enumerate(clinics, 1):
        console.print(f"  {i}. {c.name} [dim]{c.id}[/]")
    choice = Prompt.ask("clinic", choices=[str(i) for i in range(1, len(clinics) + 1)], default="1")
    clinic_id: str = clinics[int(choice) - 1].id
    return clinic_id


def _run(ctx: click.Context, name: str) -> None:
    from ..sync.options import SYNC_TYPE_NAMES, SyncType
    from . import status_cmd, sync_cmd

    if name == "sync":
        clinic_id = _pick_clinic()
        if clinic_id:
            kind = Prompt.ask("sync", choices=list(SYNC_TYPE_NAMES), default="full")
            # ctx.invoke skips the argument's callback: parse the name as `pims-sync sync` does
            ctx.invoke(sync_cmd.command, sync_type=SyncType.parse(kind), clinic_id=clinic_id)
    elif name == "status":
        ctx.invoke(status_cmd.status)
    elif name == "history":
        ctx.invoke(status_cmd.history)
    elif name == "health":
        ctx.invoke(status_cmd.health)


@click.command("menu")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Interactive menu: sync, status, history, health, refresh connection."""
    console.rule("[bold]pims-sync")
    console.print(_connection_line())
    while True:
        console.print()
        for key, _name, text in ENTRIES:
            console.print(f"  [bold]{key}[/]  {text}")
        try:
            key = Prompt.ask("choose", choices=[k for k, _, _ in ENTRIES], default="2")
        except (KeyboardInterrupt, EOFError):
            console.print()
            return
        name = dict((k, n) for k, n, _ in ENTRIES)[key]
        if name == "exit":
            return
        if name == "refresh":
            if refresh_live_demo("menu") is not None:
                console.print(f"[dim]using the running demo in {DEFAULT_DIR}[/]")
            reset_settings_cache()
            console.print(_connection_line())
            continue
        try:
            _run(ctx, name)
        except click.ClickException as e:
            console.print(f"[red]error:[/] {e.format_message()}")
        except SystemExit:
            pass  # a command's exit code means nothing inside the menu
        except KeyboardInterrupt:
            console.print("\n[yellow]interrupted[/]")
