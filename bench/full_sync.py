"""Single-clinic full sync against its physical floor: latency × critical-path round trips.

    python -m bench.full_sync [--sizes 25,200,1000] [--runs 5] [--latency-ms 50] [--profile] [--smoke]

Real pieces: the simulator in its own process (its own GIL) at a fixed latency, PostgresStore on
a scratch database, IdexxProvider with a real Chromium login, run_full_sync in this process.
Every measured sync is a clinic's *first* full sync (a fresh store clinic each time, all cases
new, every past consultation fetched), so runs do not get cheaper as they repeat.

* cold = an empty session cache: the sync includes the Playwright login (Chromium is already up,
  as in a worker whose pooled browser is running; the launch is reported on its own);
* warm = the session is cached: no login.

The window is lookbackDays=2, daysAhead=2 (5 clinic-local days) and appointments_per_day =
size / 5, so the window holds ``size`` appointments; consultations exist for the past ones.

LOWER BOUND = latency × round trips on the critical path, derived from the requests the
simulator counted: requests that must happen one after another (schedule config, calendar,
search pages) count one each; the consultation detail fetches run ``parallelBatchSize`` at a
time, so they count ceil(details / parallelBatchSize).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import socket
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

import requests

from pims_sync.models import Credentials
from pims_sync.providers.idexx.auth import BrowserSource, IdexxAuthenticator
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.providers.session import InMemorySessionCache
from pims_sync.simulator.server import SimulatorProcess
from pims_sync.store.postgres import PostgresStore
from pims_sync.sync.options import SyncOptions
from pims_sync.sync.results import RESULT_KEY
from pims_sync.sync.runner import run_full_sync

from . import _env

WINDOW_DAYS = 5
OPTIONS = {"lookbackDays": 2, "daysAhead": 2, "parallelBatchSize": 5}
PARALLEL_ENDPOINTS = ("consultation_page_data", "consultation_view")
LOGIN_ENDPOINTS = ("login", "dashboard", "unknown")  # the browser's login pages, not data round trips
PARTS = ("fetch", "inbound", "cases", "reconcile")
REFERENCE_25_S = 12.5  # the original service's 25-appointment full sync
GOAL_WARM_OVER_BOUND = 1.20  # issue #18


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TimedAuthenticator(IdexxAuthenticator):
    """The real login, timed, so a cold run reports how much of it was the login."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds: list[float] = []

    def login(self, credentials: Credentials) -> dict[str, str]:
        started = time.perf_counter()
        try:
            return super().login(credentials)
        finally:
            self.seconds.append(time.perf_counter() - started)


class Bench:
    def __init__(self, sim: SimulatorProcess, store: PostgresStore, browser: BrowserSource, *, latency_ms: float):
        self.sim, self.store, self.browser, self.latency_ms = sim, store, browser, latency_ms
        self.http = requests.Session()
        self.sim_clinic = sim.clinics[0]

    def control(self, path: str, body: dict | None = None) -> dict:
        url = f"{self.sim.url}/__sim/{path}"
        r = self.http.post(url, json=body, timeout=30) if body is not None else self.http.get(url, timeout=30)
        r.raise_for_status()
        return r.json()

    def now(self) -> datetime:
        today = date.fromisoformat(self.control("clinics")["clinics"][0]["today"])
        return datetime.combine(today, dtime(12), ZoneInfo(self.sim_clinic["timezone"])).astimezone(UTC)

    def provider(self, cache: InMemorySessionCache, clinic) -> tuple[IdexxProvider, TimedAuthenticator]:
        c = self.sim_clinic
        auth = TimedAuthenticator(self.sim.url, browser_source=self.browser)
        provider = IdexxProvider(
            clinic=clinic,
            credentials_loader=lambda: Credentials(username=c["username"], password=c["password"],
                                                   company_id=c["company_id"]),
            base_url=self.sim.url,
            authenticator=auth,
            session_cache=cache,
        )
        return provider, auth

    def one_sync(self, now: datetime, label: str, *, cookies: dict | None = None) -> dict:
        """A first full sync of a fresh store clinic; ``cookies`` = warm (the session is cached)."""
        row = self.store.create_clinic(name=f"bench {label}", timezone=self.sim_clinic["timezone"])
        clinic = dataclasses.replace(row, phone_region=self.sim_clinic["phone_region"])
        cache = InMemorySessionCache()
        if cookies:
            cache.set(clinic.id, cookies, 3600)
        provider, auth = self.provider(cache, clinic)
        before = self.control("stats")
        started = time.perf_counter()
        try:
            result = run_full_sync(self.store, provider, clinic, SyncOptions.from_dict(OPTIONS), now=now)
        finally:
            provider.close()
        wall = time.perf_counter() - started
        after = self.control("stats")
        requests_by_endpoint = {
            k: v - before["requests_by_endpoint"].get(k, 0)
            for k, v in after["requests_by_endpoint"].items()
            if v - before["requests_by_endpoint"].get(k, 0)
        }
        if result.get("status") != "completed":
            raise RuntimeError(f"the {label} sync did not complete: {result}")
        phases = {p: (result.get(k) or {}).get("durationMs", 0) / 1000 for p, k in RESULT_KEY.items()}
        phases["fetch"] = wall - sum(phases.values())  # the shared appointments fetch, and audit rows
        return {
            "wall_s": wall,
            "phases_s": phases,
            "login_s": sum(auth.seconds),
            "logins": after["logins_total"] - before["logins_total"],
            "requests": requests_by_endpoint,
            "result": result,
            "cookies": cache.get(clinic.id),
        }


