"""`pims-sync credentials set|test` for an ezyVet clinic: its own fields, sealed, one token fetch.

The IDEXX flags are unchanged (tests/cli/test_commands.py covers them).
"""

from __future__ import annotations

import json
import secrets

import psycopg
from click.testing import CliRunner

from pims_sync.cli.main import cli
from pims_sync.crypto import CredentialCipher
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.store._provider_credentials import unseal

TEST_KEY = "test-encryption-key-0123456789abcdef"


def _json(output: str) -> dict:
    """The JSON document in the output (after any prompts, before any error line)."""
    return json.JSONDecoder().raw_decode(output[output.index("{"):])[0]


def test_credentials_set_asks_the_clinics_provider_fields_and_test_fetches_one_token(database_url, redis_url,
                                                                                     store):
    with EzyvetSimulator(seed=31, sites=1) as sim:
        site = sim.sites[0]
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_KEY,
               "APP_ENV": "test", "IDEXX_EXTRA_HOSTS": sim.url}

        def run(*args, input=None):
            return CliRunner().invoke(cli, ["credentials", *args], env=env, input=input, catch_exceptions=False)

        added = CliRunner().invoke(cli, ["clinics", "add", "--name", f"Ezy {secrets.token_hex(2)}", "--timezone",
                                         site["timezone"], "--pims-provider", "ezyvet", "--pims-host", sim.url,
                                         "--json"], env=env, catch_exceptions=False)
        assert added.exit_code == 0, added.output
        clinic = store.get_clinic(_json(added.output)["id"])
        assert clinic.pims_provider == "ezyvet"

        # IDEXX flags on an ezyVet clinic are refused, naming the fields it takes
        wrong = run("set", "--clinic", clinic.id, "--username", "u")
        assert wrong.exit_code == 2 and "partner_id, client_id, client_secret, site_uid" in wrong.output
        # a secret on the command line is refused (shell history)
        leaked = run("set", "--clinic", clinic.id, "--field", "client_secret=x")
        assert leaked.exit_code == 2 and "prompted" in leaked.output
        # non-secret fields as flags, the rest prompted; the secret's prompt is hidden
        done = run("set", "--clinic", clinic.id, "--field", f"partner_id={site['partner_id']}",
                   "--field", f"site_uid={site['site_uid']}", "--json",
                   input=f"{site['client_id']}\n{site['client_secret']}\n")
        assert done.exit_code == 0, done.output
        assert _json(done.output)["provider"] == "ezyvet"
        assert site["client_secret"] not in done.output
        stored = store.get_provider_credentials(clinic.id, "ezyvet")
        with psycopg.connect(database_url) as conn:
            raw = conn.execute("select fields_encrypted from pims_sync_provider_credentials where clinic_id = %s",
                               (clinic.id,)).fetchone()[0]
        assert site["client_secret"].encode() not in bytes(raw) and b"partner" not in bytes(raw)
        cipher = CredentialCipher(secret_for=lambda key_id: TEST_KEY)
        assert dict(unseal(cipher, stored).fields) == {k: site[k] for k in
                                                       ("partner_id", "client_id", "client_secret", "site_uid")}
        assert "client_secret" not in repr(unseal(cipher, stored)) and site["client_secret"] not in repr(stored)

        ok = run("test", "--clinic", clinic.id, "--json")
        assert ok.exit_code == 0 and _json(ok.output)["ok"] is True
        assert store.get_provider_credentials(clinic.id, "ezyvet").validation_status == "valid"
        assert sim.state.stats["tokens_issued"] == {site["site_uid"]: 1}

        # a rotated secret: the test says so and remembers it, so no scheduled sync tries it again
        sim.state.sites[0].client_secret = "rotated"
        bad = run("test", "--clinic", clinic.id, "--json")
        assert bad.exit_code == 1 and _json(bad.output)["reason"] == "invalid_credentials"
        assert store.get_provider_credentials(clinic.id, "ezyvet").validation_status == "invalid"
        # storing new ones clears the mark
        run("set", "--clinic", clinic.id, *(f"--field={k}={site[k]}" for k in ("partner_id", "client_id", "site_uid")),
            input="rotated\n")
        assert store.get_provider_credentials(clinic.id, "ezyvet").validation_status is None
