"""A worker's memory: idle, with Chromium up, after the idle browser closes, and over 200 syncs.

    python -m bench.memory [--syncs 200] [--runs 1] [--idle-close-s 3] [--smoke]

One real ``celery -A workers.app worker --concurrency 1`` (the parent, one pool process, and
when a login needs it the Playwright driver and Chromium), BROWSER_IDLE_CLOSE_S short so the
pool's idle close can be watched. RSS and PSS (psutil memory_full_info; PSS splits shared
pages fairly, so the tree's sum is not inflated by Chromium's shared memory) are summed over
the whole process tree and split into python (worker + pool), driver (Playwright's node) and
chromium.

The sync loop runs full syncs one after another, rotating over the simulator's clinics; at
every checkpoint the simulator's sessions are expired so the next syncs log in again, which
exercises the browser's relaunch path too. Memory is sampled after the browser has been closed
for idleness at each checkpoint, so the curve compares like with like. The idle close also stops
Playwright's driver (workers/browser_pool.py): the report says whether any driver process was
left after it (``driver_left_after_idle_close``, which must be 0).

``--runs N`` repeats the whole measurement on fresh workers and reports the median (and range)
of each state's PSS.
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
MB = 2**20


def _kind(p: psutil.Process, root_pid: int) -> str:
    try:
        name = p.name().lower()
        cmd = " ".join(p.cmdline()).lower()
    except psutil.Error:
        return "gone"
    if "chrom" in name or "headless_shell" in name:  # Debian's wrapper script's process too (named after it)
        return "chromium"
    if "node" in name or "playwright" in cmd and "driver" in cmd:
        return "driver"
    return "python"


def snapshot(worker: _workers.Worker) -> dict:
    """RSS/PSS in MB by kind over the worker's process tree."""
    out: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for p in worker.tree():
        kind = _kind(p, worker.popen.pid)
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        agg = out.setdefault(kind, {"rss_mb": 0.0, "pss_mb": 0.0})
        agg["rss_mb"] += info.rss / MB
        agg["pss_mb"] += getattr(info, "pss", info.rss) / MB
        counts[kind] = counts.get(kind, 0) + 1
    total = {"rss_mb": sum(v["rss_mb"] for v in out.values()), "pss_mb": sum(v["pss_mb"] for v in out.values())}
    rounded = {k: {m: round(x, 1) for m, x in v.items()} for k, v in out.items()}
    return {"total": {m: round(x, 1) for m, x in total.items()}, "by_kind": rounded, "processes": counts}


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def settle(predicate, timeout_s: float) -> bool:
    """Wait up to timeout_s for predicate; whether it came true (the report says what is left)."""
    try:
        wait_for(predicate, timeout_s, "")
    except RuntimeError:
        return False
    return True


