"""An ezyVet clinic and an IDEXX clinic, synced side by side through the API by the same worker.

Real processes: the API under gunicorn, one Celery worker (default queues sync,api,default),
the IDEXX simulator (Chromium logins) and the ezyVet simulator over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import secrets

import pytest
import requests

from pims_sync.apikeys import generate_api_key
from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.store._provider_credentials import seal
from tests.fixtures.api_process import API_ARGV, api_process, free_port

from .helpers import clinic_from_sim, enqueue, wait_done, wait_until

pytestmark = pytest.mark.slow  # real worker and API processes

EZY_FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")


def _key(store, clinic_id: str) -> str:
    generated = generate_api_key(env="test")
    store.create_api_key(clinic_id=clinic_id, name="two providers", key_prefix=generated.key_prefix,
                         key_hash=generated.key_hash)
    return generated.key


def test_an_ezyvet_and_an_idexx_clinic_sync_side_by_side(workers, simulator, store, worker_redis, tmp_path):
    with EzyvetSimulator(seed=21, sites=1, appointments_per_day=5) as ezy:
        site = ezy.sites[0]
        ezy_clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone=site["timezone"],
                                         pims_provider="ezyvet", pims_host=ezy.url)
        store.save_provider_credentials(seal(workers.cipher, clinic_id=ezy_clinic.id, provider="ezyvet",
                                             fields={k: site[k] for k in EZY_FIELDS}, required=EZY_FIELDS))
        sim_clinic = simulator.clinic(0)
        simulator.set_appointments_per_day(sim_clinic["id"], 3)
        idexx_clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
        keys = {ezy_clinic.id: _key(store, ezy_clinic.id), idexx_clinic.id: _key(store, idexx_clinic.id)}
        workers.configure(IDEXX_EXTRA_HOSTS=ezy.url)  # the operator allows the simulator's host

        port = free_port()
        argv = (*API_ARGV, "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "2")
        with api_process(workers.environment(), port=port, log_path=tmp_path / "api.log", argv=argv) as base:
            syncs = {}
            for clinic_id, key in keys.items():
                resp = requests.post(f"{base}/api/sync/full", headers={"X-API-Key": key},
                                     json={"daysAhead": 1, "lookbackDays": 1}, timeout=30)
                assert resp.status_code == 202, resp.text
                syncs[clinic_id] = resp.json()["syncId"]
            # routed by provider before any worker runs: ezyVet on `api`, IDEXX on `sync`
            assert worker_redis.llen("api") == 1 and worker_redis.llen("sync") == 1

            workers.start("both", concurrency=2)

            def finished(clinic_id: str) -> dict | None:
                body = requests.get(f"{base}/api/sync/{syncs[clinic_id]}", headers={"X-API-Key": keys[clinic_id]},
                                    timeout=30).json()
                return body if body["status"] not in ("queued", "in_progress") else None

            ezy_status = wait_until(lambda: finished(ezy_clinic.id), 90, "the ezyVet sync to end")
            idexx_status = wait_until(lambda: finished(idexx_clinic.id), 120, "the IDEXX sync to end")

        assert ezy_status["status"] == "completed", ezy_status
        assert idexx_status["status"] == "completed", idexx_status
        ezy_cases = store.list_cases(ezy_clinic.id, include_deleted=True)
        assert ezy_cases and {c["source"] for c in ezy_cases} == {"pims:ezyvet"}
        assert all(c["external_id"].startswith("pims-appt-ezyvet-") for c in ezy_cases)
        assert ezy_status["result"]["inboundResult"]["stats"]["casesCreated"] == len(ezy_cases)
        assert ezy_status["result"]["casesResult"]["stats"]["casesEnriched"] > 0  # consults read
        idexx_cases = store.list_cases(idexx_clinic.id, include_deleted=True)
        assert idexx_cases and {c["source"] for c in idexx_cases} == {"pims:idexx-neo"}
        # three phases, possibly in different worker processes: one token for the site, no 429
        stats = requests.get(f"{ezy.url}/__sim/stats", timeout=10).json()
        assert stats["tokens_issued"] == {site["site_uid"]: 1} and stats["rate_limited"] == 0
        # the token in Redis is ciphertext; the secret is nowhere in the worker's log
        blob = worker_redis.get(f"pims:api-token:{site['site_uid']}")
        assert blob and b"access_token" not in blob
        assert site["client_secret"] not in workers.workers[0].log()


def test_a_worker_without_playwright_serves_ezyvet_and_leaves_idexx_queued(workers, simulator, store, worker_redis,
                                                                           tmp_path):
    # "no Playwright installed": a package of that name that cannot be imported shadows the real one
    fake = tmp_path / "no_playwright" / "playwright"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('Playwright is not installed on this worker')\n")
    with EzyvetSimulator(seed=22, sites=1, appointments_per_day=3) as ezy:
        site = ezy.sites[0]
        ezy_clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone=site["timezone"],
                                         pims_provider="ezyvet", pims_host=ezy.url)
        store.save_provider_credentials(seal(workers.cipher, clinic_id=ezy_clinic.id, provider="ezyvet",
                                             fields={k: site[k] for k in EZY_FIELDS}, required=EZY_FIELDS))
        idexx_clinic = clinic_from_sim(store, workers.cipher, simulator.clinic(1))
        workers.configure(IDEXX_EXTRA_HOSTS=ezy.url)
        env = workers.environment()
        workers.start("api-only", queues="api", env={"PYTHONPATH": f"{fake.parent}:{env['PYTHONPATH']}"})
        idexx = enqueue(workers, store, idexx_clinic.id)
        ezy_sync = enqueue(workers, store, ezy_clinic.id)
        status = wait_done(store, ezy_sync.sync_id, ezy_clinic.id)
        assert status["status"] == "completed", status
        assert store.list_cases(ezy_clinic.id)
        # the IDEXX sync waits for a worker with a browser; it was never taken
        assert worker_redis.llen("sync") == 1
        assert store.get_audit(idexx.sync_id).status == "queued"
