"""The API against its own framework: ``GET /health``, authenticated reads and enqueues, driven by wrk.

    python -m bench.api_enqueue [--runs 5] [--duration 10] [--connections 16] [--clinics-per-run 12000]
                                [--workers 2] [--threads 8] [--smoke]

A fresh migrated database and a flushed Redis db (bench/_env.py); ``clinics`` clinics, each with
its own API key (written with COPY); gunicorn on 127.0.0.1 as ``pims-sync api`` runs it; then
``runs`` times three wrk phases of ``duration`` seconds each at ``connections`` connections, one
after the other on the same server, so each run's ratios compare like with like (the report
gives every run and the median):

* ``GET /health`` — the framework's own cost (no dependency touched);
* ``GET /api/sync/history`` — authenticated reads, keys rotated over the first ``--read-keys`` keys;
* ``POST /api/sync/inbound`` — one enqueue per clinic (each key once: a second sync of a queued
  clinic is a 409, and no worker drains the queue here).

The ratios to ``/health`` use the answers below 400 per second: a 503 ``server_busy`` (BusyLimit,
api/fail_fast.py) is answered fast and would flatter an overloaded server. Any answer of 400 or
more makes the run exit 1, with the statuses wrk counted.

wrk is a C load generator (Debian's ``wrk``); bench/wrk/api.lua rotates the keys and prints its
result as JSON. For each phase the report has the requests per second, the latency percentiles
(wrk's, corrected for coordinated omission), the CPU the API used per request (utime + stime of
the gunicorn master and workers from /proc), wrk's own CPU, the CPU of the API's Postgres
backends and of Redis, and the Redis commands per request (INFO commandstats delta; Redis is
server-wide, so use a redis-server of your own). A last, separate pass counts the network round
trips of single requests exactly, through a counting TCP relay in front of Postgres and Redis
(the relay costs CPU, so it never runs during the timed phases). pg_stat_database's transaction
counts are not used: an active backend reports them up to 10 s late.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psutil
import psycopg
import redis
import requests

from pims_sync.apikeys import generate_api_key
from pims_sync.cli.api_cmd import gunicorn_argv

from . import _env

NAME = "api_enqueue"
LUA = _env.ROOT / "bench" / "wrk" / "api.lua"
ENQUEUE_PATH, READ_PATH = "/api/sync/inbound", "/api/sync/history"
ENQUEUE_BODY = '{"daysAhead": 1}'
WARMUP_KEYS = 64  # enqueues before the clock starts: each worker imports the Celery app once


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench.api_enqueue needs wrk (a C HTTP load generator): apt-get install wrk")
    return found


def seed_keys(database_url: str, clinics: int) -> list[str]:
    """``clinics`` clinics with one key each, by COPY (a row-by-row seed would dwarf the run)."""
    keys, clinic_rows, key_rows = [], [], []
    for i in range(clinics):
        clinic_id = uuid.uuid4()
        key = generate_api_key(env="bench")
        clinic_rows.append((clinic_id, f"Bench clinic {i}", "America/New_York"))
        key_rows.append((clinic_id, "bench", key.key_prefix, key.key_hash))
        keys.append(key.key)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        with cur.copy("copy clinics (id, name, timezone) from stdin") as copy:
            for row in clinic_rows:
                copy.write_row(row)
        with cur.copy("copy clinic_api_keys (clinic_id, name, key_prefix, key_hash) from stdin") as copy:
            for row in key_rows:
                copy.write_row(row)
    return keys


def analyze_runs(database_url: str) -> None:
    """Fresh planner statistics for the table the enqueues grow, as autovacuum's autoanalyze keeps
    them on a production database. Without them (a cluster with autovacuum off, as on the machine
    of docs/PERFORMANCE.md) the plans cached while the table was empty keep scanning all of it as
    it grows, and the reads slowed run after run (§3)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("analyze pims_sync_runs")


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
                if requests.get(f"{base}/ready", timeout=10).status_code == 200 and len(api_pids(proc)) > workers:
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


