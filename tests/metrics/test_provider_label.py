"""Every series names a provider the way the registry does: a clinic row saying `idexx` (the
seed's default, an accepted alias) counts as `idexx-neo`, like that clinic's PIMS requests."""

from __future__ import annotations

import pytest

from pims_sync import metrics


def syncs_counted(provider: str) -> float:
    return metrics.SYNCS.labels(provider, "inbound", "completed")._value.get()


@pytest.mark.parametrize(("stored", "label"), [("idexx", "idexx-neo"), ("idexx-neo", "idexx-neo"),
                                               ("ezyvet", "ezyvet"), (None, "unknown")])
def test_a_sync_is_counted_under_the_registry_name(stored, label):
    before = {name: syncs_counted(name) for name in ("idexx", "idexx-neo", "ezyvet", "unknown")}
    metrics.observe_sync(provider=stored, sync_type="inbound", outcome="completed", duration_ms=1200)
    after = {name: syncs_counted(name) for name in before}
    assert after[label] == before[label] + 1
    assert all(after[name] == before[name] for name in before if name != label)
