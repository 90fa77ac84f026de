"""CLI commands against the real database, Redis, simulator and Chromium (click's CliRunner).

The commands read their settings from the environment, which CliRunner sets for the call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from pims_sync.cli.main import cli
from pims_sync.config import Settings
from pims_sync.crypto import CredentialCipher

TEST_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def env(database_url, redis_url, chromium_path):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "IDEXX_ENCRYPTION_KEY": TEST_KEY,
        "APP_ENV": "test",
        "CHROMIUM_PATH": chromium_path,
        "PORT": "1",  # no API listens there: health must say so
    }


def run(env, *args, input=None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def run_process(env, *args):
    """In a subprocess: Playwright's sync API cannot start in a test process that already runs it."""
    proc = subprocess.run([sys.executable, "-m", "pims_sync.cli.main", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
    return SimpleNamespace(exit_code=proc.returncode, output=proc.stdout + proc.stderr, stdout=proc.stdout)


def test_keys_create_prints_the_key_once_list_never_shows_it_revoke_disables(env, clinic):
    created = run(env, "keys", "create", "--clinic", clinic.id, "--name", "backend",
                  "--permissions", "sync:inbound,sync:reconciliation", "--expires-days", "30", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert body["key"].startswith(f"pims_live_{body['keyPrefix']}_")  # the key carries its shown id
    assert body["permissions"] == ["sync:inbound", "sync:reconcile"]

    listed = run(env, "keys", "list", "--clinic", clinic.id, "--json")
    assert listed.exit_code == 0
    assert body["key"] not in listed.output
    [row] = json.loads(listed.output)
    assert row["keyPrefix"] == body["keyPrefix"] and row["isActive"] is True

    table = run(env, "keys", "list", "--clinic", clinic.id)
    assert body["keyPrefix"] in table.output and body["key"] not in table.output

    assert run(env, "keys", "revoke", body["id"], "--clinic", clinic.id).exit_code == 0
    assert json.loads(run(env, "keys", "list", "--clinic", clinic.id, "--json").output)[0]["isActive"] is False
    again = run(env, "keys", "revoke", body["id"])
    assert again.exit_code == 1 and "no active key" in again.output


def test_credentials_set_encrypts_and_test_logs_in_once(env, clinic, store, simulator):
    sim = simulator.clinic(0)
    env = {**env, "IDEXX_BASE_URL": simulator.url}
    result = run(env, "credentials", "set", "--clinic", clinic.id, "--username", sim["username"],
                 "--password-stdin", "--company-id", sim["company_id"], input=sim["password"] + "\n")
    assert result.exit_code == 0, result.output
    assert sim["password"] not in result.output
    row = store.get_credentials(clinic.id)
    assert sim["password"].encode() not in row.password_encrypted
    cipher = CredentialCipher.from_settings(Settings.from_env(env))
    assert cipher.decrypt_credentials(row).password == sim["password"]

    ok = run_process(env, "credentials", "test", "--clinic", clinic.id, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    assert store.get_credentials(clinic.id).validation_status == "valid"

    run(env, "credentials", "set", "--clinic", clinic.id, "--username", sim["username"], "--password-stdin",
        "--company-id", sim["company_id"], input="wrong-password\n")
    bad = run_process(env, "credentials", "test", "--clinic", clinic.id)
    assert bad.exit_code == 1
    assert "login failed" in bad.output and "wrong-password" not in bad.output
    assert store.get_credentials(clinic.id).validation_status == "invalid"


def test_history_and_status_json_parse(env, clinic):
    history = run(env, "history", "--clinic", clinic.id, "--json")
    assert history.exit_code == 0, history.output
    body = json.loads(history.output)
    assert body["syncs"] == [] and body["successRate"] is None
    status = run(env, "status", "--json")
    assert status.exit_code == 0, status.output
    assert clinic.id in [c["clinicId"] for c in json.loads(status.output)["clinics"]]


def test_health_names_what_is_down_and_exits_1(env):
    result = run(env, "health", "--json")
    body = json.loads(result.output)
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["api"]["ok"] is False
    assert result.exit_code == 1


def test_bad_argument_exits_2_with_one_error_line(env):
    result = run(env, "history", "--limit", "0")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--limit" in errors[0]
    assert run(env, "sync", "sideways", "--clinic", "x").exit_code == 2


def test_a_bad_setting_exits_2_naming_the_variable(env):
    result = run({**env, "DATABASE_URL": None, "SUPABASE_URL": None}, "history")  # None unsets
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "DATABASE_URL" in errors[0] and "SUPABASE_URL" in errors[0]


def test_unreachable_database_names_the_service_and_url(env):
    result = run({**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}, "history")
    assert result.exit_code == 1
    assert "database is unreachable at postgresql://postgres@127.0.0.1:1/nowhere" in result.output
    assert "Traceback" not in result.output


def test_unreachable_redis_names_the_service_and_url(env, clinic):
    result = run({**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "sync", "full", "--clinic", clinic.id)
    assert result.exit_code == 1
    assert "Redis is unreachable at redis://127.0.0.1:1/0" in result.output


def test_flower_refuses_to_start_open_in_production(env, tmp_path):
    result = run({**env, "APP_ENV": "production", "FLOWER_BASIC_AUTH": ""}, "flower", "--data-dir", str(tmp_path))
    assert result.exit_code == 2  # a bad setting exits 2, as README says
    assert "FLOWER_BASIC_AUTH must be set" in result.output


def _shared_key(store) -> str:
    from pims_sync.apikeys import generate_api_key

    generated = generate_api_key(env="test")
    return store.create_api_key(clinic_id=None, name=None, key_prefix=generated.key_prefix,
                                key_hash=generated.key_hash).id


def test_keys_grant_revoke_grant_bind_and_list_shared(env, store, clinic):
    other = store.create_clinic(name="Other CLI Clinic", timezone="Europe/Paris")
    key_id = _shared_key(store)
    shared = json.loads(run(env, "keys", "list", "--shared", "--json").output)
    [row] = [k for k in shared if k["id"] == key_id]
    assert row["clinicId"] is None and row["grantedClinicIds"] == []
    table = run(env, "keys", "list", "--shared")
    assert "refused by the API" in table.output

    granted = run(env, "keys", "grant", key_id, "--clinic", clinic.id, "--clinic", other.id, "--json")
    assert granted.exit_code == 0, granted.output
    assert sorted(json.loads(granted.output)["grantedClinicIds"]) == sorted([clinic.id, other.id])
    assert sorted(store.get_api_key(key_id).granted_clinic_ids) == sorted([clinic.id, other.id])

    assert run(env, "keys", "revoke-grant", key_id, "--clinic", other.id).exit_code == 0
    assert store.get_api_key(key_id).granted_clinic_ids == (clinic.id,)
    again = run(env, "keys", "revoke-grant", key_id, "--clinic", other.id)
    assert again.exit_code == 1 and "no grant" in again.output

    bound = run(env, "keys", "bind", key_id, "--clinic", clinic.id, "--json")
    assert bound.exit_code == 0, bound.output
    assert json.loads(bound.output)["clinicId"] == clinic.id
    assert key_id in [k["id"] for k in json.loads(run(env, "keys", "list", "--clinic", clinic.id, "--json").output)]
    assert key_id not in [k["id"] for k in json.loads(run(env, "keys", "list", "--shared", "--json").output)]
    # a bound key takes no grants: they would mean nothing, and saying so beats a silent no-op
    refused = run(env, "keys", "grant", key_id, "--clinic", other.id)
    assert refused.exit_code == 2 and "bound to clinic" in refused.output


def test_keys_bad_arguments_exit_2(env, clinic):
    assert run(env, "keys", "list").exit_code == 2
    assert run(env, "keys", "list", "--shared", "--clinic", clinic.id).exit_code == 2
    result = run(env, "keys", "bind", "not-a-uuid", "--clinic", clinic.id)
    assert result.exit_code == 2 and "KEY_ID" in result.output
    result = run(env, "keys", "grant", str(clinic.id), "--clinic", "nope")
    assert result.exit_code == 2 and "--clinic" in result.output


def test_keys_bind_an_unknown_key_or_clinic_exits_1(env, store, clinic):
    import uuid

    missing = str(uuid.uuid4())
    result = run(env, "keys", "bind", missing, "--clinic", clinic.id)
    assert result.exit_code == 1 and "Traceback" not in result.output
    key_id = _shared_key(store)
    result = run(env, "keys", "bind", key_id, "--clinic", missing)
    assert result.exit_code == 1 and missing in result.output
