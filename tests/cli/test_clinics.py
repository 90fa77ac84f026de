"""`pims-sync clinics add|list|show|set` against the real database (click's CliRunner).

Bad input exits 2 naming the option and writes nothing; an operational failure exits 1.
"""

from __future__ import annotations

import json
import secrets
import uuid

import psycopg
import pytest
from click.testing import CliRunner

from pims_sync.cli.main import cli
from pims_sync.crypto import CredentialCipher

TEST_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def env(database_url, redis_url):
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_KEY, "APP_ENV": "test"}


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok_json(env, *args) -> dict | list:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def clinics_named(database_url, name: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("select count(*) from clinics where name = %s", (name,)).fetchone()[0]


def test_add_show_and_list_a_clinic(env):
    name = f"CLI Clinic {secrets.token_hex(3)}"
    owner = str(uuid.uuid4())
    added = ok_json(env, "clinics", "add", "--name", name, "--timezone", "America/Denver", "--pims-provider", "idexx",
                    "--pims-host", "https://ca.idexxneo.com", "--owner-user", owner)
    assert added["name"] == name and added["timezone"] == "America/Denver"
    assert added["pimsProvider"] == "idexx-neo", "'idexx' is an alias, stored as the registry name"
    assert added["pimsHost"] == "https://ca.idexxneo.com" and added["ownerUserId"] == owner
    assert added["isActive"] is True and added["syncOwner"] == "pims-sync" and added["syncEnabled"] is True
    assert added["synced"] is True and added["notSyncedBecause"] is None

    # show adds what the PIMS last reported (nothing yet: no inbound run)
    nothing = {"pimsSiteTimezone": None, "pimsSiteCheckedAt": None, "incrementalSince": None, "warnings": []}
    assert ok_json(env, "clinics", "show", added["id"]) == added | nothing
    listed = ok_json(env, "clinics", "list")
    assert [c for c in listed if c["id"] == added["id"]] == [added]

    human = run(env, "clinics", "show", added["id"])
    assert human.exit_code == 0 and name in human.output and "America/Denver" in human.output


def test_add_with_a_given_id_inactive_and_legacy_owned(env):
    clinic_id = str(uuid.uuid4())
    added = ok_json(env, "clinics", "add", "--id", clinic_id, "--name", "Legacy Owned", "--timezone", "UTC",
                    "--inactive", "--sync-owner", "legacy")
    assert added["id"] == clinic_id and added["isActive"] is False and added["syncOwner"] == "legacy"
    assert added["synced"] is False
    assert clinic_id not in [c["id"] for c in ok_json(env, "clinics", "list")]
    assert clinic_id in [c["id"] for c in ok_json(env, "clinics", "list", "--all")]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone"),
        (["--timezone", "../../etc/localtime"], "--timezone"),
        (["--timezone", ""], "--timezone"),
        (["--timezone", "localtime"], "--timezone"),
        (["--timezone", "UTC", "--owner-user", "not-a-uuid"], "--owner-user"),
        (["--timezone", "UTC", "--pims-host", "ftp://ca.idexxneo.com"], "--pims-host"),
        (["--timezone", "UTC", "--pims-host", "https://ca.idexxneo.com/login?x=1"], "--pims-host"),
        (["--timezone", "UTC", "--pims-provider", "vetspire"], "--pims-provider"),
        (["--timezone", "UTC", "--phone-region", "USA"], "--phone-region"),
        (["--timezone", "UTC", "--sync-owner", "both"], "--sync-owner"),
        (["--timezone", "UTC", "--id", "42"], "--id"),
    ],
)
def test_bad_input_to_add_exits_2_naming_the_option_and_writes_nothing(env, database_url, args, option):
    name = f"Never Written {secrets.token_hex(3)}"
    result = run(env, "clinics", "add", "--name", name, *args)
    assert result.exit_code == 2, result.output
    [line] = error_lines(result)
    assert option in line, line
    assert "Traceback" not in result.output
    assert clinics_named(database_url, name) == 0


def test_a_host_the_provider_would_refuse_is_stored_with_a_warning(env, clinic):
    """Written (an operator may list it in IDEXX_EXTRA_HOSTS next), but said now, not at the next sync."""
    result = run(env, "clinics", "set", clinic.id, "--pims-host", "neo.example.org")
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "IDEXX_EXTRA_HOSTS" in result.output
    allowed = run({**env, "IDEXX_EXTRA_HOSTS": "neo.example.org"}, "clinics", "set", clinic.id, "--pims-host",
                  "neo.example.org")
    assert allowed.exit_code == 0 and "warning" not in allowed.output
    assert ok_json(env, "clinics", "show", clinic.id)["pimsHost"] == "https://neo.example.org"


