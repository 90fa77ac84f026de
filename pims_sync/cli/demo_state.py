"""The running demo's state file, and how the rest of the CLI finds a live demo through it.

`pims-sync demo` writes ``<data-dir>/state.json`` once its services are up and removes it on
exit, so a second terminal in the same folder can run `status`, `history`, `menu`, `sync` …
against the demo without the user copying URLs around. The file names where things are (URLs,
the key *file*), never a secret itself: it may be read by any tool the user points at it.

Settings the user gave (the environment, ``.env``, ``.env.local``) always win: the demo's
state only fills what nobody set, and only when no database or Redis was configured at all,
so a half-demo, half-production mix cannot happen. A state file whose process is gone (a
crash, ``kill -9``) is stale and ignored; the CLI then says what it always said.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

DEFAULT_DIR = Path(".data/demo")
STATE_NAME = "state.json"
STATE_VERSION = 1
ENV_FILES = (".env", ".env.local")
# any of these configured by the user means "not the demo": the demo is all or nothing
CONNECTION_VARS = ("DATABASE_URL", "REDIS_URL", "SUPABASE_URL")
# commands that must never pick up a demo: the demo itself (it makes its own) and the simulator
IGNORES_DEMO = frozenset({"demo", "simulator"})


@dataclass(frozen=True)
class DemoState:
    """What a live demo offers to other processes; ``pid``+``pid_started`` identify the demo."""

    pid: int
    pid_started: float  # the demo process's create time: a reused pid is not our demo
    data_dir: str
    database_url: str
    redis_url: str
    api_url: str
    simulator_url: str
    flower_url: str | None = None
    flower_user: str | None = None
    flower_password_file: str | None = None
    encryption_key_file: str | None = None  # None: the demo's key came from its own environment
    chromium_path: str | None = None
    clinic_ids: tuple[str, ...] = field(default_factory=tuple)
    ezyvet_url: str | None = None  # the ezyVet simulator of the demo's ezyVet clinic
    version: int = STATE_VERSION

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoState:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["clinic_ids"] = tuple(known.get("clinic_ids") or ())
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "clinic_ids": list(self.clinic_ids)}

    @property
    def api_port(self) -> str | None:
        port = urlsplit(self.api_url).port
        return str(port) if port else None


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_NAME


def process_started(pid: int) -> float:
    return psutil.Process(pid).create_time()


# --- the file ---------------------------------------------------------------------------------


def write_state(state: DemoState) -> Path:
    """Atomically (temp file + rename, mode 600): a reader never sees half a file."""
    path = state_path(Path(state.data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state.to_json(), fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_state(data_dir: Path, pid: int) -> None:
    """Remove the file if it is this demo's (another demo's live state is not ours to delete)."""
    state = read_state(data_dir)
    if state is not None and state.pid == pid:
        state_path(data_dir).unlink(missing_ok=True)


def read_state(data_dir: Path) -> DemoState | None:
    """The state file's content, or None when it is missing or unreadable (never an error)."""
    try:
        data = json.loads(state_path(data_dir).read_text())
        return DemoState.from_json(data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def is_live(state: DemoState) -> bool:
    try:
        proc = psutil.Process(state.pid)
        return abs(proc.create_time() - state.pid_started) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def live_demo(data_dir: Path = DEFAULT_DIR) -> DemoState | None:
    state = read_state(data_dir)
    return state if state is not None and is_live(state) else None


# --- settings: the user's first, the demo's for the rest ----------------------------------------


def file_settings(folder: Path) -> dict[str, str]:
    """Values from ``.env`` then ``.env.local`` in folder (the later file wins, as usual)."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    for name in ENV_FILES:
        path = folder / name
        if path.is_file():
            values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return values


def user_configured(environ: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """The connection variables the user set somewhere (empty values count as unset)."""
    return [v for v in CONNECTION_VARS if (environ.get(v) or "").strip() or (files.get(v) or "").strip()]


def demo_environment(state: DemoState, *, for_command: str | None = None) -> dict[str, str]:
    """The variables the demo implies. The encryption key is read from its file here, in memory."""
    env = {
        "DATABASE_URL": state.database_url,
        "REDIS_URL": state.redis_url,
        "IDEXX_BASE_URL": state.simulator_url,
    }
    if state.chromium_path:
        env["CHROMIUM_PATH"] = state.chromium_path
    if state.ezyvet_url:  # an in-process sync of the ezyVet clinic may send its secret there
        env["IDEXX_EXTRA_HOSTS"] = state.ezyvet_url
    if state.api_port and for_command != "api":  # `health` and `sync --via api` find the demo's API
        env["PORT"] = state.api_port
    if state.encryption_key_file:
        try:
            key = Path(state.encryption_key_file).read_text().strip()
        except OSError:
            key = ""
        if key:
            env["IDEXX_ENCRYPTION_KEY"] = key
    return env


def overlay(implied: Mapping[str, str], environ: Mapping[str, str], files: Mapping[str, str]) -> dict[str, str]:
    """Pure: the implied variables nobody set, in the environment or in a .env file."""
    return {k: v for k, v in implied.items() if not (environ.get(k) or "").strip() and not (files.get(k) or "").strip()}


def apply_live_demo(command: str | None, *, environ: MutableMapping[str, str] | None = None,
                    folder: Path | None = None) -> DemoState | None:
    """Point this process at a live demo when the user configured no connection; else do nothing.

    Changes ``environ`` (os.environ by default) so every way of reading settings agrees,
    including processes this one starts (``pims-sync worker`` joining the demo).
    """
    if command in IGNORES_DEMO:
        return None
    environ = os.environ if environ is None else environ
    folder = Path.cwd() if folder is None else folder
    files = file_settings(folder)
    if user_configured(environ, files):
        return None
    state = live_demo(folder / DEFAULT_DIR)
    if state is None:
        return None
    changes = overlay(demo_environment(state, for_command=command), environ, files)
    environ.update(changes)
    _applied.update(changes)
    from ..config import reset_settings_cache

    reset_settings_cache()
    return state


# what apply_live_demo put into os.environ in this process, so a refresh can take it back
_applied: dict[str, str] = {}


def refresh_live_demo(command: str | None = None, *, environ: MutableMapping[str, str] | None = None,
                      folder: Path | None = None) -> DemoState | None:
    """Forget the demo settings this process applied (those still as applied), then look again.

    For long-lived commands (the menu's "refresh connection"): a demo started, stopped or
    restarted on other ports since is picked up without restarting the command.
    """
    environ = os.environ if environ is None else environ
    for name, value in list(_applied.items()):
        if environ.get(name) == value:
            del environ[name]
        del _applied[name]
    return apply_live_demo(command, environ=environ, folder=folder)


# --- `pims-sync demo env` -------------------------------------------------------------------------


def export_lines(state: DemoState) -> list[str]:
    """Shell lines for psql, curl, a Celery shell; the key stays in its file (read by the shell)."""
    q = shlex.quote
    lines = [
        f"# the pims-sync demo running in {state.data_dir} (pid {state.pid})",
        '# use: eval "$(pims-sync demo env)"',
        f"export DATABASE_URL={q(state.database_url)}",
        f"export REDIS_URL={q(state.redis_url)}",
        f"export CELERY_BROKER_URL={q(state.redis_url)}",
        f"export IDEXX_BASE_URL={q(state.simulator_url)}",
        f"export API_URL={q(state.api_url)}",
    ]
    if state.ezyvet_url:
        lines.append(f"export IDEXX_EXTRA_HOSTS={q(state.ezyvet_url)}")
    if state.api_port:
        lines.append(f"export PORT={q(state.api_port)}")
    if state.encryption_key_file:
        lines.append(f'export IDEXX_ENCRYPTION_KEY="$(cat {q(state.encryption_key_file)})"')
    else:
        lines.append("# IDEXX_ENCRYPTION_KEY: the demo uses the one from the environment it was started with")
    if state.chromium_path:
        lines.append(f"export CHROMIUM_PATH={q(state.chromium_path)}")
    if state.flower_url:
        lines.append(f"export FLOWER_URL={q(state.flower_url)}")
        if state.flower_user and state.flower_password_file:
            lines.append(f'export FLOWER_BASIC_AUTH="{state.flower_user}:$(cat {q(state.flower_password_file)})"')
    return lines
