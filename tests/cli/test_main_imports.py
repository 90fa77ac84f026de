"""The CLI imports its command modules explicitly: a missing one fails loudly, none is skipped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pims_sync.cli import main

CLI_DIR = Path(main.__file__).parent


def test_every_command_module_is_registered():
    on_disk = {p.stem for p in CLI_DIR.glob("*_cmd.py")}
    assembled = {m.__name__.rsplit(".", 1)[1] for m in main.COMMAND_MODULES}
    assert assembled == on_disk
    for module in main.COMMAND_MODULES:
        for cmd in main.commands_of(module):
            assert main.cli.commands[cmd.name] is cmd, f"{module.__name__}: {cmd.name} is not a pims-sync command"


def test_a_missing_command_module_stops_the_cli_with_its_name():
    """As if webhooks_cmd.py were deleted: the CLI must not start without its commands."""
    blocker = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Gone(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "pims_sync.cli.webhooks_cmd":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Gone())
        from pims_sync.cli.main import main
        sys.argv = ["pims-sync", "--help"]
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120,
                          cwd=CLI_DIR.parents[1])
    assert proc.returncode != 0, proc.stdout
    assert "ImportError" in proc.stderr and "webhooks_cmd" in proc.stderr
    assert "Commands:" not in proc.stdout


def test_the_help_lists_every_command_and_no_phantom():
    proc = subprocess.run([sys.executable, "-m", "pims_sync.cli.main", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=CLI_DIR.parents[1])
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert listed == set(main.cli.commands)
    assert "services" not in listed
