"""The demo's ezyVet clinic: the ezyVet simulator's first site becomes a clinic beside the IDEXX ones.

The same rows an operator would create: `clinics add --pims-provider ezyvet --pims-host <simulator>`,
`credentials set` (the provider's four fields, sealed into pims_sync_provider_credentials), a fresh
`keys create` key and the demo's schedules. The workers may send its client secret to the
simulator because the demo lists the simulator in IDEXX_EXTRA_HOSTS (the one allow-list of hosts
credentials may go to), exactly as an operator would.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import requests

from ..apikeys import generate_api_key
from ..crypto import CredentialCipher
from ..errors import NotFound, PimsSyncError
from ..providers.registry import provider_spec
from ..store import seal
from ..store.base import Store
from .demo_seed import DEFAULT_EVERY_MINUTES, DEMO_KEY_NAME, DemoClinic, demo_schedules

PROVIDER = "ezyvet"
SEED = 7  # the simulator's world: the same site, credentials and records on every run


def simulator_argv(port: int, *, days_ahead: int) -> list[str]:
    """One site, seeded, quiet: ``python -m pims_sync.ezyvet_simulator``."""
    return [sys.executable, "-m", "pims_sync.ezyvet_simulator", "--port", str(port), "--seed", str(SEED),
            "--sites", "1", "--days-ahead", str(max(7, days_ahead)), "--days-back", "7", "--quiet"]


def simulator_site(sim_url: str, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """The simulator's first site with its credentials (GET /__sim/sites: it is a simulator)."""
    resp = requests.get(f"{sim_url}/__sim/sites", timeout=timeout_s)
    resp.raise_for_status()
    sites = resp.json().get("sites")
    if not isinstance(sites, list) or not sites or not isinstance(sites[0], dict):
        raise PimsSyncError(f"the ezyVet simulator at {sim_url} listed no sites")
    return sites[0]


def demo_clinic_id(site: dict[str, Any]) -> str:
    """Stable across reruns (the site uid comes from the seed), so a kept data folder keeps its cases."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pims-sync-demo/ezyvet/{site['site_uid']}"))


def seed_ezyvet_clinic(store: Store, cipher: CredentialCipher, site: dict[str, Any], *, sim_url: str,
                       every_minutes: int = DEFAULT_EVERY_MINUTES) -> DemoClinic:
    spec = provider_spec(PROVIDER)
    clinic_id = demo_clinic_id(site)
    try:
        clinic = store.get_clinic(clinic_id)
        if clinic.pims_host != sim_url or clinic.pims_provider != PROVIDER:  # the simulator's port changes
            clinic = store.update_clinic(clinic.id, pims_host=sim_url, pims_provider=PROVIDER)
    except NotFound:
        clinic = store.create_clinic(name=str(site["name"]), timezone=str(site["timezone"]), pims_provider=PROVIDER,
                                     pims_host=sim_url, clinic_id=clinic_id)
    fields = {name: str(site[name]) for name in spec.field_names}
    store.save_provider_credentials(seal(cipher, clinic_id=clinic.id, provider=PROVIDER, fields=fields,
                                         required=spec.field_names))
    # one live demo key per clinic, as for the IDEXX clinics (demo_seed.seed_clinic)
    for record in store.list_api_keys(clinic.id):
        if record.name == DEMO_KEY_NAME and record.is_active:
            store.revoke_api_key(record.id, clinic_id=clinic.id)
    key = generate_api_key(env="demo")
    store.create_api_key(clinic_id=clinic.id, name=DEMO_KEY_NAME, key_prefix=key.key_prefix, key_hash=key.key_hash,
                         permissions=None)
    store.set_schedule_config(clinic.id, demo_schedules(every_minutes))
    return DemoClinic(id=clinic.id, name=clinic.name, timezone=clinic.timezone, key_prefix=key.key_prefix,
                      api_key=key.key)


def extra_hosts(current: str | None, sim_url: str) -> str:
    """IDEXX_EXTRA_HOSTS with the simulator added to whatever the operator listed."""
    listed = [h.strip() for h in (current or "").split(",") if h.strip()]
    return ",".join(dict.fromkeys([*listed, sim_url]))
