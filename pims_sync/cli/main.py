"""The `pims-sync` command: one face for every operator task.

Each command group lives in its own module under ``pims_sync.cli`` and exposes a click
object named ``command`` (or a list named ``commands``); this module only assembles them.
The imports are explicit: a missing or broken command module stops the CLI with its
ImportError instead of quietly dropping the commands it held.
"""

from __future__ import annotations

import sys
from types import ModuleType

import click

from .. import __version__
from . import (
    api_cmd,
    beat_cmd,
    clinics_cmd,
    credentials_cmd,
    db_cmd,
    demo_cmd,
    flower_cmd,
    keys_cmd,
    menu_cmd,
    schedules_cmd,
    simulator_cmd,
    status_cmd,
    sync_cmd,
    webhooks_cmd,
    worker_cmd,
)

# every module exposes `command` (a click.Command or click.Group) or `commands` (a list of them)
COMMAND_MODULES: tuple[ModuleType, ...] = (
    simulator_cmd,
    db_cmd,
    clinics_cmd,
    keys_cmd,
    credentials_cmd,
    schedules_cmd,
    beat_cmd,
    sync_cmd,
    status_cmd,
    demo_cmd,
    flower_cmd,
    worker_cmd,
    menu_cmd,
    api_cmd,
    webhooks_cmd,
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pims-sync")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """pims-sync: keep clinics' PIMS data and the product database in step."""
    _read_env_files()
    _use_live_demo(ctx.invoked_subcommand or "menu")
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(menu_cmd.command)
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


def commands_of(module: ModuleType) -> list[click.Command]:
    """The click commands a command module contributes (AttributeError if it has none)."""
    found: list[click.Command] = getattr(module, "commands", None) or [module.command]
    return found


for _module in COMMAND_MODULES:
    for _cmd in commands_of(_module):
        cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="pims-sync")


if __name__ == "__main__":
    main()
