"""Fixtures for running the sync phases against the simulator, a real store and Chromium."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from pims_sync.models import Credentials
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.providers.session import InMemorySessionCache
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import run_full_sync


class ClinicSync:
    """One simulated clinic wired to a fresh store clinic: run syncs, read cases, poke the PIMS."""

    def __init__(self, sim, sim_clinic: dict, store, browser, cache):
        self.sim, self.sim_clinic, self.store = sim, sim_clinic, store
        row = store.create_clinic(name=sim_clinic["name"], timezone=sim_clinic["timezone"])
        self.clinic = dataclasses.replace(row, phone_region=sim_clinic["phone_region"])
        self.logins_requested = 0
        self.provider = IdexxProvider(
            clinic=self.clinic,
            credentials_loader=self._credentials,
            base_url=sim.url,
            browser_source=lambda: browser,
            session_cache=cache,
            client_options={"sleep": lambda s: None},
        )

    def _credentials(self) -> Credentials:
        self.logins_requested += 1
        c = self.sim_clinic
        return Credentials(username=c["username"], password=c["password"], company_id=c["company_id"])

    @property
    def today(self) -> date:
        return date.fromisoformat(self.sim_clinic["today"])

    @property
    def now(self) -> datetime:
        """Midday of the simulator's "today" in the clinic's zone, as UTC."""
        local = datetime.combine(self.today, time(12), ZoneInfo(self.clinic.timezone))
        return local.astimezone(UTC)

    def run(self, sync_type: str = "full", **options) -> dict:
        return run_full_sync(
            self.store,
            self.provider,
            self.clinic,
            SyncOptions.from_dict(options),
            sync_type=sync_type,
            trigger="cli",
            now=self.now,
        )

    def cases(self, include_deleted: bool = False) -> dict[str, dict]:
        return {c["external_id"]: c for c in self.store.list_cases(self.clinic.id, include_deleted=include_deleted)}

    def truth(self, start: date, end: date) -> dict:
        return self.sim.truth(self.sim_clinic["id"], start.isoformat(), end.isoformat())

    def logins(self) -> int:
        return self.sim.stats()["logins"].get(self.sim_clinic["id"], 0)


@pytest.fixture
def make_clinic_sync(store, playwright_browser):
    made: list[ClinicSync] = []

    def make(sim, index: int = 0, *, cache=None) -> ClinicSync:
        cs = ClinicSync(sim, sim.clinic(index), store, playwright_browser, cache or InMemorySessionCache())
        made.append(cs)
        return cs

    yield make
    for cs in made:
        cs.provider.close()