def critical_path_round_trips(requests_by_endpoint: dict[str, int], parallel: int) -> dict:
    """Sequential requests count one round trip each; detail fetches ceil(n / parallel)."""
    sequential = sum(n for k, n in requests_by_endpoint.items() if k not in PARALLEL_ENDPOINTS + LOGIN_ENDPOINTS)
    details = sum(n for k, n in requests_by_endpoint.items() if k in PARALLEL_ENDPOINTS)
    return {"sequential": sequential, "details": details, "detail_rounds": math.ceil(details / parallel),
            "total": sequential + math.ceil(details / parallel)}


def run_size(bench: Bench, size: int, runs: int) -> dict:
    per_day = max(1, size // WINDOW_DAYS)
    bench.control(f"clinics/{bench.sim_clinic['id']}/config", {"appointments_per_day": per_day})
    now = bench.now()
    cold, warm = [], []
    for i in range(runs):
        cold.append(bench.one_sync(now, f"cold {size} {i}"))
        warm.append(bench.one_sync(now, f"warm {size} {i}", cookies=cold[-1]["cookies"]))
    for r in cold + warm:
        r.pop("cookies", None)
    sample = warm[-1]
    found = _phase_stat(sample["result"], "inbound", "appointmentsFound")
    enriched = _phase_stat(sample["result"], "cases", "casesEnriched")
    rt = critical_path_round_trips(sample["requests"], OPTIONS["parallelBatchSize"])
    lower_bound = rt["total"] * bench.latency_ms / 1000
    warm_s = _env.summary([r["wall_s"] for r in warm])
    cold_s = _env.summary([r["wall_s"] for r in cold])
    login_s = _env.summary([r["login_s"] for r in cold])
    return {
        "size": size,
        "appointments_per_day": per_day,
        "appointments_found": found,
        "consultations_enriched": enriched,
        "requests_warm": sample["requests"],
        "requests_cold": cold[-1]["requests"],
        "logins_cold": [r["logins"] for r in cold],
        "logins_warm": [r["logins"] for r in warm],
        "round_trips": rt,
        "lower_bound_s": round(lower_bound, 3),
        "warm_s": warm_s,
        "cold_s": cold_s,
        "login_s": login_s,
        "warm_over_lower_bound": round(warm_s["median"] / lower_bound, 3),
        # where the warm time goes, against each part's own floor
        "warm_phases_s": {p: _env.summary([r["phases_s"][p] for r in warm]) for p in warm[0]["phases_s"]},
        "phase_bounds_s": {"fetch": rt["sequential"] * bench.latency_ms / 1000,
                           "cases": rt["detail_rounds"] * bench.latency_ms / 1000,
                           "inbound": 0.0, "reconcile": 0.0},
        "cold_minus_warm_s": round(cold_s["median"] - warm_s["median"], 3),
        "goal_warm": warm_s["median"] <= GOAL_WARM_OVER_BOUND * lower_bound,
        "goal_cold": cold_s["median"] <= warm_s["median"] + login_s["median"],
    }


def _phase_stat(result: dict, phase: str, key: str):
    return (result.get(RESULT_KEY[phase]) or {}).get("stats", {}).get(key)


def run(sizes: list[int], runs: int, latency_ms: float, *, smoke: bool, profile: bool) -> dict:
    sim = SimulatorProcess(port=free_port(), seed=42, clinics=1, latency_ms=latency_ms)
    browser = BrowserSource(chromium_path=_env.chromium_path())
    results = []
    try:
        started = time.perf_counter()
        browser.run(lambda _browser: None)  # launch Chromium now, timed on its own
        launch_s = time.perf_counter() - started
        with _env.scratch_database() as url:
            store = PostgresStore(url, min_size=1, max_size=OPTIONS["parallelBatchSize"] + 2)
            try:
                bench = Bench(sim, store, browser, latency_ms=latency_ms)
                for size in sizes:
                    results.append(run_size(bench, size, runs))
                if profile:
                    _profile(bench, max(sizes))
            finally:
                store.close()
    finally:
        browser.close()
        sim.stop()
    return _env.envelope("full_sync", smoke=smoke, latency_ms=latency_ms, options=OPTIONS,
                         window_days=WINDOW_DAYS, chromium_launch_s=round(launch_s, 3),
                         reference_25_s=REFERENCE_25_S, runs=runs, results=results)


def _profile(bench: Bench, size: int) -> None:
    """One warm sync under pyinstrument; the text profile goes next to the JSON."""
    from pyinstrument import Profiler

    bench.control(f"clinics/{bench.sim_clinic['id']}/config", {"appointments_per_day": max(1, size // WINDOW_DAYS)})
    now = bench.now()
    cookies = bench.one_sync(now, "profile warm-up")["cookies"]
    profiler = Profiler(interval=0.001)
    profiler.start()
    bench.one_sync(now, "profile", cookies=cookies)
    profiler.stop()
    _env.RESULTS.mkdir(parents=True, exist_ok=True)
    out = _env.RESULTS / f"full_sync-profile-{size}.txt"
    out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    _env.say(f"profile: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.full_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,200,1000", help="appointments in the window, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--profile", action="store_true", help="also profile one warm sync (pyinstrument)")
    parser.add_argument("--smoke", action="store_true", help="tiny: 10 appointments, 1 run, 5 ms latency")
    args = parser.parse_args(argv)
    if args.smoke:
        sizes, runs, latency = [10], 1, 5.0
    else:
        sizes, runs, latency = [int(s) for s in args.sizes.split(",")], max(5, args.runs), args.latency_ms
    report = run(sizes, runs, latency, smoke=args.smoke, profile=args.profile)
    _env.print_machine(report)
    _env.say(f"simulator latency {latency} ms, parallelBatchSize {OPTIONS['parallelBatchSize']}, "
                       f"Chromium launch {report['chromium_launch_s']} s, {runs} runs each (median [min–max])")
    rows = []
    for r in report["results"]:
        rt = r["round_trips"]
        rows.append([
            r["size"], r["appointments_found"], r["consultations_enriched"],
            f"{rt['sequential']}+⌈{rt['details']}/{OPTIONS['parallelBatchSize']}⌉={rt['total']}",
            r["lower_bound_s"], _fmt(r["warm_s"]), f"{r['warm_over_lower_bound']:.2f}×",
            _fmt(r["cold_s"]), _fmt(r["login_s"]),
            "yes" if r["goal_warm"] and r["goal_cold"] else "NO",
        ])
    _env.print_table("full sync: warm and cold vs the lower bound",
                     ["appts", "found", "details", "round trips", "bound s", "warm s", "warm/bound", "cold s",
                      "login s", "goals"], rows)
    for r in report["results"]:
        _env.say(f"{r['size']}: requests {r['requests_warm']} (cold adds {r['logins_cold'][0]} login)")
    _env.print_table(
        "warm sync by part, median s (floor)",
        ["appts", *PARTS],
        [[r["size"], *(f"{r['warm_phases_s'][p]['median']:.3f} ({r['phase_bounds_s'][p]:.2f})" for p in PARTS)]
         for r in report["results"]],
    )
    _env.write_results("full_sync", report)
    return 0


def _fmt(s: dict) -> str:
    return f"{s['median']:.3f} [{s['min']:.3f}–{s['max']:.3f}]"


if __name__ == "__main__":
    sys.exit(main())
