"""`pims-sync status | history | health`: what is running, what happened, what is up.

All three read the same sources the API does (audit rows, Redis, the Celery control bus), so
they work from any machine that can reach the database and Redis, with or without the API.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
import requests
from rich.live import Live
from rich.table import Table

from ..sync.options import SYNC_TYPE_NAMES, SyncType
from .connect import celery_app, database_label, load_settings, open_store, redis_client
from .output import (
    console,
    handles_errors,
    json_option,
    print_json,
    redact_url,
    status_style,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import Audit
    from ..store.base import Store

QUEUES = ("sync", "default")
SPARK = "▁▂▃▄▅▆▇█"


# --- status ---------------------------------------------------------------------------------------


def status_data(store: Store) -> dict[str, Any]:
    active = [a for a in store.sync_history(None, limit=100).audits if a.status in ("queued", "in_progress")]
    clinics = []
    for clinic in store.list_clinics(active_only=False):
        page = store.sync_history(clinic.id, limit=20)
        last = page.audits[0] if page.audits else None
        ok = next((a for a in page.audits if a.status == "completed"), None)
        fresh_at = (ok.finished_at or ok.created_at) if ok else None
        clinics.append({
            "clinicId": clinic.id, "name": clinic.name, "active": clinic.is_active,
            "lastSync": _audit_json(last) if last else None,
            "lastSuccessAt": fresh_at,
            "freshnessSeconds": int((datetime.now(UTC) - fresh_at).total_seconds()) if fresh_at else None,
        })  # fmt: skip
    return {"running": [_audit_json(a) for a in active], "clinics": clinics, "at": datetime.now(UTC)}


def _audit_json(a: Audit) -> dict[str, Any]:
    return {
        "syncId": a.id, "clinicId": a.clinic_id, "type": a.sync_type, "status": a.status, "trigger": a.trigger,
        "appointmentsFound": a.appointments_found, "casesCreated": a.cases_created, "casesUpdated": a.cases_updated,
        "casesEnriched": a.cases_enriched, "casesDeleted": a.cases_deleted,
        "progress": {"processed": a.processed_items, "total": a.total_items},
        "createdAt": a.created_at, "finishedAt": a.finished_at, "durationMs": a.duration_ms,
        "error": a.error_message,
    }  # fmt: skip


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    s = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def status_view(data: dict[str, Any]) -> Table:
    table = Table(title=f"pims-sync status — {len(data['running'])} running or queued", title_justify="left")
    for col in ("clinic", "last sync", "status", "when", "fresh as of", "now"):
        table.add_column(col)
    running = {r["clinicId"]: r for r in data["running"]}
    for c in data["clinics"]:
        last = c["lastSync"] or {}
        now = running.get(c["clinicId"])
        now_text = (f"[{status_style(now['status'])}]{now['type']} {now['status']} "
                    f"{now['progress']['processed']}/{now['progress']['total']}") if now else "-"
        table.add_row(c["name"], last.get("type", "-"), f"[{status_style(last.get('status'))}]{last.get('status', '-')}",
                      _ago(last.get("createdAt")), _ago(c["lastSuccessAt"]), now_text)
    return table


@click.command("status")
@click.option("--watch", is_flag=True, help="Refresh every --interval seconds until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=2.0, show_default=True)
@json_option
@handles_errors
def status(watch: bool, interval: float, as_json: bool) -> None:
    """Running and queued syncs, the last sync of every clinic, and how fresh its data is."""
    store = open_store(load_settings())
    try:
        if as_json:
            print_json(status_data(store))
            return
        if not watch:
            console.print(status_view(status_data(store)))
            return
        with Live(status_view(status_data(store)), console=console, refresh_per_second=4) as live:
            try:
                while True:
                    time.sleep(interval)
                    live.update(status_view(status_data(store)))
            except KeyboardInterrupt:
                pass
    finally:
        store.close()


# --- history --------------------------------------------------------------------------------------


@click.command("history")
@click.option("--clinic", "clinic_id", default=None, help="Only this clinic.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--type", "sync_type", type=click.Choice(SYNC_TYPE_NAMES), default=None,
              callback=lambda _ctx, _param, value: value and SyncType.parse(value).audit_name,
              help="Only syncs of this type (reconcile and reconciliation are the same).")
@json_option
@handles_errors
def history(clinic_id: str | None, limit: int, sync_type: str | None, as_json: bool) -> None:
    """Past syncs with status, counts, durations and the success rate."""
    store = open_store(load_settings())
    try:
        page = store.sync_history(clinic_id, limit=limit, sync_type=sync_type)
    finally:
        store.close()
    ended = page.succeeded + page.failed
    rate = round(100 * page.succeeded / ended, 1) if ended else None
    if as_json:
        print_json({"syncs": [_audit_json(a) for a in page.audits], "total": page.total, "succeeded": page.succeeded,
                    "failed": page.failed, "successRate": rate, "nextCursor": page.next_cursor})
        return
    table = Table(title="Sync history", title_justify="left")
    for col in ("when", "clinic", "type", "trigger", "status", "found", "created", "updated", "enriched", "deleted",
                "duration"):
        table.add_column(col, justify="right" if col in ("found", "created", "updated", "enriched", "deleted",
                                                           "duration") else "left")
    for a in page.audits:
        table.add_row(a.created_at.strftime("%Y-%m-%d %H:%M:%S") if a.created_at else "-", a.clinic_id[:8], a.sync_type,
                      a.trigger, f"[{status_style(a.status)}]{a.status}", str(a.appointments_found),
                      str(a.cases_created), str(a.cases_updated), str(a.cases_enriched), str(a.cases_deleted),
                      f"{a.duration_ms / 1000:.1f}s" if a.duration_ms is not None else "-")
    console.print(table)
    rate_text = f"{rate}%" if rate is not None else "n/a"
    console.print(f"success rate: [bold]{rate_text}[/] ({page.succeeded} succeeded, {page.failed} failed, "
                  f"{page.total} in total)")


# --- health ---------------------------------------------------------------------------------------


def _timed(fn: Callable[[], object]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        detail = fn()
    except Exception as e:  # any failure is this component being down
        return {"ok": False, "error": f"{e.__class__.__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}",
                "latencyMs": round((time.monotonic() - started) * 1000, 1)}
    out: dict[str, Any] = {"ok": True, "latencyMs": round((time.monotonic() - started) * 1000, 1)}
    if isinstance(detail, dict):
        out.update(detail)
    return out


def health_data(settings: Settings, api_url: str, *, ping_timeout_s: float = 1.0) -> dict[str, Any]:
    def api() -> dict[str, Any]:
        """The server's own view (its /health): uptime, version and the memory of that process."""
        r = requests.get(f"{api_url}/health", timeout=3)
        r.raise_for_status()
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        memory = body.get("memory") or {}
        return {"url": api_url, "uptimeSeconds": body.get("uptimeSeconds"), "version": body.get("version"),
                "rssMb": memory.get("rssMb")}

    clinics: list[dict[str, Any]] = []

    def db() -> dict[str, Any]:
        store = open_store(settings)
        try:
            clinics.extend({"id": c.id, "name": c.name, "active": c.is_active, "syncOwner": c.sync_owner}
                           for c in store.list_clinics(active_only=False))
        finally:
            store.close()
        return {"url": redact_url(database_label(settings))}

    info: dict[str, Any] = {}

    def rds() -> dict[str, Any]:
        client = redis_client(settings)
        try:
            mem = client.info("memory")
            info["queues"] = {q: client.llen(q) for q in QUEUES}
            return {"url": redact_url(settings.broker_url), "usedMemoryMb": round(mem["used_memory"] / 1048576, 1)}
        finally:
            client.close()

    checks = {"api": _timed(api), "database": _timed(db), "redis": _timed(rds)}
    workers: list[str] = []
    if checks["redis"]["ok"]:
        try:
            app = celery_app(settings)
            workers = sorted(n for reply in app.control.ping(timeout=ping_timeout_s) or [] for n in reply)
        except Exception:  # the broker check above already reports the broker
            workers = []
    return {
        "checks": checks,
        "workers": workers,
        "queues": info.get("queues", {}),
        # the API server's process (from its /health), not the machine this command runs on
        "memory": {"apiRssMb": checks["api"].get("rssMb"), "apiUptimeSeconds": checks["api"].get("uptimeSeconds")},
        "clinics": clinics,
        "healthy": all(c["ok"] for c in checks.values()) and bool(workers),
        "at": datetime.now(UTC),
    }


