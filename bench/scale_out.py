"""Scale-out: N clinics, one full sync each, through 1 worker process and then through 2.

    python -m bench.scale_out [--clinics 50] [--runs 5] [--concurrency 2] [--latency-ms 250] [--smoke]

Real pieces: ``celery -A workers.app worker`` subprocesses (prefork, the same --concurrency
each), workers.enqueue.enqueue_sync (the API's path), Redis (BENCH_REDIS_URL, flushed), a
scratch Postgres database, the simulator in its own process, Chromium logins.

Each repetition runs the 1-worker case and then the 2-worker case on fresh workers (each
pool process launches its Chromium on its first login, in both cases), with fresh store clinics
(so every clinic needs exactly one login: the shared Redis session cache must make the other
phases reuse it). The scaling ratio is computed per repetition, from two measurements taken
minutes apart, and its median is reported.

The simulator latency is high on purpose: this machine has two cores, and a Chromium login
costs CPU; with enough latency the run is latency-bound, which is what a PIMS sync is.
"""

from __future__ import annotations

import argparse
import sys
import time

import psutil
import requests

from pims_sync.simulator.server import SimulatorProcess
from pims_sync.store.postgres import PostgresStore

from . import _env, _workers

OPTIONS = {"lookbackDays": 1, "daysAhead": 1, "parallelBatchSize": 5}


def measure(cluster: _workers.Cluster, sim: SimulatorProcess, *, workers: int, concurrency: int, label: str) -> dict:
    started_workers = cluster.start_many([f"{label}-w{i}" for i in range(workers)], concurrency=concurrency)
    try:
        clinics = [cluster.add_clinic(c, f"{label} {c['id']}") for c in sim.clinics]
        before = requests.get(f"{sim.url}/__sim/stats", timeout=30).json()
        started = time.perf_counter()
        sync_ids = [cluster.enqueue(c.id, OPTIONS).sync_id for c in clinics]
        statuses = cluster.wait_all(sync_ids, timeout_s=60 + 30 * len(clinics))
        elapsed = time.perf_counter() - started
        after = requests.get(f"{sim.url}/__sim/stats", timeout=30).json()
        by_kind: dict[str, float] = {}
        for w in started_workers:
            for kind, seconds in _cpu_by_kind(w).items():
                by_kind[kind] = by_kind.get(kind, 0.0) + seconds
        cpu_s = sum(by_kind.values())
    finally:
        for w in started_workers:
            w.stop()
        cluster.workers.clear()
    logins = {c["id"]: after["logins"].get(c["id"], 0) - before["logins"].get(c["id"], 0) for c in sim.clinics}
    failed = [s for s in statuses.values() if s != "completed"]
    return {
        "workers": workers,
        "concurrency": concurrency,
        "clinics": len(clinics),
        "elapsed_s": round(elapsed, 3),
        "clinics_per_minute": round(len(clinics) / elapsed * 60, 2),
        "not_completed": len(failed),
        # CPU the worker trees (Python, Playwright driver, Chromium) burnt: with C cores, the
        # CPU-bound ceiling is C / cpu_s_per_clinic clinics per second, whatever the latency
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_s_per_clinic": round(cpu_s / len(clinics), 3),
        # where that CPU went, per process kind: the profile of a CPU-bound run
        "worker_cpu_s_per_clinic_by_kind": {k: round(v / len(clinics), 3) for k, v in sorted(by_kind.items())},
        "logins_per_clinic": {"min": min(logins.values()), "max": max(logins.values()),
                              "total": sum(logins.values())},
    }


def _cpu_by_kind(worker: _workers.Worker) -> dict[str, float]:
    """CPU seconds of the worker's process tree, by kind: celery (Python), playwright driver, chromium."""
    totals: dict[str, float] = {}
    for p in worker.tree():
        try:
            t = p.cpu_times()
            name = " ".join(p.cmdline()[:2]).lower() or p.name().lower()
        except psutil.Error:
            continue
        kind = "chromium" if "chrom" in name else "playwright driver" if "node" in name else "celery (python)"
        totals[kind] = totals.get(kind, 0.0) + t.user + t.system + t.children_user + t.children_system
    return totals


