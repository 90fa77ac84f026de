"""Incremental inbound for ezyVet: the watermark in pims_sync_provider_state, over real HTTP and Postgres.

Each run builds a new provider, as a new worker task would; the simulator's request log shows
what every run asked /v2/appointment for.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from pims_sync.crypto import CredentialCipher
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.models import Clinic
from pims_sync.providers.ezyvet.limiter import RedisRateLimiter
from pims_sync.providers.ezyvet.provider import MODIFIED_OVERLAP_S, EzyvetProvider, forget_lookups
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import PhaseRunner, create_sync_audits, run_full_sync
from workers.session_cache import RedisSessionCache

FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")


@pytest.fixture
def rds(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def sim():
    forget_lookups()
    with EzyvetSimulator(seed=41, sites=1, appointments_per_day=8, days_back=3, days_ahead=6) as s:
        yield s


def _provider(sim, rds, clinic: Clinic, prefix: str) -> EzyvetProvider:
    site = sim.sites[0]
    cache = RedisSessionCache(rds, CredentialCipher(secret_for=lambda key_id: "ezy-incr"), ttl_s=3600, prefix=prefix)
    return EzyvetProvider(clinic=clinic, credentials_loader=lambda: {k: site[k] for k in FIELDS}, base_url=sim.url,
                          token_cache=cache, token_lock=cache.login_lock, limiter=RedisRateLimiter(rds),
                          client_options={"backoff_s": 0.01, "max_attempts": 2})


def _phase(store, provider, clinic: Clinic, phase: str, options: SyncOptions):
    audits = create_sync_audits(store, clinic_id=clinic.id, sync_type=phase, trigger="cli")
    (audit_id,) = audits.phases.values()
    result = PhaseRunner(store, provider, clinic).run(phase, options, audit_id=audit_id)
    return result, store.get_audit(audit_id)


def _appointment_calls(sim) -> list[dict]:
    calls = requests.get(f"{sim.url}/__sim/requests", timeout=10).json()["requests"]
    requests.post(f"{sim.url}/__sim/reset", timeout=10)  # the next run's calls only
    return [c["params"] for c in calls if c["endpoint"] == "/v2/appointment"]


def _case(store, clinic: Clinic, appointment_id: int) -> dict:
    return next(c for c in store.list_cases(clinic.id) if c["external_id"] == f"pims-appt-ezyvet-{appointment_id}")


def test_later_inbound_runs_read_only_what_changed(sim, store, rds):
    site = sim.sites[0]
    clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone=site["timezone"],
                                 pims_provider="ezyvet", pims_host=sim.url)
    prefix = f"t:{secrets.token_hex(4)}:"
    options = SyncOptions(days_ahead=3)
    assert store.get_provider_state(clinic.id, "ezyvet") is None

    # first run: the whole window, no modified_at
    before = datetime.now(UTC)
    first, audit = _phase(store, _provider(sim, rds, clinic, prefix), clinic, "inbound", options)
    assert first.status == "completed", first.error
    calls = _appointment_calls(sim)
    assert calls and all("modified_at" not in c and "start_at" in c for c in calls)
    created = audit.stats["casesCreated"]
    assert created > 5 and audit.stats["appointmentsFound"] == created and "modifiedSince" not in audit.stats
    state = store.get_provider_state(clinic.id, "ezyvet")
    assert before - timedelta(seconds=1) <= state.modified_since <= datetime.now(UTC)
    assert state.site_timezone == site["timezone"] and state.site_checked_at is not None
    window = options.inbound_window(clinic.timezone, now=datetime.now(UTC))
    assert (state.covered_start, state.covered_end) == (window.start_utc, window.end_utc)

    # a receptionist completes one appointment in the window
    table = sim.state.sites[0].tables["/v2/appointment"]
    changed = next(r for r in table if r["animal_id"] is not None and r["status_id"] != 5
                   and window.start_utc.timestamp() <= r["start_at"] < window.end_utc.timestamp())
    assert _case(store, clinic, changed["id"])["pims_status"] != "completed"
    answer = requests.post(f"{sim.url}/__sim/sites/1/appointments/{changed['id']}", timeout=10,
                           json={"status_id": 5, "description": "Recheck booked"})
    assert answer.status_code == 200

    # second run, a new provider (another worker): only what changed since the first run's start
    second, audit = _phase(store, _provider(sim, rds, clinic, prefix), clinic, "inbound", options)
    assert second.status == "completed", second.error
    (call,) = _appointment_calls(sim)
    asked = int(state.modified_since.timestamp()) - MODIFIED_OVERLAP_S
    assert call["modified_at"] == f'{{"gt":{asked}}}'
    assert audit.stats["appointmentsFound"] == 1 and audit.stats["casesUpdated"] == 1
    assert audit.stats["casesCreated"] == 0 and audit.stats["modifiedSince"] == state.modified_since.isoformat()
    case = _case(store, clinic, changed["id"])
    assert case["pims_status"] == "completed" and case["metadata"]["pimsAppointment"]["title"] == "Recheck booked"
    assert len(store.list_cases(clinic.id)) == created
    moved = store.get_provider_state(clinic.id, "ezyvet")
    assert moved.modified_since > state.modified_since

    # a failed run leaves the watermark where it was: the next run reads those changes again
    requests.post(f"{sim.url}/__sim/faults", json={"path": "/v2/appointment", "status": 503, "count": 2}, timeout=10)
    failed, _ = _phase(store, _provider(sim, rds, clinic, prefix), clinic, "inbound", options)
    assert failed.status == "failed"
    assert store.get_provider_state(clinic.id, "ezyvet") == moved

    # reconciliation keeps its full-window fetch, and a wider inbound window is read in full
    _appointment_calls(sim)
    reconciled, _ = _phase(store, _provider(sim, rds, clinic, prefix), clinic, "reconcile", options)
    assert reconciled.status == "completed", reconciled.error
    wider, audit = _phase(store, _provider(sim, rds, clinic, prefix), clinic, "inbound", SyncOptions(days_ahead=5))
    assert wider.status == "completed", wider.error
    calls = _appointment_calls(sim)
    assert calls and all("modified_at" not in c for c in calls)
    assert audit.stats["appointmentsFound"] > 1 and "modifiedSince" not in audit.stats
    assert store.get_provider_state(clinic.id, "ezyvet").covered_end > moved.covered_end


def test_a_full_sync_in_one_process_reads_in_full_and_keeps_the_watermark(sim, store, rds):
    site = sim.sites[0]
    clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone=site["timezone"],
                                 pims_provider="ezyvet", pims_host=sim.url)
    prefix = f"t:{secrets.token_hex(4)}:"
    result = run_full_sync(store, _provider(sim, rds, clinic, prefix), clinic, SyncOptions(days_ahead=2))
    assert result["status"] == "completed", result
    # inbound and reconciliation shared one full fetch: nothing to base a watermark on
    assert all("modified_at" not in c for c in _appointment_calls(sim))
    assert store.get_provider_state(clinic.id, "ezyvet") is None
