"""Scale-out: N clinics through 1 worker process and then 2, cold (every clinic logs in) and warm.

    python -m bench.scale_out [--clinics 50] [--runs 5] [--concurrency 2] [--latency-ms 250]
                              [--warm-latency-ms 1000] [--login-runs 5] [--logins 10] [--only-logins] [--smoke]

Real pieces: ``celery -A workers.app worker`` subprocesses (prefork, the same --concurrency
each), workers.enqueue.enqueue_sync (the API's path), Redis (BENCH_REDIS_URL, flushed), a
scratch Postgres database, the simulator in its own process, Chromium logins.

Each repetition runs the 1-worker case and then the 2-worker case on fresh workers (each pool
process launches its Chromium on its first login) with fresh store clinics, and within each
case two regimes from the same workers:

* **cold**: one full sync per clinic, every clinic logging in once (the shared Redis session
  cache makes the other phases reuse it) — the worst case, CPU-heavy because of Chromium;
* **warm**: a second full sync per clinic right after, every session cached, as in production
  where a session serves a day of syncs, with the simulator's latency raised to
  ``--warm-latency-ms`` (through its /__sim/config) so that the run is latency-bound, as a PIMS
  sync is, even on a small shared machine; the cold latency is restored afterwards.

The scaling ratio is computed per repetition and regime, and its median is reported, with the
CPU-bound ceiling (cores / worker CPU per clinic) beside it and, for the warm regime, whether
the run is CPU-bound and which process kind burns the CPU.

Before the scale-out runs, **login CPU**: ``--logins`` logins to the simulator in this process
with a warm browser (launched, one login done) and a new context per login, for Debian's
``chromium`` and its ``chromium-headless-shell`` (and the shell without the login's request
blocking), interleaved over ``--login-runs`` runs; CPU per login by process kind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import psutil
import requests

from pims_sync.models import Credentials
from pims_sync.providers.idexx.auth import IdexxAuthenticator
from pims_sync.providers.idexx.chromium import locate_chromium
from pims_sync.simulator.server import SimulatorProcess
from pims_sync.store.postgres import PostgresStore
from workers.browser_pool import BrowserPool

from . import _env, _workers

OPTIONS = {"lookbackDays": 1, "daysAhead": 1, "parallelBatchSize": 5}
REGIMES = ("cold", "warm")
CPU_BOUND_SHARE = 0.7  # a rate at ≥ 70 % of the CPU-bound ceiling is called CPU-bound


# --- login CPU --------------------------------------------------------------------------------


def _kind(p: psutil.Process) -> str:
    try:  # Debian's wrappers are shell scripts: their process is named after the script
        name = f"{p.name()} {' '.join(p.cmdline()[:3])}".lower()
    except psutil.Error:
        return "gone"
    return "chromium" if "chrom" in name else "playwright driver" if "node" in name else "celery (python)"


def _cpu(p: psutil.Process, *, with_children: bool = True) -> float:
    t = p.cpu_times()
    return t.user + t.system + ((t.children_user + t.children_system) if with_children else 0.0)


def _tree_cpu(root: psutil.Process, *, root_kind: str | None = None, skip: frozenset[int] = frozenset()
              ) -> dict[str, float]:
    """CPU seconds by process kind of ``root`` and its descendants (reaped children included)."""
    totals: dict[str, float] = {}
    procs = [root, *root.children(recursive=True)]
    skipped = set(skip)
    for p in procs:
        if p.pid in skipped:
            continue
        try:
            is_root = p.pid == root.pid
            kind = root_kind if is_root and root_kind else _kind(p)
            # the root's reaped children are earlier runs' browsers and drivers: not this run's
            seconds = _cpu(p, with_children=not is_root)
        except psutil.Error:
            continue
        totals[kind] = totals.get(kind, 0.0) + seconds
    return totals


def login_cpu(sim: SimulatorProcess, credentials: Credentials, *, executable: str, blocked: bool,
              logins: int) -> dict:
    """CPU per login by process kind: warm browser, new context per login, ``logins`` logins."""
    sim_url = sim.url
    not_ours = _subtree(sim.process.pid)  # the simulator is our child too: its CPU is not the login's
    pool = BrowserPool(executable_path=executable, idle_close_s=0)
    options: dict[str, Any] = {} if blocked else {"blocked_resource_types": frozenset()}
    auth = IdexxAuthenticator(sim_url, browser_source=pool, timeout_ms=60_000, **options)
    me = psutil.Process()
    try:
        auth.login(credentials)  # launch and one login: the browser is warm
        before = _tree_cpu(me, root_kind="bench (python)", skip=not_ours)
        started = time.perf_counter()
        for _ in range(logins):
            auth.login(credentials)
        elapsed = time.perf_counter() - started
        after = _tree_cpu(me, root_kind="bench (python)", skip=not_ours)
    finally:
        pool.close()
    per_login = {k: round((after.get(k, 0.0) - before.get(k, 0.0)) / logins * 1000, 1)
                 for k in sorted(set(after) | set(before)) if k != "gone"}
    return {"cpu_ms_per_login_by_kind": per_login, "wall_ms_per_login": round(elapsed / logins * 1000, 1)}


def _subtree(pid: int) -> frozenset[int]:
    try:
        root = psutil.Process(pid)
        return frozenset({pid, *(c.pid for c in root.children(recursive=True))})
    except psutil.Error:
        return frozenset({pid})


def login_variants() -> list[tuple[str, str, bool]]:
    """(label, executable, block images/fonts/media) for the browsers installed here."""
    full = locate_chromium(None, headless=False, playwright_build=False)
    shell = locate_chromium(None, headless=True, playwright_build=False)
    variants = []
    if full:
        variants.append(("chromium", full, True))
    if shell and shell != full:
        variants += [("headless shell", shell, True), ("headless shell, no blocking", shell, False)]
    if not variants:
        raise RuntimeError("no Chromium installed: apt-get install chromium chromium-headless-shell")
    return variants


def run_logins(runs: int, logins: int) -> dict:
    sim = SimulatorProcess(port=_workers.free_port(), seed=42, clinics=1, latency_ms=0, appointments_per_day=1)
    try:
        clinic = requests.get(f"{sim.url}/__sim/clinics", timeout=30).json()["clinics"][0]
        user = clinic["users"][0]
        credentials = Credentials(username=user["username"], password=user["password"],
                                  company_id=clinic["company_id"])
        variants = login_variants()
        samples: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
        for i in range(runs):
            for label, executable, blocked in variants:  # interleaved: load drifts hit each alike
                samples[label].append(login_cpu(sim, credentials, executable=executable, blocked=blocked,
                                                logins=logins))
            _env.say(f"login run {i + 1}/{runs}: " + ", ".join(
                f"{label} {samples[label][-1]['cpu_ms_per_login_by_kind'].get('chromium', 0.0):.0f} ms"
                for label, _, _ in variants) + " Chromium CPU per login")
    finally:
        sim.stop()
    out: dict[str, Any] = {"logins_per_run": logins, "runs": runs, "variants": {}}
    for label, executable, blocked in variants:
        kinds = sorted({k for s in samples[label] for k in s["cpu_ms_per_login_by_kind"]})
        out["variants"][label] = {
            "executable": executable, "blocks_images_fonts_media": blocked,
            "cpu_ms_per_login_by_kind": {k: _env.summary([s["cpu_ms_per_login_by_kind"].get(k, 0.0)
                                                          for s in samples[label]], 1) for k in kinds},
            "wall_ms_per_login": _env.summary([s["wall_ms_per_login"] for s in samples[label]], 1),
        }
    if "chromium" in samples and "headless shell" in samples:
        ratios = [c["cpu_ms_per_login_by_kind"].get("chromium", 0.0) / max(h["cpu_ms_per_login_by_kind"].get(
            "chromium", 0.0), 0.1) for c, h in zip(samples["chromium"], samples["headless shell"], strict=True)]
        out["chromium_over_headless_shell"] = _env.summary(ratios, 2)
        out["goal_3x"] = out["chromium_over_headless_shell"]["median"] >= 3.0
    return out


# --- scale-out --------------------------------------------------------------------------------


def measure(cluster: _workers.Cluster, sim: SimulatorProcess, *, workers: int, concurrency: int, label: str,
            latency_ms: dict[str, float]) -> dict:
    started_workers = cluster.start_many([f"{label}-w{i}" for i in range(workers)], concurrency=concurrency)
    try:
        clinics = [cluster.add_clinic(c, f"{label} {c['id']}") for c in sim.clinics]
        regimes = {}
        for regime in REGIMES:
            _set_latency(sim, latency_ms[regime])
            regimes[regime] = _one_pass(cluster, sim, clinics, started_workers)
    finally:
        _set_latency(sim, latency_ms["cold"])
        for w in started_workers:
            w.stop()
        cluster.workers.clear()
    return {"workers": workers, "concurrency": concurrency, "clinics": len(clinics), **regimes}


def _set_latency(sim: SimulatorProcess, latency_ms: float) -> None:
    answer = requests.post(f"{sim.url}/__sim/config", json={"latency_ms": latency_ms}, timeout=30)
    answer.raise_for_status()


def _one_pass(cluster: _workers.Cluster, sim: SimulatorProcess, clinics: list, started_workers: list) -> dict:
    """One full sync per clinic, all enqueued at once; rate, CPU by process kind, logins."""
    cpu_before = _workers_cpu(started_workers)
    before = requests.get(f"{sim.url}/__sim/stats", timeout=30).json()
    started = time.perf_counter()
    sync_ids = [cluster.enqueue(c.id, OPTIONS).sync_id for c in clinics]
    statuses = cluster.wait_all(sync_ids, timeout_s=60 + 30 * len(clinics))
    elapsed = time.perf_counter() - started
    after = requests.get(f"{sim.url}/__sim/stats", timeout=30).json()
    cpu_after = _workers_cpu(started_workers)
    by_kind = {k: max(0.0, cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0)) for k in cpu_after}
    cpu_s = sum(by_kind.values())
    logins = {c["id"]: after["logins"].get(c["id"], 0) - before["logins"].get(c["id"], 0) for c in sim.clinics}
    return {
        "elapsed_s": round(elapsed, 3),
        "clinics_per_minute": round(len(clinics) / elapsed * 60, 2),
        "not_completed": sum(1 for s in statuses.values() if s != "completed"),
        # CPU the worker trees (Python, Playwright driver, Chromium) burnt: with C cores, the
        # CPU-bound ceiling is C / cpu_s_per_clinic clinics per second, whatever the latency
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_s_per_clinic": round(cpu_s / len(clinics), 3),
        "worker_cpu_s_per_clinic_by_kind": {k: round(v / len(clinics), 3) for k, v in sorted(by_kind.items())},
        "logins_per_clinic": {"min": min(logins.values()), "max": max(logins.values()),
                              "total": sum(logins.values())},
        "load_average": _env.machine()["load_average"],
    }


def _workers_cpu(workers: list[_workers.Worker]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for w in workers:
        try:
            root = psutil.Process(w.popen.pid)
        except psutil.Error:
            continue
        for kind, seconds in _tree_cpu(root).items():
            totals[kind] = totals.get(kind, 0.0) + seconds
    totals.pop("gone", None)
    return totals


def _regime_summary(reps: list[dict], regime: str, cores: int) -> dict:
    one = _env.summary([r["one"][regime]["clinics_per_minute"] for r in reps], 2)
    two = _env.summary([r["two"][regime]["clinics_per_minute"] for r in reps], 2)
    ratio = _env.summary([r["two"][regime]["clinics_per_minute"] / r["one"][regime]["clinics_per_minute"]
                          for r in reps], 3)
    cpu = _env.summary([r[k][regime]["worker_cpu_s_per_clinic"] for r in reps for k in ("one", "two")], 3)
    kinds = sorted({kd for r in reps for k in ("one", "two") for kd in r[k][regime]["worker_cpu_s_per_clinic_by_kind"]})
    by_kind = {kind: _env.summary([r[k][regime]["worker_cpu_s_per_clinic_by_kind"].get(kind, 0.0)
                                   for r in reps for k in ("one", "two")], 3) for kind in kinds}
    ceiling = cores / max(cpu["median"], 1e-3) * 60
    share = two["median"] / ceiling
    top = max(by_kind, key=lambda kind: by_kind[kind]["median"]) if by_kind else None
    logins = [r[k][regime]["logins_per_clinic"] for r in reps for k in ("one", "two")]
    return {
        "one_worker_clinics_per_minute": one, "two_workers_clinics_per_minute": two, "scaling_ratio": ratio,
        "worker_cpu_s_per_clinic": cpu, "worker_cpu_s_per_clinic_by_kind": by_kind,
        "cpu_bound_ceiling_clinics_per_minute": round(ceiling, 1),
        "two_workers_share_of_ceiling": round(share, 3),
        "cpu_bound": share >= CPU_BOUND_SHARE,
        "top_cpu_process_kind": top,
        "logins_per_clinic": {"min": min(x["min"] for x in logins), "max": max(x["max"] for x in logins),
                              "total": sum(x["total"] for x in logins)},
        "not_completed": sum(r[k][regime]["not_completed"] for r in reps for k in ("one", "two")),
    }


def run(clinics: int, runs: int, concurrency: int, latency_ms: float, per_day: int, *, smoke: bool,
        login_runs: int, logins: int, only_logins: bool, warm_latency_ms: float | None = None) -> dict:
    latencies = {"cold": latency_ms, "warm": latency_ms if warm_latency_ms is None else warm_latency_ms}
    login = run_logins(login_runs, logins) if login_runs > 0 else None
    logins_report = _env.envelope("scale_out", smoke=smoke, login_cpu=login, only_logins=True)
    if only_logins:
        return logins_report
    if login is not None:  # kept even if the scale-out part fails
        _env.write_results("scale_out-logins", logins_report)
    _env.flushed_redis()
    sim = SimulatorProcess(port=_workers.free_port(), seed=42, clinics=clinics, latency_ms=latency_ms,
                           appointments_per_day=per_day)
    reps = []
    try:
        with _env.scratch_database() as url:
            store = PostgresStore(url, min_size=1, max_size=4)
            cluster = _workers.Cluster(database_url=url, simulator_url=sim.url, store=store)
            try:
                for i in range(runs):
                    one = measure(cluster, sim, workers=1, concurrency=concurrency, label=f"r{i}-one",
                                  latency_ms=latencies)
                    two = measure(cluster, sim, workers=2, concurrency=concurrency, label=f"r{i}-two",
                                  latency_ms=latencies)
                    reps.append({"one": one, "two": two,
                                 "ratio": {g: round(two[g]["clinics_per_minute"] / one[g]["clinics_per_minute"], 3)
                                           for g in REGIMES},
                                 "load_average": _env.machine()["load_average"]})
                    _env.say(f"run {i + 1}/{runs}: " + "; ".join(
                        f"{g}: 1 worker {one[g]['clinics_per_minute']}/min, 2 workers "
                        f"{two[g]['clinics_per_minute']}/min, ratio {reps[-1]['ratio'][g]}" for g in REGIMES))
            finally:
                cluster.stop_all()
                store.close()
    finally:
        sim.stop()
        _env.flushed_redis()
    cores = os.cpu_count() or 1
    regimes = {g: _regime_summary(reps, g, cores) for g in REGIMES}
    cold, warm = regimes["cold"], regimes["warm"]
    return _env.envelope(
        "scale_out", smoke=smoke, clinics=clinics, concurrency=concurrency, latency_ms=latency_ms,
        latency_ms_by_regime=latencies,
        appointments_per_day=per_day, options=OPTIONS, runs=runs, login_cpu=login, regimes=regimes,
        # the cold regime under the names the first version of this report used
        one_worker_clinics_per_minute=cold["one_worker_clinics_per_minute"],
        two_workers_clinics_per_minute=cold["two_workers_clinics_per_minute"],
        scaling_ratio=cold["scaling_ratio"], logins_per_clinic=cold["logins_per_clinic"],
        not_completed=cold["not_completed"] + warm["not_completed"],
        goal_warm_ratio=warm["scaling_ratio"]["median"] >= 1.8,
        goal_one_login=cold["logins_per_clinic"]["min"] == 1 and cold["logins_per_clinic"]["max"] == 1,
        goal_warm_no_login=warm["logins_per_clinic"]["total"] == 0,
        repetitions=reps,
    )


def _print_logins(login: dict) -> None:
    kinds = sorted({k for v in login["variants"].values() for k in v["cpu_ms_per_login_by_kind"]})
    fmt = lambda s: f"{s['median']:.0f} [{s['min']:.0f}–{s['max']:.0f}]"  # noqa: E731
    _env.print_table(
        f"login CPU: {login['logins_per_run']} logins per run, warm browser, new context per login, "
        f"{login['runs']} runs (ms per login, median [min–max])",
        ["browser", *kinds, "wall"],
        [[label, *[fmt(v["cpu_ms_per_login_by_kind"][k]) if k in v["cpu_ms_per_login_by_kind"] else "" for k in kinds],
          fmt(v["wall_ms_per_login"])] for label, v in login["variants"].items()],
    )
    if "chromium_over_headless_shell" in login:
        r = login["chromium_over_headless_shell"]
        _env.say(f"Chromium CPU per login, chromium ÷ headless shell: {r['median']:.2f}× "
                 f"[{r['min']:.2f}–{r['max']:.2f}] (goal ≥ 3×: {'met' if login['goal_3x'] else 'NOT met'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2, help="--concurrency of each worker")
    parser.add_argument("--latency-ms", type=float, default=250, help="the simulator's latency, cold regime")
    parser.add_argument("--warm-latency-ms", type=float, default=1000, help="the simulator's latency, warm regime")
    parser.add_argument("--appointments-per-day", type=int, default=4)
    parser.add_argument("--login-runs", type=int, default=5, help="runs of the login-CPU comparison (0: skip it)")
    parser.add_argument("--logins", type=int, default=10, help="logins per browser per login run")
    parser.add_argument("--only-logins", action="store_true", help="the login-CPU comparison alone")
    parser.add_argument("--smoke", action="store_true", help="tiny: 2 clinics, 1 run, concurrency 1, 5 ms")
    args = parser.parse_args(argv)
    if args.smoke:
        clinics, runs, conc, latency, per_day, login_runs, logins = 2, 1, 1, 5.0, 2, 1, 2
        warm_latency = 5.0
    else:
        clinics, runs, conc, latency, per_day = (args.clinics, max(5, args.runs), args.concurrency,
                                                 args.latency_ms, args.appointments_per_day)
        login_runs, logins, warm_latency = args.login_runs, args.logins, args.warm_latency_ms
    report = run(clinics, runs, conc, latency, per_day, smoke=args.smoke, login_runs=login_runs, logins=logins,
                 only_logins=args.only_logins, warm_latency_ms=warm_latency)
    _env.print_machine(report)
    if report.get("login_cpu"):
        _print_logins(report["login_cpu"])
    if args.only_logins:
        _env.write_results("scale_out-logins", report)
        return 0
    fmt = lambda s: f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}]"  # noqa: E731
    rows = []
    for regime, r in report["regimes"].items():
        rows.append([regime, "1", fmt(r["one_worker_clinics_per_minute"]), "1.00", "", ""])
        rows.append([regime, "2", fmt(r["two_workers_clinics_per_minute"]), fmt(r["scaling_ratio"]),
                     f"{r['cpu_bound_ceiling_clinics_per_minute']:.0f} ({r['two_workers_share_of_ceiling']:.0%})",
                     f"{r['logins_per_clinic']['min']}–{r['logins_per_clinic']['max']}"])
    _env.print_table(
        f"scale-out: {clinics} clinics, full sync each, --concurrency {conc}, latency {latency} ms cold, "
        f"{report['latency_ms_by_regime']['warm']} ms warm, {runs} runs (median [min–max])",
        ["regime", "workers", "clinics/min", "scaling ratio", "CPU-bound ceiling (2 workers' share)",
         "logins per clinic"],
        rows,
    )
    for regime, r in report["regimes"].items():
        verdict = (f"CPU-bound ({r['two_workers_share_of_ceiling']:.0%} of the ceiling): "
                   f"{r['top_cpu_process_kind']} burns most" if r["cpu_bound"]
                   else f"latency-bound ({r['two_workers_share_of_ceiling']:.0%} of the ceiling)")
        _env.say(f"{regime}: worker CPU per clinic {r['worker_cpu_s_per_clinic']['median']:.3f} s (median) → "
                 f"ceiling {r['cpu_bound_ceiling_clinics_per_minute']:.0f} clinics/min on "
                 f"{report['machine']['cores']} cores with the machine to ourselves; {verdict}; by kind: "
                 + ", ".join(f"{kind} {v['median']:.3f}" for kind, v in r["worker_cpu_s_per_clinic_by_kind"].items()))
    _env.say(f"load average at the repetitions' ends: {[r['load_average'][0] for r in report['repetitions']]}")
    _env.say(f"goals: warm ratio ≥ 1.8 {'met' if report['goal_warm_ratio'] else 'NOT met'}; "
             f"exactly one login per clinic (cold) {'met' if report['goal_one_login'] else 'NOT met'}; "
             f"no login when warm {'met' if report['goal_warm_no_login'] else 'NOT met'}; "
             f"{report['not_completed']} syncs not completed")
    _env.write_results("scale_out", report)
    return 0 if report["not_completed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