def test_an_ezyvet_clinics_host_is_checked_against_ezyvets_hosts(env):
    ezy = ok_json(env, "clinics", "add", "--name", "Ezy", "--timezone", "Pacific/Auckland", "--pims-provider",
                  "ezyvet", "--pims-host", "https://api.trial.ezyvet.com")
    trial = run(env, "clinics", "set", ezy["id"], "--pims-host", "https://api.trial.ezyvet.com")
    assert trial.exit_code == 0 and "warning" not in trial.output  # an ezyVet host, though not IDEXX's
    other = run(env, "clinics", "set", ezy["id"], "--pims-host", "https://ca.idexxneo.com")
    assert other.exit_code == 0 and "warning" in other.output and "not an ezyVet API host" in other.output


def test_set_changes_only_what_is_given(env, clinic):
    owner = str(uuid.uuid4())
    after = ok_json(env, "clinics", "set", clinic.id, "--timezone", "Europe/Dublin", "--pims-host",
                    "https://uk.idexxneo.com", "--owner-user", owner, "--phone-region", "ie")
    assert after["timezone"] == "Europe/Dublin" and after["pimsHost"] == "https://uk.idexxneo.com"
    assert after["ownerUserId"] == owner and after["phoneRegion"] == "IE"
    assert after["name"] == clinic.name and after["isActive"] is True
    cleared = ok_json(env, "clinics", "set", clinic.id, "--clear-owner-user", "--clear-pims-host")
    assert cleared["ownerUserId"] is None and cleared["pimsHost"] is None
    assert cleared["timezone"] == "Europe/Dublin"


def test_the_cut_over_flags_and_what_show_says_about_them(env, clinic, store):
    legacy = ok_json(env, "clinics", "set", clinic.id, "--sync-owner", "legacy")
    assert legacy["synced"] is False and "sync_owner" in legacy["notSyncedBecause"]
    assert "--sync-owner pims-sync" in legacy["notSyncedBecause"]
    human = run(env, "clinics", "show", clinic.id)
    assert "synced by pims-sync: no" in human.output

    back = ok_json(env, "clinics", "set", clinic.id, "--sync-owner", "pims-sync", "--inactive")
    assert back["syncOwner"] == "pims-sync" and back["isActive"] is False and "--active" in back["notSyncedBecause"]
    assert ok_json(env, "clinics", "set", clinic.id, "--active")["synced"] is True
    assert store.get_clinic(clinic.id).sync_owner == "pims-sync"


def test_sync_disabled_needs_a_credentials_row_and_then_sets_it(env, clinic, store, database_url, base_settings):
    missing = run(env, "clinics", "set", clinic.id, "--sync-disabled")
    assert missing.exit_code == 1
    assert "credentials set" in missing.output and "Traceback" not in missing.output

    cipher = CredentialCipher.from_settings(base_settings)
    store.save_credentials(cipher.encrypt_credentials("user", "pw", "1234", clinic_id=clinic.id))
    off = ok_json(env, "clinics", "set", clinic.id, "--sync-disabled")
    assert off["syncEnabled"] is False and off["synced"] is False and "--sync-enabled" in off["notSyncedBecause"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        [(enabled,)] = conn.execute("select sync_enabled from idexx_credentials where clinic_id = %s",
                                    (clinic.id,)).fetchall()
    assert enabled is False
    assert ok_json(env, "clinics", "set", clinic.id, "--sync-enabled")["synced"] is True


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "nothing to change"),
        (["--pims-host", "https://ca.idexxneo.com", "--clear-pims-host"], "--clear-pims-host"),
        (["--owner-user", str(uuid.UUID(int=1)), "--clear-owner-user"], "--clear-owner-user"),
        (["--timezone", "Atlantis/Lost"], "--timezone"),
        (["--name", "  "], "--name"),
    ],
)
def test_bad_input_to_set_exits_2_and_changes_nothing(env, clinic, store, args, words):
    result = run(env, "clinics", "set", clinic.id, *args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert store.get_clinic(clinic.id) == clinic


def test_an_unknown_clinic_exits_1_naming_it(env):
    missing = str(uuid.uuid4())
    for args in (["show", missing], ["set", missing, "--name", "X Clinic"]):
        result = run(env, "clinics", *args)
        assert result.exit_code == 1, result.output
        assert missing in result.output and "Traceback" not in result.output


def test_an_unreachable_database_exits_1(env):
    result = run({**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}, "clinics", "list")
    assert result.exit_code == 1 and "database is unreachable" in result.output
