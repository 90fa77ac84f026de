"""The freshness counts behind the "no successful sync in N hours" alert, on the real database."""

from __future__ import annotations

import secrets

import psycopg


def test_active_clinics_are_counted_by_the_age_of_their_last_success(store, database_url):
    before = store.clinics_by_success_age()
    never = store.create_clinic(name=f"F never {secrets.token_hex(2)}", timezone="America/New_York")
    stale = store.create_clinic(name=f"F stale {secrets.token_hex(2)}", timezone="America/New_York")
    store.create_clinic(name=f"F off {secrets.token_hex(2)}", timezone="America/New_York", is_active=False)
    old = store.create_audit(clinic_id=stale.id, sync_type="inbound", trigger="api")
    store.start_audit(old.id)
    store.finish_audit(old.id, status="completed")
    failed_now = store.create_audit(clinic_id=stale.id, sync_type="inbound", trigger="api")
    store.start_audit(failed_now.id)
    store.finish_audit(failed_now.id, status="failed", error="x")  # a failure does not make it fresh
    with psycopg.connect(database_url) as conn:
        conn.execute("update pims_sync_runs set finished_at = now() - interval '7 hours' where id = %s", (old.id,))
    after = store.clinics_by_success_age()
    delta = {k: after[k] - before[k] for k in after}
    assert delta == {"1h": 1, "6h": 1, "24h": 0, "never": 1}, delta
    assert never.id not in str(after)
