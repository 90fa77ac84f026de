"""The `pims-sync` command: one face for every operator task.

Each command group lives in its own module under ``pims_sync.cli`` and exposes a click
object named ``command``; this module only assembles them, so a missing optional piece
never breaks the rest of the CLI.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__

# module name under pims_sync.cli -> exposes `command` (a click.Command or click.Group)
COMMAND_MODULES = (
    "simulator_cmd",
    "db_cmd",
    "clinics_cmd",
    "keys_cmd",
    "credentials_cmd",
    "schedules_cmd",
    "beat_cmd",
    "services_cmd",
    "sync_cmd",
    "status_cmd",
    "demo_cmd",
    "flower_cmd",
    "worker_cmd",
    "menu_cmd",
    "api_cmd",
    "webhooks_cmd",
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pims-sync")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """pims-sync: keep clinics' PIMS data and the product database in step."""
    _read_env_files()
    _use_live_demo(ctx.invoked_subcommand or "menu")
    if ctx.invoked_subcommand is None:
        menu = _load("menu_cmd")
        if menu is not None and sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(menu.command)
        else:
            click.echo(ctx.get_help())


def _read_env_files() -> None:
    """.env/.env.local of this folder, once, before anything reads a setting (config.py)."""
    from ..config import load_env_files
    from .output import err_console

    files = load_env_files()
    if files:
        err_console.print(f"[dim]settings from {', '.join(files)} (environment variables win)[/]")


def _use_live_demo(command: str) -> None:
    """With no database/Redis configured, a demo running from this folder is the one to use."""
    from .demo_state import DEFAULT_DIR, apply_live_demo
    from .output import err_console

    if apply_live_demo(command) is not None:
        err_console.print(f"[dim]using the running demo in {DEFAULT_DIR}[/]")


def _load(name: str):
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.{name}":
            return None
        raise


for _name in COMMAND_MODULES:
    _mod = _load(_name)
    if _mod is not None:
        _cmds = getattr(_mod, "commands", None) or [_mod.command]
        for _cmd in _cmds:
            cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="pims-sync")


if __name__ == "__main__":
    main()
