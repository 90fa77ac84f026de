"""Benchmark of the beat scheduler with thousands of clinics: a tick, a one-clinic reload, a full reload.

    python -m bench.scheduler [--clinics 3000] [--runs 5] [--smoke]

Uses the real pieces: a scratch database (created on BENCH_DATABASE_ADMIN_URL, migrated,
dropped afterwards), Redis (BENCH_REDIS_URL, a database of its own: it is flushed), the
LISTEN connection and ClinicScheduler itself, on a frozen clock so nothing is dispatched.
Goals: a tick under 5 ms, a one-clinic reload under 50 ms. Prints a table and writes JSON to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import redis
from celery import Celery
from psycopg import sql

from pims_sync.config import Settings
from pims_sync.store.migrate import apply_migrations
from pims_sync.store.postgres import PostgresStore
from workers.beat import ClinicScheduler

RESULTS = Path(__file__).resolve().parent / "results"
GOALS_MS = {"tick": 5.0, "reload_one_clinic": 50.0}
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "America/Chicago")
SCHEDULES = [
    {"type": "inbound", "cron": "0 6 * * *", "enabled": True},
    {"type": "cases", "cron": "0 8,14,20 * * *", "enabled": True},
    {"type": "reconciliation", "cron": "0 2 * * *", "enabled": True},
]
TICKS_PER_RUN = 500


def _scratch_database(admin: str) -> str:
    name = f"pims_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return urlunparse(urlparse(admin)._replace(path=f"/{name}"))


def _drop(admin: str, url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _seed(url: str, clinics: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [
            str(r[0])
            for r in conn.execute(
                "insert into clinics (name, timezone) select 'Bench ' || g, (%s::text[])[1 + g %% %s] "
                "from generate_series(1, %s) g returning id",
                (list(ZONES), len(ZONES), clinics),
            ).fetchall()
        ]
        conn.execute(
            "insert into clinic_schedule_configs (clinic_id, sync_schedules) select unnest(%s::uuid[]), %s::jsonb",
            (ids, json.dumps(SCHEDULES)),
        )
    return ids


def _ms(f) -> float:
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) * 1000


def run(clinics: int, runs: int) -> dict:
    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    url = _scratch_database(admin)
    store = None
    sched = None
    try:
        apply_migrations(url)
        ids = _seed(url, clinics)
        store = PostgresStore(url, min_size=1, max_size=2)
        settings = Settings.from_env({"DATABASE_URL": url, "REDIS_URL": redis_url, "APP_ENV": "test"})
        app = Celery("bench", broker=redis_url, set_as_current=False)
        frozen = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)  # no slot is due: nothing is sent
        sched = ClinicScheduler(
            app, settings=settings, store=store, redis_client=client, nowfun=lambda: frozen
        )
        build = _ms(sched.tick)  # takes the lock, loads every clinic, opens LISTEN
        sched.tick()
        entries = sum(1 for n in sched.schedule if n.startswith("clinic:"))
        samples: dict[str, list[float]] = {"tick": [], "reload_one_clinic": [], "full_reload": []}
        for i in range(runs):
            samples["tick"].append(_ms(lambda: [sched.tick() for _ in range(TICKS_PER_RUN)]) / TICKS_PER_RUN)
            cid = ids[i % len(ids)]
            changed = [dict(SCHEDULES[0], cron=f"{i % 60} 6 * * *"), *SCHEDULES[1:]]
            store.set_schedule_config(cid, changed)
            samples["reload_one_clinic"].append(_ms(lambda cid=cid: sched.reload_clinics({cid})))
            samples["full_reload"].append(_ms(sched.reload_all))
    finally:
        if sched is not None:
            sched.close()
        if store is not None:
            store.close()
        _drop(admin, url)
        client.flushdb()
    stats = {
        name: {
            "median_ms": round(statistics.median(v), 3),
            "min_ms": round(min(v), 3),
            "max_ms": round(max(v), 3),
            "runs": len(v),
            "goal_ms": GOALS_MS.get(name),
        }
        for name, v in samples.items()
    }
    return {
        "benchmark": "scheduler",
        "clinics": clinics,
        "entries": entries,
        "initial_build_ms": round(build, 1),
        "ticks_per_run": TICKS_PER_RUN,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "results": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--smoke", action="store_true", help="a quick check: 50 clinics, 2 runs, no JSON file"
    )
    args = parser.parse_args(argv)
    clinics, runs = (50, 2) if args.smoke else (args.clinics, max(5, args.runs))
    report = run(clinics, runs)
    print(
        f"scheduler: {report['clinics']} clinics, {report['entries']} entries, "
        f"initial build {report['initial_build_ms']} ms"
    )
    print(f"{'measure':<20}{'median ms':>12}{'min ms':>10}{'max ms':>10}{'goal ms':>10}")
    ok = True
    for name, s in report["results"].items():
        goal = s["goal_ms"]
        ok &= goal is None or s["median_ms"] < goal
        print(f"{name:<20}{s['median_ms']:>12.3f}{s['min_ms']:>10.3f}{s['max_ms']:>10.3f}{goal or '-':>10}")
    if not args.smoke:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"scheduler-{report['clinics']}.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {out.relative_to(RESULTS.parent.parent)}")
    print("goals met" if ok else "goals NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
