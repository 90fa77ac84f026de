"""Incremental ezyVet inbound on a real worker: a scheduled-style inbound sync after a first one asks
/v2/appointment only for what changed, and the change lands (real Celery worker, Redis, Postgres,
the ezyVet simulator over HTTP)."""

from __future__ import annotations

import secrets

import pytest
import requests

from pims_sync.ezyvet_simulator import EzyvetSimulator
from pims_sync.store._provider_credentials import seal

from .helpers import enqueue, wait_done

pytestmark = pytest.mark.slow  # a real worker process

EZY_FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")


def test_a_second_inbound_sync_on_a_worker_reads_only_the_change(workers, store):
    with EzyvetSimulator(seed=23, sites=1, appointments_per_day=6) as ezy:
        site = ezy.sites[0]
        clinic = store.create_clinic(name=f"Ezy {secrets.token_hex(2)}", timezone=site["timezone"],
                                     pims_provider="ezyvet", pims_host=ezy.url)
        store.save_provider_credentials(seal(workers.cipher, clinic_id=clinic.id, provider="ezyvet",
                                             fields={k: site[k] for k in EZY_FIELDS}, required=EZY_FIELDS))
        workers.configure(IDEXX_EXTRA_HOSTS=ezy.url)
        workers.start("api-only", queues="api")

        first = wait_done(store, enqueue(workers, store, clinic.id, "inbound", days_ahead=2).sync_id, clinic.id)
        assert first["status"] == "completed", first
        cases = {c["external_id"]: c for c in store.list_cases(clinic.id)}
        assert cases and store.get_provider_state(clinic.id, "ezyvet").site_timezone == site["timezone"]

        in_window = [r for r in ezy.state.sites[0].tables["/v2/appointment"]
                     if f"pims-appt-ezyvet-{r['id']}" in cases and r["status_id"] != 6]
        changed = in_window[0]
        requests.post(f"{ezy.url}/__sim/reset", timeout=10)  # the request log of the second sync only
        requests.post(f"{ezy.url}/__sim/sites/1/appointments/{changed['id']}", json={"status_id": 6}, timeout=10)

        second = wait_done(store, enqueue(workers, store, clinic.id, "inbound", days_ahead=2).sync_id, clinic.id)
        assert second["status"] == "completed", second
        log = requests.get(f"{ezy.url}/__sim/requests", timeout=10).json()["requests"]
        (asked,) = [c["params"] for c in log if c["endpoint"] == "/v2/appointment"]
        assert "modified_at" in asked and "start_at" in asked
        audit = store.get_audit(second["syncId"])
        assert audit.stats["appointmentsFound"] == 1 and audit.stats["casesUpdated"] == 1, audit.stats
        assert store.list_cases(clinic.id, include_deleted=True) and next(
            c for c in store.list_cases(clinic.id) if c["external_id"] == f"pims-appt-ezyvet-{changed['id']}"
        )["pims_status"] == "cancelled"
