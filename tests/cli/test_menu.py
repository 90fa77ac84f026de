"""The interactive menu's sync entry runs the real `sync` command (real database and Redis)."""

from __future__ import annotations

from click.testing import CliRunner

from pims_sync.cli.main import cli

TEST_KEY = "test-encryption-key-0123456789abcdef"


def test_menu_sync_runs_the_sync_command_and_comes_back(database_url, redis_url, store, clinic):
    # found by mypy: the menu read sync_cmd.SYNC_TYPES, gone since the SyncType enum (AttributeError)
    store.update_clinic(clinic.id, sync_owner="legacy")  # refused before anything is queued
    number = [c.id for c in store.list_clinics()].index(clinic.id) + 1
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_KEY,
           "APP_ENV": "test"}
    # menu: 1 = sync, then the clinic's number, then the sync type; 0 = exit
    result = CliRunner().invoke(cli, ["menu"], env=env, input=f"1\n{number}\nreconciliation\n0\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"clinic {clinic.id} is synced by the other service" in result.output
    assert "Traceback" not in result.output
