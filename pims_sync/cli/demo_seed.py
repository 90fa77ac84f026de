"""Seeding the demo: the simulator's clinics become real clinics with encrypted credentials,
a fresh API key each and sync schedules — the same rows an operator would create with
`pims-sync credentials set`, `keys create` and `schedules set`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from ..apikeys import generate_api_key
from ..crypto import CredentialCipher
from ..errors import NotFound, PimsSyncError
from ..store.base import Store

DEMO_KEY_NAME = "demo"
DEFAULT_EVERY_MINUTES = 30
# spread out so beat has work to show without colliding with the demo's own first sync
DEMO_SCHEDULES = [
    {"type": "inbound", "cron": "*/30 * * * *", "enabled": True},
    {"type": "cases", "cron": "15 * * * *", "enabled": True},
    {"type": "reconciliation", "cron": "0 6 * * *", "enabled": True},
]
EVERY_HELP = "1m to 59m, or whole hours 1h to 24h (cron fires on the clinic's wall clock)"


def parse_every(text: str) -> int:
    """``30m`` / ``2h`` / ``45`` (minutes) -> minutes; only intervals a cron step can express."""
    raw = (text or "").strip().lower()
    unit = 60 if raw.endswith("h") else 1
    digits = raw[:-1] if raw[-1:] in ("m", "h") else raw
    if not digits.isdigit() or int(digits) == 0:
        raise ValueError(EVERY_HELP)
    minutes = int(digits) * unit
    if minutes < 60 or (minutes % 60 == 0 and minutes <= 24 * 60):
        return minutes
    raise ValueError(EVERY_HELP)


def every_cron(minutes: int) -> str:
    if minutes < 60:
        return f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
    hours = minutes // 60
    return "0 0 * * *" if hours == 24 else ("0 * * * *" if hours == 1 else f"0 */{hours} * * *")


def demo_schedules(every_minutes: int = DEFAULT_EVERY_MINUTES) -> list[dict[str, Any]]:
    """The demo's schedules: inbound every ``every_minutes``, cases hourly, reconciliation daily."""
    return [{**s, "cron": every_cron(every_minutes)} if s["type"] == "inbound" else dict(s) for s in DEMO_SCHEDULES]


def next_scheduled(clinics: list[DemoClinic], every_minutes: int, now: datetime) -> datetime | None:
    """When beat next fires the demo's interval schedule (inbound) for any of these clinics."""
    from ..schedules import next_fire

    cron = every_cron(every_minutes)
    return min((next_fire(cron, c.timezone, now) for c in clinics), default=None)


def format_every(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes >= 60 else f"{minutes}m"


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


def seed_clinic(store: Store, cipher: CredentialCipher, sim_clinic: dict[str, Any], *,
                every_minutes: int = DEFAULT_EVERY_MINUTES) -> DemoClinic:
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
    store.set_schedule_config(clinic.id, demo_schedules(every_minutes))
    return DemoClinic(id=clinic.id, name=clinic.name, timezone=clinic.timezone, key_prefix=key.key_prefix, api_key=key.key)


def seed_all(store: Store, cipher: CredentialCipher, sim_clinics: list[dict[str, Any]], *,
             every_minutes: int = DEFAULT_EVERY_MINUTES) -> list[DemoClinic]:
    return [seed_clinic(store, cipher, c, every_minutes=every_minutes) for c in sim_clinics]