def sparkline(values: Iterable[float]) -> str:
    values = list(values)
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1
    return "".join(SPARK[int((v - lo) / span * (len(SPARK) - 1))] for v in values)


def health_view(data: dict[str, Any], trend: dict[str, deque[float]] | None = None) -> Table:
    table = Table(title="pims-sync health" + (" (watching)" if trend else ""), title_justify="left")
    for col in ("component", "state", "detail", "trend" if trend else ""):
        table.add_column(col)
    for name, c in data["checks"].items():
        state = "[green]up" if c["ok"] else "[red]down"
        detail = f"{c['latencyMs']} ms  {c.get('url', '')}" if c["ok"] else c.get("error", "")
        if name == "redis" and c.get("usedMemoryMb") is not None:
            detail += f"  {c['usedMemoryMb']} MB used"
        table.add_row(name, state, detail, sparkline(trend[name]) if trend else "")
    w = data["workers"]
    table.add_row("workers", f"[{'green' if w else 'red'}]{len(w)} online", ", ".join(w) or "none answered the ping",
                  sparkline(trend["workers"]) if trend else "")
    depth = sum(data["queues"].values())
    table.add_row("queues", f"{depth} waiting", ", ".join(f"{q}={n}" for q, n in data["queues"].items()),
                  sparkline(trend["queue"]) if trend else "")
    m = data["memory"]
    if m.get("apiRssMb") is not None:
        uptime = m.get("apiUptimeSeconds") or 0
        table.add_row("API memory", f"{m['apiRssMb']} MB", f"the API server process, up {_duration(uptime)}",
                      sparkline(trend["memory"]) if trend else "")
    else:
        table.add_row("API memory", "[dim]unknown", "the API did not answer /health", "")
    return table


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@click.command("health")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C, with a sparkline per component.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=2.0, show_default=True)
@click.option("--api-url", default=None, help="API base URL (default http://127.0.0.1:$PORT).")
@json_option
@handles_errors
def health(watch: bool, interval: float, api_url: str | None, as_json: bool) -> None:
    """API (its uptime and memory), database, Redis, workers online, queue depth. Exit 1 when unhealthy."""
    settings = load_settings()
    api_url = (api_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    data = health_data(settings, api_url)
    if as_json:
        print_json(data)
    elif not watch:
        console.print(health_view(data))
    else:
        trend: dict[str, deque[float]] = {k: deque(maxlen=30) for k in ("api", "database", "redis", "workers", "queue", "memory")}

        def push(d: dict[str, Any]) -> None:
            for name in ("api", "database", "redis"):
                trend[name].append(d["checks"][name]["latencyMs"] if d["checks"][name]["ok"] else 0)
            trend["workers"].append(len(d["workers"]))
            trend["queue"].append(sum(d["queues"].values()))
            trend["memory"].append(d["memory"]["apiRssMb"] or 0)

        push(data)
        with Live(health_view(data, trend), console=console, refresh_per_second=4) as live:
            try:
                while True:
                    time.sleep(interval)
                    data = health_data(settings, api_url)
                    push(data)
                    live.update(health_view(data, trend))
            except KeyboardInterrupt:
                pass
    if not data["healthy"]:
        raise SystemExit(1)


commands = [status, history, health]
command = status
