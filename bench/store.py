"""PostgresStore.upsert_cases against a plain COPY of the same rows, and the no-op re-upsert.

    python -m bench.store [--rows 10000] [--runs 5] [--smoke]

Each run: a fresh clinic; upsert ``rows`` new cases through PostgresStore.upsert_cases (the
upsert_cases SQL function, in chunks); COPY the same rows into a scratch table built
``like cases including all`` (same columns, defaults and indexes: the physical reference);
then upsert the unchanged rows again, which must write nothing: no tuple inserted or updated
(pg_stat_user_tables deltas), no row with a new xmin, no row lock (a lock sets xmax), and the
WAL bytes it wrote are reported (row locks are WAL-logged; upsert_cases filters unchanged rows
out before its INSERT ... ON CONFLICT, so none are taken).

Goal (issue #18): upsert at >= 0.5x of COPY's speed for 10,000 new cases.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from pims_sync.models import CaseRecord
from pims_sync.store.postgres import PostgresStore

from . import _env

COPY_COLUMNS = (
    "id", "clinic_id", "source", "external_id", "status", "type", "scheduled_at", "ends_at",
    "patient_name", "patient_external_id", "species", "client_name", "client_external_id",
    "client_email", "client_phone", "client_phone_e164", "provider_name", "room",
    "consultation_external_id", "metadata",
)


def make_cases(clinic_id: str, n: int, seed: int = 7) -> list[CaseRecord]:
    """Realistic rows: the fields and a pimsAppointment metadata blob of about the real size."""
    rng = random.Random(seed)
    base = datetime(2026, 3, 2, 8, tzinfo=UTC)
    cases = []
    for i in range(n):
        start = base + timedelta(minutes=15 * i)
        appt_id = 10_000_000 + i
        cases.append(CaseRecord(
            clinic_id=clinic_id, external_id=f"pims-appt-idexx-neo-{appt_id}", status="completed",
            type="vaccination", scheduled_at=start, ends_at=start + timedelta(minutes=15),
            patient_name=f"Pet {i}", patient_external_id=str(500_000 + i), species=rng.choice(["Canine", "Feline"]),
            client_name=f"Client {i}", client_external_id=str(900_000 + i), client_email=f"c{i}@example.com",
            client_phone="(555) 010-0000", client_phone_e164="+15550100000", provider_name="Dr. Hana Sato",
            room="Exam 1", consultation_external_id=str(20_000_000 + i),
            metadata={"pimsAppointment": {
                "id": appt_id, "start": start.isoformat(), "title": "Vaccination", "reason": "Annual booster",
                "type_description": "Consult", "status_label": "Completed", "resourceId": "r1",
                "notes": "x" * rng.randint(50, 300),
            }},
        ))
    return cases


def table_counters(conn: psycopg.Connection, table: str) -> tuple[int, int, int]:
    conn.execute("select pg_stat_clear_snapshot()")
    row = conn.execute(
        "select n_tup_ins, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname = %s", (table,)
    ).fetchone()
    return row if row else (0, 0, 0)


GOAL_UPSERT_OVER_COPY = 0.5


def xmins(conn: psycopg.Connection, clinic_id: str) -> dict[str, str]:
    return dict(conn.execute("select id::text, xmin::text from cases where clinic_id = %s", (clinic_id,)).fetchall())


def locked_rows(conn: psycopg.Connection, clinic_id: str) -> int:
    """Rows whose xmax is set: locked (or deleted/updated) by some transaction since insert."""
    return conn.execute("select count(*) from cases where clinic_id = %s and xmax::text <> '0'",
                        (clinic_id,)).fetchone()[0]


def wal_lsn(conn: psycopg.Connection) -> int:
    return conn.execute("select pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]


def flush_stats(store: PostgresStore) -> None:
    """Make every pool connection publish its pending table counters (PostgreSQL 15+)."""
    pool = store._pool()
    conns = [pool.getconn() for _ in range(pool.get_stats().get("pool_size", 1) or 1)]
    try:
        for conn in conns:
            conn.execute("select pg_stat_force_next_flush()")
            conn.commit()
    finally:
        for conn in conns:
            pool.putconn(conn)


def timed_copy(admin: psycopg.Connection, table: str, copy_rows: list[tuple]) -> float:
    admin.execute(f"truncate {table}")
    started = time.perf_counter()
    with admin.cursor() as cur, cur.copy(f"copy {table} ({', '.join(COPY_COLUMNS)}) from stdin") as copy:
        for r in copy_rows:
            copy.write_row([*r[:-1], psycopg.types.json.Jsonb(r[-1])])
    return time.perf_counter() - started


def one_run(store: PostgresStore, admin: psycopg.Connection, rows: int, i: int) -> dict:
    clinic = store.create_clinic(name=f"bench store {i}", timezone="America/New_York")
    cases = make_cases(clinic.id, rows)

    started = time.perf_counter()
    first = store.upsert_cases(clinic.id, cases)
    upsert_s = time.perf_counter() - started
    assert first.created == rows, first

    copy_rows = admin.execute(
        f"select {', '.join(COPY_COLUMNS)} from cases where clinic_id = %s", (clinic.id,)
    ).fetchall()
    copy_s = timed_copy(admin, "cases_copy", copy_rows)
    copy_fk_s = timed_copy(admin, "cases_copy_fk", copy_rows)

    flush_stats(store)
    time.sleep(0.05)
    before_stats, before_xmin, before_wal = table_counters(admin, "cases"), xmins(admin, clinic.id), wal_lsn(admin)
    before_locked = locked_rows(admin, clinic.id)
    started = time.perf_counter()
    again = store.upsert_cases(clinic.id, cases)
    reupsert_s = time.perf_counter() - started
    after_wal = wal_lsn(admin)
    flush_stats(store)
    time.sleep(0.05)
    after_stats, after_xmin = table_counters(admin, "cases"), xmins(admin, clinic.id)
    after_locked = locked_rows(admin, clinic.id)
    return {
        "upsert_s": upsert_s,
        "copy_s": copy_s,
        "copy_fk_s": copy_fk_s,
        "reupsert_s": reupsert_s,
        "reupsert_result": {"created": again.created, "updated": again.updated, "unchanged": again.unchanged},
        "reupsert_tuples_inserted": after_stats[0] - before_stats[0],
        "reupsert_tuples_updated": after_stats[1] - before_stats[1],
        "reupsert_rows_with_new_xmin": sum(1 for k, v in after_xmin.items() if before_xmin.get(k) != v),
        "reupsert_wal_bytes": int(after_wal - before_wal),
        "reupsert_rows_locked": after_locked - before_locked,
    }


def run(rows: int, runs: int, *, smoke: bool) -> dict:
    with _env.scratch_database() as url:
        store = PostgresStore(url, min_size=1, max_size=2)
        admin = psycopg.connect(url, autocommit=True)
        try:
            admin.execute("create table cases_copy (like cases including all)")
            # LIKE copies no foreign key, but every insert into cases checks cases.clinic_id's: the
            # same COPY with that check too, for the reference that pays what cases pays
            admin.execute("create table cases_copy_fk (like cases including all)")
            admin.execute("alter table cases_copy_fk add foreign key (clinic_id) references clinics (id)")
            results = [one_run(store, admin, rows, i) for i in range(runs)]
        finally:
            admin.close()
            store.close()
    upsert = _env.summary([rows / r["upsert_s"] for r in results], 0)
    copy = _env.summary([rows / r["copy_s"] for r in results], 0)
    reupsert = _env.summary([rows / r["reupsert_s"] for r in results], 0)
    ratios = _env.summary([r["copy_s"] / r["upsert_s"] for r in results], 3)
    copy_fk = _env.summary([rows / r["copy_fk_s"] for r in results], 0)
    ratios_fk = _env.summary([r["copy_fk_s"] / r["upsert_s"] for r in results], 3)
    writes = {
        "tuples_inserted": max(r["reupsert_tuples_inserted"] for r in results),
        "tuples_updated": max(r["reupsert_tuples_updated"] for r in results),
        "rows_with_new_xmin": max(r["reupsert_rows_with_new_xmin"] for r in results),
        "wal_bytes_median": sorted(r["reupsert_wal_bytes"] for r in results)[len(results) // 2],
        "rows_locked": max(r["reupsert_rows_locked"] for r in results),
        "result": results[-1]["reupsert_result"],
    }
    return _env.envelope(
        "store", smoke=smoke, rows=rows, runs=runs,
        upsert_rows_per_s=upsert, copy_rows_per_s=copy, reupsert_rows_per_s=reupsert,
        upsert_over_copy=ratios, reupsert_writes=writes,
        copy_with_fk_rows_per_s=copy_fk, upsert_over_copy_with_fk=ratios_fk,
        goal_upsert_over_copy=GOAL_UPSERT_OVER_COPY,
        goal_met=ratios["median"] >= GOAL_UPSERT_OVER_COPY,
        reupsert_writes_nothing=writes["tuples_inserted"] == 0 and writes["tuples_updated"] == 0
        and writes["rows_with_new_xmin"] == 0 and writes["rows_locked"] == 0,
        samples=results,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny: 300 rows, 1 run")
    args = parser.parse_args(argv)
    rows, runs = (300, 1) if args.smoke else (args.rows, max(5, args.runs))
    report = run(rows, runs, smoke=args.smoke)
    _env.print_machine(report)
    fmt = lambda s: f"{s['median']:,.0f} [{s['min']:,.0f}–{s['max']:,.0f}]"  # noqa: E731
    _env.print_table(
        f"store: {rows:,} cases, {runs} runs (median [min–max])",
        ["measure", "rows/s", "vs COPY"],
        [
            ["upsert_cases (all new)", fmt(report["upsert_rows_per_s"]),
             f"{report['upsert_over_copy']['median']:.2f}× of COPY speed "
             f"[{report['upsert_over_copy']['min']:.2f}–{report['upsert_over_copy']['max']:.2f}] "
             f"(goal ≥ {GOAL_UPSERT_OVER_COPY}: {'met' if report['goal_met'] else 'NOT met'})"],
            ["COPY into a like-cases table", fmt(report["copy_rows_per_s"]), "1.00×"],
            ["COPY, same table + the clinic_id foreign key", fmt(report["copy_with_fk_rows_per_s"]),
             f"upsert at {report['upsert_over_copy_with_fk']['median']:.2f}× of it"],
            ["re-upsert unchanged", fmt(report["reupsert_rows_per_s"]), ""],
        ],
    )
    w = report["reupsert_writes"]
    _env.say(
        f"re-upsert of unchanged rows: {w['tuples_inserted']} inserted, {w['tuples_updated']} updated, "
        f"{w['rows_with_new_xmin']} rows with a new xmin, {w['rows_locked']} rows locked, "
        f"{w['wal_bytes_median']:,} WAL bytes; "
        + ("writes nothing: OK" if report["reupsert_writes_nothing"] else "WROTE ROWS: FAIL")
    )
    _env.write_results("store", report)
    return 0 if report["reupsert_writes_nothing"] else 1


if __name__ == "__main__":
    sys.exit(main())
