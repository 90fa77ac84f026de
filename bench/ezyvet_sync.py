"""ezyVet full syncs of several clinics at once against their floors: round trips × latency, and
the rate limit.

    python -m bench.ezyvet_sync [--clinics 5] [--size 1000] [--runs 3] [--latency-ms 20] [--smoke]

Real pieces: the ezyVet simulator in its own process at a fixed latency, PostgresStore on a
scratch database, EzyvetProvider with the Redis token cache and rate limiter the workers use,
run_full_sync for every clinic at once (one thread each, one ezyVet site each). Each run is every
clinic's *first* full sync (fresh store clinics), window lookbackDays=2, daysAhead=2 with ``size``
appointments in it.

LATENCY FLOOR = latency × the sync's requests: the provider sends them one after another (the
cases phase reads consults for the whole window once, then answers details from that).
RATE FLOOR = the least time ezyVet's limits (60/min per endpoint, 180/min per site, less the
provider's 2-token headroom) allow for those requests; a sync cannot beat the larger of the two.
Also checked: the simulator's 429 count (must be 0) and tokens per site (must be 1 over all runs).
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import requests

from pims_sync.crypto import CredentialCipher
from pims_sync.models import Clinic
from pims_sync.providers.ezyvet.client import BUCKET_HEADROOM, TOKEN_PATH
from pims_sync.providers.ezyvet.limiter import RedisRateLimiter
from pims_sync.providers.ezyvet.provider import EzyvetProvider, forget_lookups
from pims_sync.providers.registry import provider_spec
from pims_sync.store._provider_credentials import seal
from pims_sync.store.postgres import PostgresStore
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.runner import run_full_sync
from workers.session_cache import RedisSessionCache

from . import _env

OPTIONS = {"lookbackDays": 2, "daysAhead": 2, "parallelBatchSize": 5}
WINDOW_DAYS = 5
FIELDS = ("partner_id", "client_id", "client_secret", "site_uid")
KEY = "bench-ezyvet-key-0123456789abcdef"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(*, sites: int, per_day: int, latency_ms: float) -> tuple[subprocess.Popen, dict]:
    args = [sys.executable, "-m", "pims_sync.ezyvet_simulator", "--port", str(_port()), "--sites", str(sites),
            "--appointments-per-day", str(per_day), "--latency-ms", str(latency_ms), "--days-back", "3",
            "--days-ahead", "3", "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = proc.stdout.readline()
    if not first:
        raise RuntimeError(f"the ezyVet simulator exited with {proc.wait()}")
    return proc, json.loads(first)


def rate_floor_s(calls: Counter) -> float:
    """The least time the published limits (less headroom) allow for these calls of one site."""
    limits = provider_spec("ezyvet").rate_limit
    floors = []
    for endpoint, n in calls.items():
        if endpoint == TOKEN_PATH:
            continue
        cap = limits.per_endpoint - BUCKET_HEADROOM
        floors.append(max(0, n - cap) * limits.per_s / limits.per_endpoint)
    total = sum(n for e, n in calls.items() if e != TOKEN_PATH)
    floors.append(max(0, total - (limits.per_site - BUCKET_HEADROOM)) * limits.per_s / limits.per_site)
    return max(floors)


def run(clinics: int, size: int, runs: int, latency_ms: float, *, smoke: bool) -> dict:
    per_day = max(1, math.ceil(size / WINDOW_DAYS * 7 / 6))  # about one in seven is a block-out
    proc, sim = start_simulator(sites=clinics, per_day=per_day, latency_ms=latency_ms)
    cipher = CredentialCipher(secret_for=lambda key_id: KEY)
    rds = _env.flushed_redis()
    samples = []
    try:
        with _env.scratch_database() as url:
            store = PostgresStore(url, min_size=1, max_size=clinics + 2)
            tokens = RedisSessionCache(rds, cipher, ttl_s=86_400, prefix="bench:ezyvet-token:")
            for _ in range(runs):
                forget_lookups()
                results: dict[int, dict] = {}

                def one(site: dict, results=results) -> None:
                    row = store.create_clinic(name=f"bench ezyVet {site['number']} {time.time_ns()}",
                                              timezone=site["timezone"], pims_provider="ezyvet",
                                              pims_host=sim["url"])
                    store.save_provider_credentials(seal(cipher, clinic_id=row.id, provider="ezyvet",
                                                         fields={k: site[k] for k in FIELDS}, required=FIELDS))
                    clinic = Clinic(id=row.id, name=row.name, timezone=row.timezone, pims_provider="ezyvet")
                    provider = EzyvetProvider(clinic=clinic, credentials_loader=lambda: {k: site[k] for k in FIELDS},
                                              base_url=sim["url"], token_cache=tokens, token_lock=tokens.login_lock,
                                              limiter=RedisRateLimiter(rds))
                    started = time.perf_counter()
                    result = run_full_sync(store, provider, clinic, SyncOptions.from_dict(OPTIONS), trigger="cli",
                                           now=datetime.now(UTC))
                    seconds = time.perf_counter() - started
                    calls = Counter(provider.stats["requests"])
                    found = result["inboundResult"]["stats"]["appointmentsFound"]
                    results[site["number"]] = {
                        "seconds": round(seconds, 3), "success": result["success"], "appointments": found,
                        "requests": sum(calls.values()), "latency_floor_s": round(sum(calls.values()) * latency_ms
                                                                                   / 1000, 3),
                        "rate_floor_s": round(rate_floor_s(calls), 3),
                        "limiter_waited_s": provider.stats["limiter_waited_s"],
                    }
                    provider.close()

                threads = [threading.Thread(target=one, args=(s,)) for s in sim["sites"]]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                samples.append(results)
            store.close()
        stats = requests.get(f"{sim['url']}/__sim/stats", timeout=10).json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    worst = max((r for run_ in samples for r in run_.values()),
                key=lambda r: r["seconds"] / max(r["latency_floor_s"], r["rate_floor_s"], 1e-9))
    return _env.envelope(
        "ezyvet_sync", smoke=smoke, clinics=clinics, size=size, latency_ms=latency_ms, runs=runs,
        results=samples, rate_limited=stats["rate_limited"], tokens_per_site=stats["tokens_issued"],
        all_succeeded=all(r["success"] for run_ in samples for r in run_.values()),
        worst_over_floor=round(worst["seconds"] / max(worst["latency_floor_s"], worst["rate_floor_s"], 1e-9), 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ezyvet_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=5)
    parser.add_argument("--size", type=int, default=1000, help="appointments in each clinic's window")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--smoke", action="store_true", help="tiny: 2 clinics, 50 appointments, 1 run, 2 ms")
    args = parser.parse_args(argv)
    clinics, size, runs, latency = (2, 50, 1, 2.0) if args.smoke else (args.clinics, args.size, args.runs,
                                                                        args.latency_ms)
    report = run(clinics, size, runs, latency, smoke=args.smoke)
    _env.print_machine(report)
    rows = []
    for i, run_ in enumerate(report["results"], start=1):
        for number, r in sorted(run_.items()):
            floor = max(r["latency_floor_s"], r["rate_floor_s"])
            rows.append([f"run {i} clinic {number}", r["appointments"], r["requests"], r["seconds"],
                         r["latency_floor_s"], r["rate_floor_s"], f"{r['seconds'] / max(floor, 1e-9):.1f}×",
                         r["limiter_waited_s"]])
    _env.print_table(f"ezyVet full sync: {clinics} clinics at once, {latency:g} ms latency",
                     ["sync", "appointments", "requests", "seconds", "latency floor", "rate floor", "over floor",
                      "limiter wait"], rows)
    ok = report["all_succeeded"] and report["rate_limited"] == 0 and set(report["tokens_per_site"].values()) == {1}
    _env.say(f"429s: {report['rate_limited']}; tokens per site: {sorted(report['tokens_per_site'].values())}; "
             + ("OK" if ok else "FAIL"))
    _env.write_results("ezyvet_sync", report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