def api_pids(proc: subprocess.Popen) -> list[int]:
    try:
        master = psutil.Process(proc.pid)
        return [master.pid, *(p.pid for p in master.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def cpu_s(pids: list[int]) -> float:
    """utime + stime of these processes (from /proc/<pid>/stat), in seconds."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


class Counters:
    """What Postgres and Redis did, read before and after a phase."""

    def __init__(self, database_url: str, redis_client: redis.Redis):
        self.db = urlparse(database_url).path.lstrip("/")
        self.admin = psycopg.connect(_env.admin_url(), autocommit=True)  # another database: not counted
        self.redis = redis_client

    def close(self) -> None:
        self.admin.close()

    def read(self) -> dict:
        backends = [r[0] for r in self.admin.execute(
            "select pid from pg_stat_activity where datname = %s", (self.db,)).fetchall()]
        commands = {name.removeprefix("cmdstat_"): stats["calls"]
                    for name, stats in self.redis.info("commandstats").items()}
        cpu = self.redis.info("cpu")
        return {"pg_cpu_s": cpu_s(backends), "pg_backends": backends,
                "redis_commands": commands,
                "redis_cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])}


def run_wrk(base: str, *, method: str, path: str, keys_file: str, once: bool, duration_s: float,
            connections: int, threads: int, body: str = "") -> dict:
    """One wrk run; its done() JSON plus wrk's own CPU (from wait4's rusage)."""
    argv = [wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
            "--timeout", "10s", "--latency", "-s", str(LUA), base,
            "--", method, path, keys_file, str(threads), "once" if once else "repeat", body]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: the caller takes deltas
    if proc.returncode != 0:
        raise SystemExit(f"wrk exited {proc.returncode}: {err.strip() or out.strip()}")
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result line (bench/wrk/api.lua's done()):\n{out}\n{err}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["children_cpu_s"] = usage.ru_utime + usage.ru_stime
    result["text"] = out
    return result


def phase(name: str, base: str, api: list[int], counters: Counters, **wrk_args) -> dict:
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_api, before = cpu_s(api), counters.read()
    result = run_wrk(base, **wrk_args)
    after_api, after = cpu_s(api), counters.read()
    n = max(1, result["requests"])
    seconds = result["duration_us"] / 1e6
    lat = result["latency_us"]
    commands = Counter(after["redis_commands"])
    commands.subtract(before["redis_commands"])
    wrk_cpu = result["children_cpu_s"] - (before_children.ru_utime + before_children.ru_stime)
    pg_cpu = after["pg_cpu_s"] - before["pg_cpu_s"]  # the API's pool keeps its backends
    return {
        "phase": name,
        "requests": result["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(result["requests"] / seconds, 1),
        # what counts: a 503 server_busy is answered fast and would flatter an overloaded server
        "ok_per_s": round((result["requests"] - result["errors"]["status"]) / seconds, 1),
        "non_2xx_3xx": result["errors"]["status"],
        "statuses": result["statuses"],
        "socket_errors": {k: v for k, v in result["errors"].items() if k != "status" and v},
        "threads_out_of_keys": result["threads_out_of_keys"],
        "latency_ms": {k: round(lat[k] / 1000, 2) for k in ("p50", "p90", "p99", "p99_9", "max", "mean")},
        "api_cpu_ms_per_request": round((after_api - before_api) * 1000 / n, 3),
        "api_cpu_cores": round((after_api - before_api) / seconds, 2),
        "wrk_cpu_ms_per_request": round(wrk_cpu * 1000 / n, 3),
        "wrk_cpu_cores": round(wrk_cpu / seconds, 2),
        "postgres_cpu_ms_per_request": round(pg_cpu * 1000 / n, 3),
        "redis_cpu_ms_per_request": round((after["redis_cpu_s"] - before["redis_cpu_s"]) * 1000 / n, 3),
        "redis_commands_per_request": round(sum(v for v in commands.values() if v > 0) / n, 3),
        "redis_commands": {k: round(v / n, 3) for k, v in sorted(commands.items()) if v > 0},
        "wrk_output": result["text"],
    }


# --- exact round trips: a counting TCP relay, used only by the untimed last pass ---------------

class RoundTrips:
    """A TCP relay that counts round trips: each time a client writes after the server answered.

    libpq and redis-py send a request (or a pipeline) and wait for the answer, so a client write
    that follows a server write starts a round trip.
    """

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.count = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="round-trip-relay", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        state = {"last": "server"}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    if side == "client" and state["last"] == "server":
                        self.count += 1
                    state["last"] = side
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()  # the other direction's read then ends too

        with contextlib.suppress(asyncio.CancelledError):  # close() cancels: not an error
            await asyncio.gather(pump(client_r, server_w, "client"), pump(server_r, client_w, "server"))

    def close(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(10)


def _via(url: str, port: int) -> str:
    parsed = urlparse(url)
    netloc = parsed.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunparse(parsed._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def count_round_trips(database_url: str, redis_url: str, keys: list[str], *, samples: int) -> dict:
    """Round trips per request to Postgres and Redis, one request at a time, in this process."""
    from api.app import create_app
    from pims_sync.config import Settings

    pg, rd = urlparse(database_url), urlparse(redis_url)
    pg_relay = RoundTrips(pg.hostname or "127.0.0.1", pg.port or 5432)
    redis_relay = RoundTrips(rd.hostname or "127.0.0.1", rd.port or 6379)
    env = {**os.environ, "DATABASE_URL": _via(database_url, pg_relay.port),
           "REDIS_URL": _via(redis_url, redis_relay.port), "APP_ENV": "production"}
    app = create_app(Settings.from_env(env))
    client = app.test_client()
    out = {}
    try:
        for name, method, path, these in (
            ("reads", "get", READ_PATH, keys[:samples]),
            ("reads_repeated_key", "get", READ_PATH, [keys[0]] * samples),
            ("enqueue", "post", ENQUEUE_PATH, keys[-samples:]),
        ):
            # one request first: pools connect, the Celery app loads
            getattr(client, method)(path, headers={"X-API-Key": these[0]},
                                    **({"data": ENQUEUE_BODY, "content_type": "application/json"}
                                       if method == "post" else {}))
            pg0, rd0 = pg_relay.count, redis_relay.count
            statuses = Counter()
            for key in these[1:]:
                r = getattr(client, method)(path, headers={"X-API-Key": key},
                                            **({"data": ENQUEUE_BODY, "content_type": "application/json"}
                                               if method == "post" else {}))
                statuses[r.status_code] += 1
            n = len(these) - 1
            out[name] = {"requests": n, "statuses": {str(k): v for k, v in statuses.items()},
                         "postgres": round((pg_relay.count - pg0) / n, 2),
                         "redis": round((redis_relay.count - rd0) / n, 2)}
    finally:
        app.extensions["pims_sync"].close()
        app.extensions["pims_sync"].store.close()
        pg_relay.close()
        redis_relay.close()
    return out


@contextlib.contextmanager
def keys_file(keys: list[str]) -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", prefix="pims-bench-keys-", suffix=".txt", delete=False) as f:
        f.write("\n".join(keys) + "\n")
    try:
        yield f.name
    finally:
        Path(f.name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_enqueue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1 is plenty on 2 cores)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the three phases (median reported)")
    parser.add_argument("--clinics-per-run", type=int, default=12000,
                        help="keys each run's enqueue may use (each once: more than req/s x duration)")
    parser.add_argument("--read-keys", type=int, default=1000, help="keys the read phase rotates over")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument("--round-trip-samples", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI (one run, 1 s phases, 4 connections)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.duration, args.clinics_per_run, args.connections = 1, 1, 3000, 4
        args.read_keys, args.round_trip_samples = 100, 5
    clinics = WARMUP_KEYS + args.runs * args.clinics_per_run + 2 * args.round_trip_samples + 20
    wrk_path()  # fail before seeding when it is missing

    redis_url = _env.bench_redis_url()
    phases: list[dict] = []
    with _env.scratch_database() as database_url:
        rclient = _env.flushed_redis()
        _env.say(f"seeding {clinics} clinics and keys ...")
        keys = seed_keys(database_url, clinics)
        warm, reads, spare = keys[:WARMUP_KEYS], keys[:args.read_keys], keys[-(2 * args.round_trip_samples + 20):]
        per_run = [keys[WARMUP_KEYS + i * args.clinics_per_run:WARMUP_KEYS + (i + 1) * args.clinics_per_run]
                   for i in range(args.runs)]
        proc, base = start_gunicorn(database_url, redis_url, workers=args.workers, threads=args.threads)
        counters = Counters(database_url, rclient)
        common = {"connections": args.connections, "threads": args.wrk_threads}
        try:
            api = api_pids(proc)
            with keys_file(warm) as warm_file, keys_file(reads) as read_file:
                # warm-up, untimed: connections, pools, the Celery app in each worker
                run_wrk(base, method="GET", path=READ_PATH, keys_file=read_file, once=False, duration_s=1, **common)
                run_wrk(base, method="POST", path=ENQUEUE_PATH, keys_file=warm_file, once=True, duration_s=1,
                        body=ENQUEUE_BODY, **common)
                for run, run_keys in enumerate(per_run, 1):
                    analyze_runs(database_url)
                    _env.say(f"run {run}/{args.runs}: GET /health, GET {READ_PATH}, POST {ENQUEUE_PATH} ...")
                    with keys_file(run_keys) as enq_file:
                        for name, wrk_args in (
                            ("health", {"method": "GET", "path": "/health", "keys_file": "-", "once": False}),
                            ("reads", {"method": "GET", "path": READ_PATH, "keys_file": read_file, "once": False}),
                            ("enqueue", {"method": "POST", "path": ENQUEUE_PATH, "keys_file": enq_file, "once": True,
                                         "body": ENQUEUE_BODY}),
                        ):
                            measured = phase(name, base, api, counters, duration_s=args.duration, **wrk_args,
                                             **common)
                            phases.append({"run": run, **measured})
        finally:
            counters.close()
            stop(proc)
        _env.say("counting round trips per request (one at a time, through a relay) ...")
        round_trips = count_round_trips(database_url, redis_url, spare, samples=args.round_trip_samples)
        _env.flushed_redis().close()

    runs = [{p["phase"]: p for p in phases if p["run"] == run} for run in range(1, args.runs + 1)]
    for by in runs:
        for p in by.values():
            p["over_health"] = round(p["ok_per_s"] / by["health"]["ok_per_s"], 3)
    medians = {
        name: {measure: _env.summary([by[name][measure] if "." not in measure else
                                      by[name][measure.split(".")[0]][measure.split(".")[1]] for by in runs])
               for measure in ("requests_per_s", "ok_per_s", "over_health", "latency_ms.p50", "latency_ms.p99",
                               "api_cpu_ms_per_request", "wrk_cpu_ms_per_request", "postgres_cpu_ms_per_request",
                               "redis_cpu_ms_per_request", "redis_commands_per_request")}
        for name in ("health", "reads", "enqueue")
    }
    result = {
        "runs": [{name: {k: v for k, v in p.items() if k not in ("phase", "run", "wrk_output")}
                  for name, p in by.items()} for by in runs],
        "median": medians,
        "reads_over_health": medians["reads"]["over_health"]["median"],
        "enqueue_over_health": medians["enqueue"]["over_health"]["median"],
        "round_trips_per_request": round_trips,
    }
    report = _env.envelope(NAME, smoke=args.smoke, config={
        "server": f"gunicorn api.wsgi:app, {args.workers} workers x {args.threads} threads (gthread)",
        "load_generator": f"wrk, {args.wrk_threads} thread(s), {args.connections} connections, "
                          f"{args.duration:g} s per phase, bench/wrk/api.lua",
        "runs": args.runs, "clinics": clinics, "read_keys": args.read_keys, "worker_running": False,
    }, result=result, wrk_output=[{p["phase"]: p["wrk_output"] for p in phases if p["run"] == 1}])
    _env.print_machine(report)
    _env.print_table(
        f"API: {report['config']['server']}; {report['config']['load_generator']}",
        ["run", "phase", "req/s", "ok/s (<400)", "÷ /health", "p50 ms", "p99 ms", "≥ 400", "API CPU ms/req", "wrk CPU ms/req",
         "PG CPU ms/req", "Redis CPU ms/req", "Redis cmds/req"],
        [[p["run"], p["phase"], p["requests_per_s"], p["ok_per_s"], p["over_health"], p["latency_ms"]["p50"],
          p["latency_ms"]["p99"], p["non_2xx_3xx"], p["api_cpu_ms_per_request"], p["wrk_cpu_ms_per_request"],
          p["postgres_cpu_ms_per_request"], p["redis_cpu_ms_per_request"], p["redis_commands_per_request"]]
         for p in phases],
    )
    _env.print_table(
        f"Median of {args.runs} run(s)",
        ["phase", "req/s", "ok/s (<400)", "÷ /health", "p50 ms", "p99 ms", "API CPU ms/req", "wrk CPU ms/req"],
        [[name, m["requests_per_s"]["median"], m["ok_per_s"]["median"], m["over_health"]["median"], m["latency_ms.p50"]["median"],
          m["latency_ms.p99"]["median"], m["api_cpu_ms_per_request"]["median"], m["wrk_cpu_ms_per_request"]["median"]]
         for name, m in medians.items()],
    )
    _env.print_table("Round trips per request (one request at a time, counted by a relay)",
                     ["request", "Postgres", "Redis", "statuses"],
                     [[k, v["postgres"], v["redis"], v["statuses"]] for k, v in round_trips.items()])
    _env.write_results(NAME, report)
    problems = []
    for p in phases:
        if p["non_2xx_3xx"] or p["socket_errors"]:
            problems.append(f"run {p['run']}, {p['phase']}: {p['non_2xx_3xx']} answers >= 400 (statuses {p['statuses']}), "
                            f"socket errors {p['socket_errors']}")
        if p["threads_out_of_keys"]:
            problems.append(f"run {p['run']}, {p['phase']}: wrk ran out of keys "
                            "(raise --clinics-per-run above req/s x duration)")
    for name, counted in round_trips.items():
        if set(counted["statuses"]) - {"200", "202"}:
            problems.append(f"round trips, {name}: statuses {counted['statuses']}")
    for problem in problems:
        _env.say(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