def run(syncs: int, checkpoints: list[int], idle_close_s: int, *, smoke: bool, runs: int = 1) -> dict:
    """``runs`` measurements on fresh workers; the median run's states up front, PSS summaries beside."""
    bodies = []
    for i in range(runs):
        bodies.append(run_once(syncs, checkpoints, idle_close_s))
        _env.say(f"run {i + 1}/{runs}: PSS idle {bodies[-1]['idle']['total']['pss_mb']} MB, Chromium up "
                 f"{bodies[-1]['chromium_up']['total']['pss_mb']} MB, after the idle close "
                 f"{bodies[-1]['after_idle_close']['total']['pss_mb']} MB")
    ordered = sorted(bodies, key=lambda b: b["after_idle_close"]["total"]["pss_mb"])
    median_run = ordered[(len(ordered) - 1) // 2]
    states = ["idle", "chromium_up", "after_idle_close"]
    pss = {state: _env.summary([b[state]["total"]["pss_mb"] for b in bodies], 1) for state in states}
    pss["last_checkpoint"] = _env.summary([b["curve"][-1]["total"]["pss_mb"] for b in bodies], 1)
    driver_left = max(s["processes"].get("driver", 0)
                      for b in bodies for s in [b["after_idle_close"], *b["curve"]])
    statuses: dict[str, int] = {}
    for b in bodies:
        for status, n in b["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return _env.envelope(
        "memory", smoke=smoke, syncs=syncs, idle_close_s=idle_close_s, concurrency=1, options=OPTIONS,
        runs=runs, pss_mb=pss, driver_left_after_idle_close=driver_left,
        **{**median_run, "statuses": statuses}, all_runs=bodies,
    )


def run_once(syncs: int, checkpoints: list[int], idle_close_s: int) -> dict:
    _env.flushed_redis()
    sim = SimulatorProcess(port=_workers.free_port(), seed=42, clinics=10, latency_ms=0, appointments_per_day=3)
    try:
        with _env.scratch_database() as url:
            store = PostgresStore(url, min_size=1, max_size=2)
            cluster = _workers.Cluster(database_url=url, simulator_url=sim.url, store=store,
                                       BROWSER_IDLE_CLOSE_S=str(idle_close_s))
            try:
                return _measure(cluster, sim, syncs, checkpoints, idle_close_s)
            finally:
                cluster.stop_all()
                store.close()
    finally:
        sim.stop()
        _env.flushed_redis()


def _measure(cluster, sim, syncs, checkpoints, idle_close_s) -> dict:
    worker = cluster.start("mem", concurrency=1)
    clinics = [cluster.add_clinic(c, f"mem {c['id']}") for c in sim.clinics]

    def chromium_up() -> bool:
        return snapshot(worker)["processes"].get("chromium", 0) > 0

    def sync(i: int) -> str:
        clinic = clinics[i % len(clinics)]
        sync_id = cluster.enqueue(clinic.id, OPTIONS).sync_id
        return cluster.wait_all([sync_id], timeout_s=120)[sync_id]

    time.sleep(1.0)  # let the pool process finish importing
    idle = snapshot(worker)
    first = sync(0)
    browser_up = snapshot(worker)
    if not chromium_up():
        raise RuntimeError("no Chromium process under the worker after a sync that logged in")
    wait_for(lambda: not chromium_up(), idle_close_s + 30, "the idle browser to close")
    # the driver is stopped right after the browser, on the same thread: give it a moment
    settle(lambda: snapshot(worker)["processes"].get("driver", 0) == 0, 30)
    closed = snapshot(worker)

    curve, statuses = [], {first: 1}
    done = 1
    for checkpoint in checkpoints:
        while done < checkpoint:
            status = sync(done)
            statuses[status] = statuses.get(status, 0) + 1
            done += 1
        wait_for(lambda: not chromium_up(), idle_close_s + 30, "the idle browser to close")
        settle(lambda: snapshot(worker)["processes"].get("driver", 0) == 0, 30)
        curve.append({"syncs": done, **snapshot(worker)})
        requests.post(f"{sim.url}/__sim/sessions/expire", json={}, timeout=30)  # the next syncs log in again
    growth = curve[-1]["total"]["pss_mb"] - curve[0]["total"]["pss_mb"]
    late_growth = curve[-1]["total"]["pss_mb"] - curve[len(curve) // 2]["total"]["pss_mb"]
    return {
        "idle": idle, "chromium_up": browser_up, "after_idle_close": closed, "curve": curve, "statuses": statuses,
        "pss_growth_first_to_last_mb": round(growth, 1), "pss_growth_second_half_mb": round(late_growth, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=200)
    parser.add_argument("--idle-close-s", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="repeat on fresh workers; medians reported")
    parser.add_argument("--smoke", action="store_true", help="tiny: 4 syncs, idle close after 1 s")
    args = parser.parse_args(argv)
    if args.smoke:
        syncs, checkpoints, idle_close = 4, [2, 4], 1
    else:
        syncs, idle_close = args.syncs, args.idle_close_s
        checkpoints = sorted({c for c in (10, 50, 100, 200) if c < syncs} | {syncs})
    report = run(syncs, checkpoints, idle_close, smoke=args.smoke, runs=1 if args.smoke else max(1, args.runs))
    _env.print_machine(report)

    def row(label: str, s: dict) -> list:
        k = s["by_kind"]
        return [label, s["total"]["rss_mb"], s["total"]["pss_mb"], k.get("python", {}).get("pss_mb", 0.0),
                k.get("driver", {}).get("pss_mb", 0.0), k.get("chromium", {}).get("pss_mb", 0.0),
                sum(s["processes"].values())]

    rows = [row("idle (before any sync)", report["idle"]), row("Chromium up (after 1 sync)", report["chromium_up"]),
            row(f"idle browser closed ({report['idle_close_s']} s)", report["after_idle_close"])]
    rows += [row(f"after {c['syncs']} syncs (browser closed)", c) for c in report["curve"]]
    _env.print_table(f"worker memory, MB (whole process tree; --concurrency 1; the median of {report['runs']} "
                     "runs by PSS after the idle close)",
                     ["state", "RSS", "PSS", "python PSS", "driver PSS", "chromium PSS", "processes"], rows)
    _env.say(f"PSS growth from {report['curve'][0]['syncs']} to {report['curve'][-1]['syncs']} syncs: "
             f"{report['pss_growth_first_to_last_mb']} MB (second half: {report['pss_growth_second_half_mb']} MB); "
             f"sync outcomes {report['statuses']}")
    fmt = lambda s: f"{s['median']} [{s['min']}–{s['max']}]"  # noqa: E731
    _env.say("PSS over all runs, MB (median [min–max]): " + ", ".join(
        f"{state} {fmt(v)}" for state, v in report["pss_mb"].items()))
    _env.say(f"Playwright driver processes left after an idle close: {report['driver_left_after_idle_close']} "
             f"(goal 0: {'met' if report['driver_left_after_idle_close'] == 0 else 'NOT met'})")
    _env.write_results("memory", report)
    return 0 if set(report["statuses"]) == {"completed"} else 1


if __name__ == "__main__":
    sys.exit(main())
