"""Enqueue throughput and latency of ``gunicorn api.wsgi:app`` (no worker running).

    python -m bench.api_enqueue [--clinics 2000] [--concurrency 16] [--workers 2] [--threads 8] [--smoke]

A fresh migrated database and a flushed Redis db (see bench/_env.py); ``clinics`` clinics,
each with its own API key; gunicorn on 127.0.0.1 (the command ``pims-sync api`` runs); then
one authenticated ``POST /api/sync/inbound`` per clinic from ``concurrency`` threads, each with
its own requests.Session (keep-alive). One request per clinic, because the per-clinic
single-flight answers 409 to a second sync while the first is queued, and no worker drains the
queue here. What is measured is the API's own path: key lookup, validation, the in-flight claim,
the audit insert and the broker publish. The load generator shares the machine's cores with
the server, so read the numbers as a floor.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import requests

from pims_sync.apikeys import generate_api_key
from pims_sync.cli.api_cmd import gunicorn_argv
from pims_sync.store.postgres import PostgresStore

from . import _env

NAME = "api_enqueue"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_keys(database_url: str, clinics: int) -> list[str]:
    store = PostgresStore(database_url, min_size=1, max_size=2)
    try:
        keys = []
        for i in range(clinics):
            clinic = store.create_clinic(name=f"Bench clinic {i}", timezone="America/New_York")
            key = generate_api_key(env="bench")
            store.create_api_key(clinic_id=clinic.id, name="bench", key_prefix=key.key_prefix, key_hash=key.key_hash)
            keys.append(key.key)
        return keys
    finally:
        store.close()


def start_gunicorn(database_url: str, redis_url: str, *, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "APP_ENV": "production",
           "LOG_LEVEL": "WARNING", "PYTHONPATH": str(_env.ROOT)}
    argv = [a for a in gunicorn_argv(host="127.0.0.1", port=port, workers=workers, threads=threads, timeout_s=60)
            if a not in ("--access-logfile", "-")]  # access logging would measure the terminal
    log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(argv, cwd=_env.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"gunicorn exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if requests.get(f"{base}/ready", timeout=10).status_code == 200:
                    return proc, base
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not become ready within 60 s")
    except BaseException:
        stop(proc)  # never leave the server behind
        raise


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def load(base: str, keys: list[str], concurrency: int) -> tuple[list[float], Counter, float]:
    """One POST per key from `concurrency` threads; latencies in ms, statuses, wall time in s."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    todo = iter(keys)
    barrier = threading.Barrier(concurrency + 1)

    def run() -> None:
        mine: list[float] = []
        seen: Counter = Counter()
        with requests.Session() as s:
            s.get(f"{base}/health", timeout=10)  # open the keep-alive connection before the clock starts
            barrier.wait()
            while True:
                with lock:
                    key = next(todo, None)
                if key is None:
                    break
                t0 = time.perf_counter()
                r = s.post(f"{base}/api/sync/inbound", headers={"X-API-Key": key}, json={"daysAhead": 1}, timeout=30)
                mine.append((time.perf_counter() - t0) * 1000)
                seen[r.status_code] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, statuses, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_enqueue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinics", type=int, default=2000, help="requests (one per clinic)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI (40 clinics, 4 threads)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clinics, args.concurrency = 40, 4

    redis_url = _env.bench_redis_url()
    with _env.scratch_database() as database_url:
        _env.flushed_redis()
        _env.say(f"seeding {args.clinics} clinics and keys ...")
        keys = seed_keys(database_url, args.clinics)
        proc, base = start_gunicorn(database_url, redis_url, workers=args.workers, threads=args.threads)
        try:
            latencies, statuses, wall_s = load(base, keys, args.concurrency)
        finally:
            stop(proc)
            _env.flushed_redis().close()

    ok = statuses.get(202, 0)
    result = {
        "requests": len(latencies),
        "accepted_202": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(len(latencies) / wall_s, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p90": round(percentile(latencies, 90), 2),
            "p99": round(percentile(latencies, 99), 2),
            "max": round(max(latencies), 2),
        },
    }
    report = _env.envelope(NAME, smoke=args.smoke, config={
        "server": f"gunicorn api.wsgi:app, {args.workers} workers x {args.threads} threads (gthread)",
        "endpoint": "POST /api/sync/inbound", "clinics": args.clinics, "concurrency": args.concurrency,
        "worker_running": False,
    }, result=result)
    _env.print_machine(report)
    _env.print_table(
        f"API enqueue: {report['config']['server']}, {args.concurrency} client threads",
        ["requests", "202", "other", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [[result["requests"], ok, result["requests"] - ok, result["requests_per_s"],
          result["latency_ms"]["p50"], result["latency_ms"]["p90"], result["latency_ms"]["p99"],
          result["latency_ms"]["max"]]],
    )
    _env.write_results(NAME, report)
    if ok != len(latencies):
        _env.say(f"unexpected statuses: {result['statuses']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