def run(clinics: int, runs: int, concurrency: int, latency_ms: float, per_day: int, *, smoke: bool) -> dict:
    _env.flushed_redis()
    sim = _workers_sim(clinics, latency_ms, per_day)
    reps = []
    try:
        with _env.scratch_database() as url:
            store = PostgresStore(url, min_size=1, max_size=4)
            cluster = _workers.Cluster(database_url=url, simulator_url=sim.url, store=store)
            try:
                for i in range(runs):
                    one = measure(cluster, sim, workers=1, concurrency=concurrency, label=f"r{i}-one")
                    two = measure(cluster, sim, workers=2, concurrency=concurrency, label=f"r{i}-two")
                    reps.append({"one": one, "two": two,
                                 "ratio": round(two["clinics_per_minute"] / one["clinics_per_minute"], 3),
                                 "load_average": _env.machine()["load_average"]})
                    _env.say(f"run {i + 1}/{runs}: 1 worker {one['clinics_per_minute']}/min, "
                             f"2 workers {two['clinics_per_minute']}/min, ratio {reps[-1]['ratio']}")
            finally:
                cluster.stop_all()
                store.close()
    finally:
        sim.stop()
        _env.flushed_redis()
    one_cpm = _env.summary([r["one"]["clinics_per_minute"] for r in reps], 2)
    two_cpm = _env.summary([r["two"]["clinics_per_minute"] for r in reps], 2)
    ratio = _env.summary([r["ratio"] for r in reps], 3)
    logins = [r[k]["logins_per_clinic"] for r in reps for k in ("one", "two")]
    cpu = _env.summary([r[k]["worker_cpu_s_per_clinic"] for r in reps for k in ("one", "two")], 3)
    return _env.envelope(
        "scale_out", smoke=smoke, clinics=clinics, concurrency=concurrency, latency_ms=latency_ms,
        appointments_per_day=per_day, options=OPTIONS, runs=runs,
        one_worker_clinics_per_minute=one_cpm, two_workers_clinics_per_minute=two_cpm, scaling_ratio=ratio,
        logins_per_clinic={"min": min(x["min"] for x in logins), "max": max(x["max"] for x in logins)},
        not_completed=sum(r[k]["not_completed"] for r in reps for k in ("one", "two")),
        worker_cpu_s_per_clinic=cpu,
        worker_cpu_s_per_clinic_by_kind={
            kind: _env.summary([r[k]["worker_cpu_s_per_clinic_by_kind"].get(kind, 0.0)
                                for r in reps for k in ("one", "two")], 3)
            for kind in sorted({kd for r in reps for k in ("one", "two")
                                for kd in r[k]["worker_cpu_s_per_clinic_by_kind"]})
        },
        goal_ratio=ratio["median"] >= 1.8,
        goal_one_login=all(x["min"] == 1 and x["max"] == 1 for x in logins),
        repetitions=reps,
    )


def _workers_sim(clinics: int, latency_ms: float, per_day: int) -> SimulatorProcess:
    return SimulatorProcess(port=_workers.free_port(), seed=42, clinics=clinics, latency_ms=latency_ms,
                            appointments_per_day=per_day)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2, help="--concurrency of each worker")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--appointments-per-day", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="tiny: 2 clinics, 1 run, concurrency 1, 5 ms")
    args = parser.parse_args(argv)
    if args.smoke:
        clinics, runs, conc, latency, per_day = 2, 1, 1, 5.0, 2
    else:
        clinics, runs, conc, latency, per_day = (args.clinics, max(5, args.runs), args.concurrency,
                                                 args.latency_ms, args.appointments_per_day)
    report = run(clinics, runs, conc, latency, per_day, smoke=args.smoke)
    _env.print_machine(report)
    fmt = lambda s: f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}]"  # noqa: E731
    _env.print_table(
        f"scale-out: {clinics} clinics, full sync each, --concurrency {conc}, latency {latency} ms, "
        f"{runs} runs (median [min–max])",
        ["workers", "clinics/min", "scaling ratio", "logins per clinic"],
        [
            ["1", fmt(report["one_worker_clinics_per_minute"]), "1.00", ""],
            ["2", fmt(report["two_workers_clinics_per_minute"]), fmt(report["scaling_ratio"]),
             f"{report['logins_per_clinic']['min']}–{report['logins_per_clinic']['max']}"],
        ],
    )
    _env.say(f"worker CPU per clinic {report['worker_cpu_s_per_clinic']['median']:.2f} s (median): on "
             f"{report['machine']['cores']} cores the CPU-bound ceiling is "
             f"{report['machine']['cores'] / report['worker_cpu_s_per_clinic']['median'] * 60:.0f} clinics/min "
             f"with the machine to ourselves; load average during the runs "
             f"{[r['load_average'][0] for r in report['repetitions']]}")
    _env.say("worker CPU per clinic by process kind (median s): " + ", ".join(
        f"{kind} {v['median']:.2f}" for kind, v in report["worker_cpu_s_per_clinic_by_kind"].items()))
    _env.say(f"goals: ratio ≥ 1.8 {'met' if report['goal_ratio'] else 'NOT met'}; "
             f"exactly one login per clinic {'met' if report['goal_one_login'] else 'NOT met'}; "
             f"{report['not_completed']} syncs not completed")
    _env.write_results("scale_out", report)
    return 0 if report["not_completed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
