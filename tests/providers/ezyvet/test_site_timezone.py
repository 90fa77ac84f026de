"""A clinic whose time zone differs from what its ezyVet site reports (/v3/siteInformation): a warning
in the inbound audit, and in `pims-sync clinics show`, which reads the stored report (no ezyVet call)."""

from __future__ import annotations

import json
import secrets

import pytest
import redis
from click.testing import CliRunner

from pims_sync.cli.main import cli
from pims_sync.crypto import CredentialCipher
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.providers.ezyvet.limiter import RedisRateLimiter
from pims_sync.providers.ezyvet.provider import EzyvetProvider, forget_lookups
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import PhaseRunner, create_sync_audits
from workers.session_cache import RedisSessionCache

FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")
TEST_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def rds(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_zone_mismatch_is_a_warning_in_the_audit_and_in_clinics_show(store, rds, database_url, redis_url):
    forget_lookups()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_KEY, "APP_ENV": "test"}
    with EzyvetSimulator(seed=51, sites=1, appointments_per_day=3) as sim:
        site = sim.sites[0]
        assert site["timezone"] == "Pacific/Auckland"
        clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone="America/Chicago",
                                     pims_provider="ezyvet", pims_host=sim.url)
        cache = RedisSessionCache(rds, CredentialCipher(secret_for=lambda key_id: "tz"), ttl_s=600,
                                  prefix=f"t:{secrets.token_hex(4)}:")
        provider = EzyvetProvider(clinic=clinic, credentials_loader=lambda: {k: site[k] for k in FIELDS},
                                  base_url=sim.url, token_cache=cache, token_lock=cache.login_lock,
                                  limiter=RedisRateLimiter(rds))
        audits = create_sync_audits(store, clinic_id=clinic.id, sync_type="inbound", trigger="cli")
        result = PhaseRunner(store, provider, clinic).run("inbound", SyncOptions(days_ahead=1),
                                                          audit_id=audits.sync_id)
        assert result.status == "completed", result.error
        warnings = store.get_audit(audits.sync_id).stats["warnings"]
        (warning,) = [w for w in warnings if "clinics.timezone" in w]
        assert "clinics.timezone is America/Chicago" in warning and "Pacific/Auckland" in warning
        calls = sum(sim.state.stats["requests"].values())

    # the simulator is gone: show answers from what the inbound run stored
    shown = CliRunner().invoke(cli, ["clinics", "show", clinic.id], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "site zone: Pacific/Auckland (reported by the PIMS" in text
    assert ("warning: clinics.timezone is America/Chicago but the PIMS site reports Pacific/Auckland" in text
            and f"pims-sync clinics set {clinic.id} --timezone Pacific/Auckland" in text)
    as_json = CliRunner().invoke(cli, ["clinics", "show", clinic.id, "--json"], env=env, catch_exceptions=False)
    view = json.loads(as_json.output)
    assert view["pimsSiteTimezone"] == "Pacific/Auckland" and len(view["warnings"]) == 1
    assert view["incrementalSince"] and view["pimsSiteCheckedAt"]
    assert sum(sim.state.stats["requests"].values()) == calls

    # the clinic's zone fixed: no warning any more
    fixed = CliRunner().invoke(cli, ["clinics", "set", clinic.id, "--timezone", "Pacific/Auckland"], env=env,
                               catch_exceptions=False)
    assert fixed.exit_code == 0, fixed.output
    again = json.loads(CliRunner().invoke(cli, ["clinics", "show", clinic.id, "--json"], env=env,
                                          catch_exceptions=False).output)
    assert again["warnings"] == [] and again["pimsSiteTimezone"] == "Pacific/Auckland"
    # an IDEXX clinic has nothing reported
    idexx = store.create_clinic(name=f"Idexx {secrets.token_hex(2)}", timezone="America/Chicago")
    plain = json.loads(CliRunner().invoke(cli, ["clinics", "show", idexx.id, "--json"], env=env,
                                          catch_exceptions=False).output)
    assert plain["pimsSiteTimezone"] is None and plain["warnings"] == [] and plain["incrementalSince"] is None
