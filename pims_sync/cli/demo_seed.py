"""Seeding the demo: the simulator's clinics become real clinics with encrypted credentials,
a fresh API key each and sync schedules — the same rows an operator would create with
`pims-sync credentials set`, `keys create` and `schedules set`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from ..apikeys import generate_api_key
from ..crypto import CredentialCipher
from ..errors import NotFound, PimsSyncError
from ..store.base import Store

DEMO_KEY_NAME = "demo"
# spread out so beat has work to show without colliding with the demo's own first sync
DEMO_SCHEDULES = [
    {"type": "inbound", "cron": "*/30 * * * *", "enabled": True},
    {"type": "cases", "cron": "15 * * * *", "enabled": True},
    {"type": "reconciliation", "cron": "0 6 * * *", "enabled": True},
]


@dataclass(frozen=True)
class DemoClinic:
    id: str
    name: str
    timezone: str
    key_prefix: str
    api_key: str = field(repr=False)


def simulator_clinics(sim_url: str, *, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """The simulator's demo accounts (its own fake credentials) from GET /__sim/clinics."""
    resp = requests.get(f"{sim_url}/__sim/clinics", timeout=timeout_s)
    resp.raise_for_status()
    body = resp.json()
    clinics = body.get("clinics", body) if isinstance(body, dict) else body
    if not isinstance(clinics, list) or not clinics:
        raise PimsSyncError(f"the simulator at {sim_url} listed no clinics")
    return clinics


def _field(clinic: dict[str, Any], *names: str) -> str:
    for name in names:
        if clinic.get(name) not in (None, ""):
            return str(clinic[name])
    raise PimsSyncError(f"simulator clinic entry lacks {names[0]!r}")


def demo_clinic_id(sim_clinic: dict[str, Any]) -> str:
    """Stable across reruns, so a kept data folder keeps its clinics and cases."""
    company = _field(sim_clinic, "company_id", "companyId")
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pims-sync-demo/{company}"))


def seed_clinic(store: Store, cipher: CredentialCipher, sim_clinic: dict[str, Any]) -> DemoClinic:
    clinic_id = demo_clinic_id(sim_clinic)
    name = _field(sim_clinic, "name")
    timezone = _field(sim_clinic, "timezone")
    try:
        clinic = store.get_clinic(clinic_id)
    except NotFound:
        clinic = store.create_clinic(name=name, timezone=timezone, pims_provider="idexx", clinic_id=clinic_id)
    store.save_credentials(
        cipher.encrypt_credentials(
            _field(sim_clinic, "username"),
            _field(sim_clinic, "password"),
            _field(sim_clinic, "company_id", "companyId"),
            clinic_id=clinic.id,
        )
    )
    # one live demo key per clinic: earlier runs' keys are revoked (their plaintext is gone anyway)
    for record in store.list_api_keys(clinic.id):
        if record.name == DEMO_KEY_NAME and record.is_active:
            store.revoke_api_key(record.id, clinic_id=clinic.id)
    key = generate_api_key(env="demo")
    store.create_api_key(
        clinic_id=clinic.id, name=DEMO_KEY_NAME, key_prefix=key.key_prefix, key_hash=key.key_hash, permissions=None
    )
    store.set_schedule_config(clinic.id, DEMO_SCHEDULES)
    return DemoClinic(id=clinic.id, name=clinic.name, timezone=clinic.timezone, key_prefix=key.key_prefix, api_key=key.key)


def seed_all(store: Store, cipher: CredentialCipher, sim_clinics: list[dict[str, Any]]) -> list[DemoClinic]:
    return [seed_clinic(store, cipher, c) for c in sim_clinics]
