"""The take-over, end to end: the product's database, `db migrate`, an old key bound, a full sync.

As an operator of the TypeScript service would do it: build a database shaped like the
product's (tests/fixtures/product_db.py: ENUM statuses, product columns, duplicates, keys whose
clinic_id column the product's later migration dropped), run `pims-sync db migrate`, set the
clinic's owner user, bind the old key, and run a full sync through the API with a real worker
against the simulator. The existing cases must be updated in place (no new rows for them),
the product's columns untouched, every status in the product's vocabulary, and an appointment
that vanished upstream marked the product's way (reviewed, metadata.reconciliation).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.app import create_app, redis_for_api
from api.auth import KEY_CACHE_S, KEY_VERSION_CHECK_S
from pims_sync.cli.main import cli
from pims_sync.models import CASE_SOURCE_IDEXX, CASE_STATUSES, case_status_for, external_id_for
from pims_sync.store.postgres import PostgresStore
from tests.fixtures.db import create_database, drop_database
from tests.fixtures.product_db import ROLES, build_product_database
from tests.fixtures.workers import TEST_ENCRYPTION_KEY, WorkerCluster

pytestmark = pytest.mark.slow

VANISHED_APPOINTMENT = "77777777777"  # no such appointment upstream
PRODUCT_COLUMNS = ("user_id", "visibility", "is_urgent", "is_starred", "cadence_next_due_at", "cadence_count",
                   "notes", "created_at")


@pytest.fixture
def product_url():
    url = create_database("pims_test_adopt_e2e")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def cluster(product_url, worker_redis, worker_redis_url, simulator, tmp_path):
    """Workers pointed at the adopted database (not the session's)."""
    workers = WorkerCluster(database_url=product_url, redis_url=worker_redis_url, simulator_url=simulator.url,
                            log_dir=tmp_path)
    try:
        yield workers
    finally:
        workers.stop_all()


def _cli(url: str, *args: str, redis_url: str | None = None):
    # the operator's CLI shares the API's Redis: `keys bind` announces the change there, so every
    # API process drops its cached key at once (api/auth.py KeyCache)
    env = {"DATABASE_URL": url, "IDEXX_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY, "APP_ENV": "test",
           "SUPABASE_URL": None, "REDIS_URL": redis_url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _appointments_today(simulator, sim_clinic: dict, today: date) -> list[str]:
    events = simulator.truth(sim_clinic["id"], today.isoformat(), today.isoformat())["events"]
    return [str(e["appointment_id"]) for e in events
            if not e.get("is_block") and not e.get("is_roster") and e.get("stage")]


def _rows(url: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def _case(url: str, case_id: str) -> dict:
    [row] = _rows(url, "select *, status::text as status_text from cases where id = %s", case_id)
    return row


def test_a_full_sync_on_the_adopted_product_database(product_url, cluster, simulator):
    sim = simulator.clinic(0)
    simulator.set_appointments_per_day(sim["id"], 8)
    today = simulator.day(0, sim)
    appointments = _appointments_today(simulator, sim, today)
    assert len(appointments) >= len(ROLES), appointments
    creds = cluster.cipher.encrypt_credentials(sim["username"], sim["password"], sim["company_id"],
                                               clinic_id=str(uuid.uuid4()))
    fx = build_product_database(
        product_url, keys_without_clinic_column=True, appointment_ids=appointments[:len(ROLES)], day=today,
        credentials=(creds.username_encrypted, creds.password_encrypted, creds.company_id_encrypted),
    )
    zone = ZoneInfo(sim["timezone"])
    vanished = str(uuid.uuid4())
    with psycopg.connect(product_url, autocommit=True) as conn:
        # the clinic is the simulator's (its wall clock), and one case's appointment is gone upstream
        conn.execute("update clinics set timezone = %s where id = %s", (sim["timezone"], fx.clinic_id))
        conn.execute(
            """insert into cases (id, clinic_id, user_id, external_id, source, status, type, scheduled_at, metadata,
                                  visibility, is_urgent, notes)
               values (%s, %s, %s, %s, %s, 'draft', 'checkup', %s, %s, 'clinic', true, 'vanished one')""",
            (vanished, fx.clinic_id, fx.owner_user_id, external_id_for(VANISHED_APPOINTMENT), CASE_SOURCE_IDEXX,
             datetime.combine(today, time(12), zone), Jsonb({"productFlags": {"pinned": True}})),
        )
    other_clinic_case_before = _case(product_url, fx.other_clinic_case_id)
    cluster.configure(SYNC_TIMEOUT_MS="180000")  # a busy CI machine: the wait must not run out first

    # --- the operator's steps --------------------------------------------------------------
    migrated = _cli(product_url, "db", "migrate")
    assert migrated.exit_code == 0, migrated.output
    shown = _cli(product_url, "clinics", "show", fx.clinic_id, "--json")
    assert shown.exit_code == 0, shown.output
    # a clinic that existed before the take-over stays the legacy service's until the cut-over
    assert json.loads(shown.output)["syncOwner"] == "legacy" and json.loads(shown.output)["synced"] is False

    store = PostgresStore(product_url, min_size=1, max_size=4)
    client_redis = redis_for_api(cluster.redis_url)
    app = create_app(cluster.settings, store=store, celery_app=cluster.app, redis_client=client_redis)
    try:
        client = app.test_client()
        old_key = {"X-API-Key": fx.keys["shared"].key}
        refused = client.post("/api/sync/full", headers=old_key, json={"clinicId": fx.clinic_id})
        assert refused.status_code == 403 and "keys bind" in refused.get_json()["error"]["message"]

        bound = _cli(product_url, "keys", "bind", fx.keys["shared"].id, "--clinic", fx.clinic_id,
                     redis_url=cluster.redis_url)
        assert bound.exit_code == 0, bound.output
        # each API process reads the key version at most every KEY_VERSION_CHECK_S: the bind
        # reaches this one within that (tests/api/test_auth_cache.py measures the bound)
        deadline = monotonic() + 10 * KEY_VERSION_CHECK_S + KEY_CACHE_S
        while (not_yet := client.post("/api/sync/full", headers=old_key)).status_code == 403:
            assert monotonic() < deadline, not_yet.get_json()
            sleep(0.05)
        assert not_yet.status_code == 409 and not_yet.get_json()["error"]["details"]["flag"] == "sync_owner"

        cut_over = _cli(product_url, "clinics", "set", fx.clinic_id, "--sync-owner", "pims-sync",
                        "--owner-user", fx.owner_user_id, "--json")
        assert cut_over.exit_code == 0, cut_over.output
        assert json.loads(cut_over.output)["synced"] is True

        before = {role: _case(product_url, cid) for role, cid in fx.cases.items()}
        before["vanished"] = _case(product_url, vanished)
        count_before = _rows(product_url, "select count(*) as n from cases where clinic_id = %s", fx.clinic_id)[0]["n"]
        started = _rows(product_url, "select now() as t")[0]["t"]

        cluster.start("adopt-e2e")
        resp = client.post("/api/sync/full?wait=170", headers=old_key, json={"daysAhead": 1, "lookbackDays": 1})
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["success"] is True and body["inboundResult"]["stats"]["appointmentsFound"] >= len(ROLES)
        sync_id = body["syncId"]
    finally:
        app.extensions["pims_sync"].close()
        client_redis.close()
        store.close()

    # --- the existing cases were updated, not duplicated --------------------------------------
    for role, case_id in fx.cases.items():
        ext = fx.external_id(role)
        same = _rows(product_url, "select id::text from cases where clinic_id = %s and source = %s and external_id = %s",
                     fx.clinic_id, CASE_SOURCE_IDEXX, ext)
        assert [r["id"] for r in same] == [case_id], (role, same)
    created = body["inboundResult"]["stats"]["casesCreated"]
    count_after = _rows(product_url, "select count(*) as n from cases where clinic_id = %s", fx.clinic_id)[0]["n"]
    assert count_after == count_before + created
    assert created == body["inboundResult"]["stats"]["appointmentsFound"] - len(ROLES), body["inboundResult"]

    # --- the product's columns are the product's ---------------------------------------------
    for role, row in before.items():
        now = _case(product_url, fx.cases.get(role, vanished))
        assert {c: now[c] for c in PRODUCT_COLUMNS} == {c: row[c] for c in PRODUCT_COLUMNS}, role
    draft = _case(product_url, fx.cases["draft"])
    assert draft["metadata"]["productFlags"] == {"reminderSent": True}, "product metadata keys are kept"
    assert draft["metadata"]["pimsAppointment"]["id"] == fx.appointment_ids["draft"]
    assert _case(product_url, fx.cases["human_completed"])["metadata"]["dischargeSummary"] == "stable"
    other_now = _case(product_url, fx.other_clinic_case_id)
    assert {k: other_now[k] for k in other_clinic_case_before} == other_clinic_case_before, "another clinic's row"

    # --- statuses in the product's vocabulary; a human's change wins ----------------------------
    [column] = _rows(product_url, "select atttypid::regtype::text as t from pg_attribute "
                                  "where attrelid = 'cases'::regclass and attname = 'status'")
    assert column["t"] == "case_status_enum", "the product's status column is not rewritten"
    statuses = {r["s"] for r in _rows(product_url, "select distinct status::text as s from cases")}
    assert statuses <= set(CASE_STATUSES), statuses
    assert draft["pims_status"] and draft["status_text"] == case_status_for(draft["pims_status"])
    human = _case(product_url, fx.cases["human_completed"])
    assert human["status_text"] == "completed" and human["pims_status"], "a human's completed stays completed"
    new_cases = _rows(product_url, "select status::text as status, pims_status, user_id::text as user_id from cases "
                                   "where clinic_id = %s and created_at > %s", fx.clinic_id, started)
    assert len(new_cases) == created
    for row in new_cases:
        assert row["status"] == case_status_for(row["pims_status"]) and row["user_id"] == fx.owner_user_id

    # --- the vanished appointment, marked the product's way -------------------------------------
    gone = _case(product_url, vanished)
    assert gone["deleted_at"] is not None and gone["status_text"] == "reviewed"
    assert isinstance(gone["metadata"].get("reconciliation"), dict) and gone["metadata"]["reconciliation"]
    assert gone["metadata"]["productFlags"] == {"pinned": True}
    assert body["reconciliationResult"]["stats"]["casesDeleted"] == 1

    # --- the product's audit screen saw the phases in its own words, not the full-sync parent ---
    mirrored = _rows(product_url, "select id::text, sync_type, status from case_sync_audits where clinic_id = %s "
                                  "and created_at > %s order by created_at", fx.clinic_id, started)
    assert sorted(r["sync_type"] for r in mirrored) == ["cases", "inbound", "reconciliation"], mirrored
    assert {r["status"] for r in mirrored} == {"completed"}
    assert sync_id not in {r["id"] for r in mirrored}
    old_audits = _rows(product_url, "select id::text from case_sync_audits where id = any(%s::uuid[])",
                       list(fx.audit_ids))
    assert len(old_audits) == len(fx.audit_ids)
