"""EzyvetProvider against the simulator over real HTTP, with real Redis for tokens and limits.

Two providers stand for two workers: they share the token cache and the rate buckets in Redis
exactly as workers/runtime.py wires them.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from pims_sync.crypto import CredentialCipher
from pims_sync.errors import AuthenticationFailed, PimsProtocolError
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.models import Clinic
from pims_sync.providers.ezyvet.limiter import RedisRateLimiter
from pims_sync.providers.ezyvet.provider import EzyvetProvider, forget_lookups
from pims_sync.providers.registry import RateLimit
from workers.session_cache import RedisSessionCache

FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")


@pytest.fixture
def rds(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _provider(sim, site: dict, rds, *, prefix: str, rate: RateLimit | None = None, tz: str | None = None, **creds):
    cipher = CredentialCipher(secret_for=lambda key_id: "ezyvet-test-secret")
    cache = RedisSessionCache(rds, cipher, ttl_s=86_400, prefix=prefix)
    clinic = Clinic(id=f"clinic-{site['number']}", name="ezy", timezone=tz or site["timezone"])
    loaded = {k: site[k] for k in FIELDS} | creds
    return EzyvetProvider(clinic=clinic, credentials_loader=lambda: loaded, base_url=sim.url, token_cache=cache,
                          token_lock=cache.login_lock, limiter=RedisRateLimiter(rds), rate_limit=rate,
                          client_options={"backoff_s": 0.05})


def _stats(sim) -> dict:
    return requests.get(f"{sim.url}/__sim/stats", timeout=10).json()


def _window(days_back: int, days_ahead: int) -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=days_back), now + timedelta(days=days_ahead)


def test_two_workers_page_through_1000_appointments_on_one_token(rds):
    forget_lookups()
    prefix = f"t:{secrets.token_hex(4)}:"
    with EzyvetSimulator(seed=11, sites=1, appointments_per_day=120, days_back=5, days_ahead=5) as sim:
        site = sim.sites[0]
        a, b = (_provider(sim, site, rds, prefix=prefix) for _ in range(2))
        start, end = _window(6, 6)
        found: dict[str, list] = {}
        threads = [threading.Thread(target=lambda p=p, n=n: found.__setitem__(n, p.appointments(start, end)))
                   for n, p in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        truth = [r for r in sim.state.sites[0].tables["/v2/appointment"] if r["animal_id"] is not None]
        assert len(truth) >= 1000
        assert [x.id for x in found["a"]] == [x.id for x in found["b"]] == [str(r["id"]) for r in
                                                                             sorted(truth, key=lambda r: (r["start_at"], r["id"]))]
        first = next(x for x in found["a"] if x.id == str(truth[0]["id"]))
        assert first.end - first.start == timedelta(seconds=truth[0]["duration"])
        assert first.patient_name and first.client_last_name and first.client_phone_e164 and first.provider_name
        stats = _stats(sim)
        assert stats["tokens_issued"] == {site["site_uid"]: 1}  # one token for both workers
        assert stats["rate_limited"] == 0 and stats["max_limit_asked"] == 200
        # lookups by id, batched: never one call per appointment
        pages = -(-sum(1 for r in sim.state.sites[0].tables["/v2/appointment"] if start.timestamp() <= r["start_at"]
                       < end.timestamp()) // 200)
        assert a.stats["requests"]["/v2/appointment"] == b.stats["requests"]["/v2/appointment"] == pages
        assert sum(a.stats["requests"].values()) + sum(b.stats["requests"].values()) < 60
        # the cached token is ciphertext in Redis
        stored = rds.get(f"{prefix}{site['site_uid']}")
        assert stored and a.client.token()["access_token"].encode() not in stored
        # a dead token: one re-fetch shared by both workers, then the calls go on
        requests.post(f"{sim.url}/__sim/tokens/expire", timeout=10)
        threads = [threading.Thread(target=p.consultations, args=_window(1, 0)) for p in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert _stats(sim)["tokens_issued"] == {site["site_uid"]: 2}
        assert a.external_id("12") == "pims-appt-ezyvet-12" and a.source == "pims:ezyvet"


def test_the_limiter_keeps_two_workers_under_the_sites_limits(rds):
    forget_lookups()
    prefix = f"t:{secrets.token_hex(4)}:"
    # 4 calls per endpoint and 6 per site every 2 s: a sync of ~10 calls must wait for tokens
    with EzyvetSimulator(seed=12, sites=1, appointments_per_day=4, per_endpoint=4, per_site=6, per_s=2) as sim:
        site = sim.sites[0]
        rate = RateLimit(per_endpoint=4, per_site=6, per_s=2)
        a, b = (_provider(sim, site, rds, prefix=prefix, rate=rate, tz="America/New_York") for _ in range(2))
        out: list = []
        threads = [threading.Thread(target=lambda p=p: out.append(p.appointments(*_window(2, 2)))) for p in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(out) == 2 and out[0] and [x.id for x in out[0]] == [x.id for x in out[1]]
        assert _stats(sim)["rate_limited"] == 0
        waited = a.limiter.waited_s + b.limiter.waited_s
        assert waited > 0.3
        warnings = a.warnings + b.warnings
        assert any("rate limiter" in w for w in warnings)
        assert any("clinics.timezone is America/New_York" in w and site["timezone"] in w for w in warnings)


def test_refusals_and_errors_name_the_call_never_the_data(rds):
    forget_lookups()
    prefix = f"t:{secrets.token_hex(4)}:"
    with EzyvetSimulator(seed=13, sites=2, appointments_per_day=3) as sim:
        site, other = sim.sites
        wrong = _provider(sim, site, rds, prefix=prefix, client_secret="not-the-secret")
        with pytest.raises(AuthenticationFailed) as refused:
            wrong.appointments(*_window(1, 1))
        assert refused.value.reason == "invalid_credentials" and "not-the-secret" not in str(refused.value)
        assert _stats(sim)["tokens_issued"] == {}

        p = _provider(sim, site, rds, prefix=prefix)
        # a 5xx is retried; the call then succeeds
        requests.post(f"{sim.url}/__sim/faults", json={"path": "/v2/appointment", "status": 503, "count": 1}, timeout=10)
        assert p.appointments(*_window(1, 1))
        # an error envelope becomes PimsProtocolError with ezyVet's type and text, no record data
        requests.post(f"{sim.url}/__sim/faults", timeout=10, json={
            "path": "/v2/appointment", "status": 422, "type": "ValidationException", "text": "start_at is invalid"})
        with pytest.raises(PimsProtocolError) as bad:
            p.appointments(*_window(1, 1))
        message = str(bad.value)
        assert "ValidationException: start_at is invalid" in message and "/v2/appointment" in message
        names = {r["name"] for r in sim.state.sites[0].tables["/v1/animal"]}
        assert not any(n in message for n in names)
        # an expired trial site answers 404: named as such
        q = _provider(sim, other, rds, prefix=prefix)
        requests.post(f"{sim.url}/__sim/sites/2/expire", timeout=10)
        with pytest.raises(PimsProtocolError) as gone:
            q.appointments(*_window(1, 1))
        assert "404" in str(gone.value)
