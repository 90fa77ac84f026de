"""docs/IDEXX_API_ENDPOINTS.md names everything the simulator serves: endpoints, faults, statuses."""

from __future__ import annotations

from pathlib import Path

from pims_sync.simulator.data import CANONICAL_STATUS_SPELLINGS, World
from pims_sync.simulator.faults import ENDPOINTS, KINDS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "IDEXX_API_ENDPOINTS.md").read_text(encoding="utf-8")


def test_every_endpoint_and_fault_kind_is_documented():
    for name, path in ENDPOINTS.items():
        assert f"`{name}`" in DOC, name
        assert path.split("<")[0].rstrip("/") in DOC, path
    for kind, params in KINDS.items():
        assert f"`{kind}`" in DOC, kind
        for param in params:
            assert f"`{param}`" in DOC, (kind, param)


def test_every_status_spelling_is_documented():
    for spellings in CANONICAL_STATUS_SPELLINGS.values():
        for spelling in spellings:
            assert f"`{spelling}`" in DOC, spelling


def test_documented_time_zones_are_the_ones_served():
    zones = [c.timezone for c in World(seed=1, clinics=6).clinics]
    for zone in zones:
        assert zone in DOC
    assert zones[:4] == ["America/New_York", "America/Los_Angeles", "Australia/Sydney", "Europe/London"]


def test_clinic_repr_hides_credentials():
    clinic = World(seed=1, clinics=1).clinics[0]
    text = repr(clinic)
    assert clinic.company_id not in text
    assert all(user.password not in text for user in clinic.users)
    assert all(user.password not in repr(user) for user in clinic.users)
