"""Where settings come from: .env/.env.local files, the old service's names, blank values.

The .env tests run `python -c` in a folder of their own, so the process environment and the
per-process cache of this test session are untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pims_sync.config import Settings
from pims_sync.errors import ConfigError

KEY_A = "a" * 40
KEY_B = "b" * 40
REPO = Path(__file__).resolve().parents[1]


def settings_in(folder: Path, **env: str) -> dict:
    """Settings.from_env() in a fresh process whose working directory is ``folder``."""
    script = (
        "import json; from pims_sync.config import Settings; s = Settings.from_env(); "
        "print(json.dumps({'app_env': s.app_env, 'port': s.port, 'log_level': s.log_level, "
        "'key': s.encryption_key, 'files': list(s.env_files)}))"
    )
    clean = {k: v for k, v in os.environ.items()
             if k not in ("APP_ENV", "NODE_ENV", "PORT", "LOG_LEVEL", "IDEXX_ENCRYPTION_KEY", "ENCRYPTION_KEY")}
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONPATH": str(REPO), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_env_and_env_local_are_read_and_the_real_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("PORT=6001\nLOG_LEVEL=DEBUG\nAPP_ENV=test\n")
    (tmp_path / ".env.local").write_text("PORT=6002\nENCRYPTION_KEY=" + KEY_A + "\n")

    got = settings_in(tmp_path, APP_ENV="production")

    assert got["port"] == 6002  # .env.local wins over .env
    assert got["log_level"] == "DEBUG"  # from .env
    assert got["app_env"] == "production"  # the real environment wins over both files
    assert got["key"] == KEY_A  # the seed's ENCRYPTION_KEY, from .env.local
    assert got["files"] == [".env", ".env.local"]


def test_without_env_files_nothing_is_read(tmp_path):
    assert settings_in(tmp_path)["files"] == []


def test_node_env_is_an_alias_of_app_env_and_app_env_wins():
    assert Settings.from_env({"NODE_ENV": "production"}).app_env == "production"
    assert Settings.from_env({"NODE_ENV": "production", "APP_ENV": "test"}).app_env == "test"
    with pytest.raises(ConfigError, match="NODE_ENV"):
        Settings.from_env({"NODE_ENV": "staging"})


def test_encryption_key_is_an_alias_and_ours_wins_with_a_note(caplog):
    assert Settings.from_env({"ENCRYPTION_KEY": KEY_A}).encryption_key == KEY_A
    both = Settings.from_env({"ENCRYPTION_KEY": KEY_A, "IDEXX_ENCRYPTION_KEY": KEY_B})
    assert both.encryption_key == KEY_B
    assert any("differ" in note for note in both.notes)
    assert KEY_A not in caplog.text and KEY_B not in caplog.text
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        Settings.from_env({"ENCRYPTION_KEY": "short"})


def test_blank_values_are_unset():
    s = Settings.from_env({"HOST": "  ", "CHROMIUM_PATH": "", "SUPABASE_SERVICE_ROLE_KEY": " ", "APP_ENV": " "})
    assert s.host == "0.0.0.0" and s.chromium_path is None and s.supabase_service_role_key is None
    assert s.app_env == "development"


def test_the_cli_says_which_files_it_read_and_uses_them(tmp_path):
    (tmp_path / ".env.local").write_text("DATABASE_URL=postgresql://postgres@127.0.0.1:1/from_env_local\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "-m", "pims_sync.cli.main", "history"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**clean, "PYTHONPATH": str(REPO)})
    assert "settings from .env.local" in done.stderr
    assert "127.0.0.1:1/from_env_local" in done.stderr  # the file's database, unreachable: exit 1
    assert done.returncode == 1
