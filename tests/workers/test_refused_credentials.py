"""A login the PIMS refused is not retried by later syncs until an operator acts.

Real Chromium (the worker runtime's browser pool), the simulator, Postgres and Redis. A wrong
password fails the phase and marks the credentials; the next sync through the worker's runtime
refuses before any login is attempted; storing new credentials clears the mark.
"""

from __future__ import annotations

import pytest

from pims_sync.config import Settings
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import run_full_sync
from workers.runtime import WorkerRuntime

KEY = "refused-credentials-test-key-0123456789"


@pytest.fixture
def runtime(database_url, redis_url, simulator, chromium_path):
    settings = Settings.from_env({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_BASE_URL": simulator.url,
        "IDEXX_ENCRYPTION_KEY": KEY, "CHROMIUM_PATH": chromium_path, "APP_ENV": "test",
    })
    rt = WorkerRuntime(settings)
    yield rt
    rt.close()


def failed_logins(simulator, sim_clinic) -> int:
    return simulator.stats()["failed_logins"].get(sim_clinic["id"], 0)


def inbound(runtime, clinic) -> dict:
    provider = runtime.provider_for(clinic)
    try:
        return run_full_sync(runtime.store, provider, clinic, SyncOptions(days_ahead=1), sync_type="inbound")
    finally:
        provider.close()


def test_a_refused_login_is_remembered_and_not_tried_again_until_new_credentials(runtime, simulator, store):
    sim_clinic = simulator.clinic(0)
    clinic = store.create_clinic(name="Refused Login Clinic", timezone=sim_clinic["timezone"])
    wrong = runtime.cipher.encrypt_credentials(sim_clinic["username"], "not-the-password", sim_clinic["company_id"],
                                               clinic_id=clinic.id)
    store.save_credentials(wrong)

    first = inbound(runtime, clinic)
    assert first["success"] is False
    assert first["inboundResult"]["error"]["code"] == "authentication_failed"
    assert failed_logins(simulator, sim_clinic) == 1
    assert store.get_credentials(clinic.id, "idexx").validation_status == "invalid"

    second = inbound(runtime, clinic)
    assert second["success"] is False
    message = second["inboundResult"]["error"]["message"]
    assert "validation_status = 'invalid'" in message and "pims-sync credentials set" in message
    assert failed_logins(simulator, sim_clinic) == 1, "the refused credentials were tried again"
    assert "not-the-password" not in message

    right = runtime.cipher.encrypt_credentials(sim_clinic["username"], sim_clinic["password"],
                                               sim_clinic["company_id"], clinic_id=clinic.id)
    store.save_credentials(right)
    assert store.get_credentials(clinic.id, "idexx").validation_status is None

    third = inbound(runtime, clinic)
    assert third["success"] is True, third
