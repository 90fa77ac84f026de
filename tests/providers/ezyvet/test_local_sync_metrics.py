"""`pims-sync sync full --local` for an ezyVet clinic, and the metrics ezyVet's calls feed.

Real parts: the ezyVet simulator over HTTP on 127.0.0.1, Postgres, and a CLI subprocess whose
metrics go to a samples directory in tmp_path (prometheus_client's multiprocess mode, read back
with pims_sync.metrics.render as /metrics would).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import requests

from pims_sync import metrics
from pims_sync.crypto import CredentialCipher
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.models import Clinic
from pims_sync.providers.ezyvet.provider import EzyvetProvider, forget_lookups
from pims_sync.store import seal

TEST_KEY = "test-encryption-key-0123456789abcdef"
FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")
REPO = Path(__file__).resolve().parents[3]


def _series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of ``name`` in the exposition text: (labels, value)."""
    found = []
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        series, _, value = line.rpartition(" ")
        found.append((dict(re.findall(r'(\w+)="([^"]*)"', series)), float(value)))
    return found


def test_sync_full_local_on_an_ezyvet_clinic_stores_cases_and_feeds_the_metrics(store, database_url, redis_url,
                                                                               tmp_path):
    samples = tmp_path / "prom"
    samples.mkdir()
    with EzyvetSimulator(seed=41, sites=1, appointments_per_day=4) as sim:
        site = sim.sites[0]
        clinic = store.create_clinic(name=f"Ezy local {secrets.token_hex(2)}", timezone=site["timezone"],
                                     pims_provider="ezyvet", pims_host=sim.url)
        cipher = CredentialCipher(secret_for=lambda key_id: TEST_KEY)
        store.save_provider_credentials(seal(cipher, clinic_id=clinic.id, provider="ezyvet",
                                             fields={k: site[k] for k in FIELDS}, required=FIELDS))
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_KEY,
               "APP_ENV": "test", "IDEXX_EXTRA_HOSTS": sim.url, "PROMETHEUS_MULTIPROC_DIR": str(samples),
               "PYTHONPATH": str(REPO)}
        argv = [sys.executable, "-m", "pims_sync.cli.main", "sync", "full", "--local", "--clinic", clinic.id,
                "--days-ahead", "2", "--lookback-days", "2", "--json"]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, cwd=REPO)
        assert result.returncode == 0, result.stdout + result.stderr
        body = json.loads(result.stdout)
        stats = requests.get(f"{sim.url}/__sim/stats", timeout=10).json()
        tokens = list(sim.state.tokens)
        # the token went to the workers' cache in Redis (encrypted), and the site's rate buckets
        # are the shared ones: a second local sync, another process, fetches no token
        rclient = redis.Redis.from_url(redis_url)
        try:
            cached = rclient.keys("pims:api-token:*")
            assert cached and all(site["site_uid"].encode() not in rclient.get(k) for k in cached
                                  if rclient.type(k) == b"string")
            assert rclient.keys("pims:ezyvet:rl:*"), "no shared rate bucket in Redis"
        finally:
            rclient.close()
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, cwd=REPO)
        assert again.returncode == 0, again.stdout + again.stderr
        assert requests.get(f"{sim.url}/__sim/stats", timeout=10).json()["tokens_issued"] == {site["site_uid"]: 1}

    # the sync ran against ezyVet (no CredentialsMissing from an IDEXX provider) and stored cases
    assert body["status"] == "completed", body
    cases = store.list_cases(clinic.id, include_deleted=True)
    assert cases and {c["source"] for c in cases} == {"pims:ezyvet"}
    assert body["inboundResult"]["stats"]["casesCreated"] == len(cases)
    assert stats["tokens_issued"] == {site["site_uid"]: 1} and stats["rate_limited"] == 0

    text = metrics.render(path=str(samples)).decode()
    requests_seen = {(labels["endpoint"], labels["status"]): value
                     for labels, value in _series(text, "pims_sync_pims_request_duration_seconds_count")
                     if labels.get("provider") == "ezyvet"}
    assert requests_seen[("/v2/appointment", "200")] >= 1
    assert requests_seen[("/v1/oauth/access_token", "200")] == 1
    logins = {(labels["kind"], labels["outcome"]): value for labels, value in _series(text, "pims_sync_logins_total")
              if labels.get("provider") == "ezyvet"}
    assert logins == {("login", "succeeded"): 1.0}
    # labels name no clinic, no credential and no token
    for secret in (clinic.id, clinic.name, *(site[k] for k in FIELDS), *tokens):
        assert secret not in text


def test_a_401_refetch_counts_as_a_relogin_a_429_as_a_hold_and_a_bad_secret_as_refused():
    forget_lookups()
    relogins = metrics.LOGINS.labels("ezyvet", "relogin", "succeeded")
    refused = metrics.LOGINS.labels("ezyvet", "login", "refused")
    unauthorised = metrics.PIMS_REQUEST_DURATION.labels("ezyvet", "/v2/appointment", "401")
    throttled = metrics.PIMS_REQUEST_DURATION.labels("ezyvet", "/v2/appointment", "429")
    held = metrics.RATE_LIMIT_WAIT.labels("ezyvet")

    def counts() -> tuple[float, ...]:
        return (relogins._value.get(), refused._value.get(), sum(b.get() for b in unauthorised._buckets),
                sum(b.get() for b in throttled._buckets), sum(b.get() for b in held._buckets))

    before = counts()
    now = datetime.now(UTC)
    with EzyvetSimulator(seed=43, sites=1, appointments_per_day=3) as sim:
        site = sim.sites[0]
        clinic = Clinic(id=f"clinic-{secrets.token_hex(3)}", name="ezy", timezone=site["timezone"])
        creds = {k: site[k] for k in FIELDS}
        provider = EzyvetProvider(clinic=clinic, credentials_loader=lambda: creds, base_url=sim.url,
                                  client_options={"retry_after_max_s": 0.2})
        try:
            provider.appointments(now - timedelta(days=1), now + timedelta(days=1))
            assert requests.post(f"{sim.url}/__sim/tokens/expire", timeout=10).json()["expired"] >= 1
            provider.appointments(now - timedelta(days=1), now + timedelta(days=1))  # 401, new token, retried
            fault = {"path": "/v2/appointment", "status": 429, "count": 1, "type": "RateLimited"}
            assert requests.post(f"{sim.url}/__sim/faults", json=fault, timeout=10).status_code == 201
            provider.appointments(now - timedelta(days=1), now + timedelta(days=1))  # 429, held, retried
        finally:
            provider.close()
        wrong = EzyvetProvider(clinic=clinic, credentials_loader=lambda: {**creds, "client_secret": "wrong"},
                               base_url=sim.url)
        try:
            try:
                wrong.ensure_session()
            except Exception as e:
                assert e.__class__.__name__ == "AuthenticationFailed"
            else:
                raise AssertionError("a wrong secret got a token")
        finally:
            wrong.close()
    after = counts()
    assert after[0] == before[0] + 1  # one re-login for the 401
    assert after[1] == before[1] + 1  # the refused client secret
    assert after[2] == before[2] + 1  # the 401 itself is a request, with its status
    assert after[3] == before[3] + 1 and after[4] == before[4] + 1  # the 429, and the hold it caused
