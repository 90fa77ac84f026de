"""What every benchmark shares: a scratch database, a dedicated Redis db, the machine, the output.

* ``scratch_database()`` creates ``pims_bench_<hex>`` on BENCH_DATABASE_ADMIN_URL (default: the
  local trust-auth postgres), migrates it and drops it afterwards, so a run never sees another
  run's rows (and never touches the test database).
* ``bench_redis_url()`` is BENCH_REDIS_URL (default db 12 on the local Redis): benchmarks flush it,
  so it must not be a database anything else uses.
* ``machine()`` records what a reader needs to judge the numbers: cores, memory, load average.
* ``write_results()`` writes bench/results/<name>.json (gitignored); ``print_table()`` prints a
  rich table.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psutil
import psycopg
import redis
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pims_sync.store.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR", ROOT / "bench" / "results"))
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
console = Console(width=None if sys.stdout.isatty() else 160)


def admin_url() -> str:
    return os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)


def bench_redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)


def chromium_path() -> str:
    """The browser the workers would launch (CHROMIUM_PATH, else locate_chromium's headless choice)."""
    from pims_sync.providers.idexx.chromium import locate_chromium

    return locate_chromium(os.environ.get("CHROMIUM_PATH"), headless=True) or "chromium"


@contextlib.contextmanager
def scratch_database(*, migrate: bool = True) -> Iterator[str]:
    """A fresh database for one benchmark run; dropped (forcibly) on the way out."""
    admin = admin_url()
    name = f"pims_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = urlunparse(urlparse(admin)._replace(path=f"/{name}"))
    try:
        if migrate:
            apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def flushed_redis() -> redis.Redis:
    client = redis.Redis.from_url(bench_redis_url())
    client.flushdb()
    return client


def machine() -> dict:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def summary(values: Sequence[float], digits: int = 3) -> dict:
    """Median, min, max (and the samples) of a list of measurements."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": len(values),
        "samples": [round(v, digits) for v in values],
    }


def envelope(name: str, *, smoke: bool, **body) -> dict:
    return {
        "benchmark": name,
        "smoke": smoke,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **body,
    }


def write_results(name: str, report: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-smoke" if report.get("smoke") else ""
    out = RESULTS / f"{name}{suffix}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(f"written: {out}")
    return out


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=escape(title))
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    console.print(table)


def say(text: str) -> None:
    """Print plain text (square brackets are not rich markup here)."""
    console.print(escape(text))


def print_machine(report: dict) -> None:
    m = report["machine"]
    say(f"machine: {m['cores']} cores, {m['memory_gb']} GB, load average {m['load_average']}")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
