"""`pims-sync sync full|inbound|cases|reconcile --clinic ID`: run a sync and watch its phases.

By default the sync goes through the queue like any other (workers.enqueue.enqueue_sync)
and the bars follow the audit rows the tasks update; `--via api` posts to the REST API with a
clinic key; `--local` runs it in this process (Chromium on this machine), audited the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import click
import requests

from ..config import Settings
from ..errors import ValidationError
from ..sync.options import PHASES_FOR, SYNC_TYPE_NAMES, SyncOptions, SyncType
from ..sync.results import RESULT_KEY
from ..validation import bounds
from .connect import celery_app, load_settings, local_provider, open_store, redis_client
from .output import ServiceUnreachable, console, err_console, fail, handles_errors, json_option, print_json
from .progress import TERMINAL, SyncProgress, summary_numbers, summary_table

JsonDict = dict[str, Any]


class OptionField(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2; subscripted fails at runtime on 8.1
    """A value checked by one :class:`SyncOptions` field (its type and bounds), read when the command runs.

    The CLI states no range of its own: an edit of the field's bounds changes what ``--days-ahead``
    accepts, its help and its refusal (``Invalid value for '--days-ahead': must be an integer from 0 to 90``).
    """

    def __init__(self, field: str):
        self.field = field
        self.name = field

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        info = SyncOptions.model_fields[self.field]
        lo, hi = bounds(info)
        if isinstance(lo, date):
            return "YYYY-MM-DD"
        return f"INTEGER {lo}..{hi}" if lo is not None and hi is not None else "INTEGER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            value = int(value)
        try:
            return getattr(SyncOptions.from_dict({self.field: value}), self.field)
        except ValidationError as e:
            self.fail(e.details["errors"][0]["message"] if isinstance(e.details, dict) else str(e), param, ctx)


@click.command("sync")
@click.argument("sync_type", type=click.Choice(SYNC_TYPE_NAMES), callback=lambda _ctx, _param, value: SyncType.parse(value))
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@click.option("--days-ahead", type=OptionField("days_ahead"), default=None, help="Inbound: days after today to fetch.")
@click.option("--lookback-days", type=OptionField("lookback_days"), default=None, help="Cases/reconcile: days back.")
@click.option("--start-date", type=OptionField("start_date"), default=None, help="Clinic-local first day.")
@click.option("--end-date", type=OptionField("end_date"), default=None, help="Clinic-local last day (inclusive).")
@click.option("--force", is_flag=True, help="Reconcile even when the deletion guard refuses (full, reconcile).")
@click.option("--via", type=click.Choice(["worker", "api", "local"]), default="worker", show_default=True,
              help="worker: enqueue for the Celery workers; api: POST to the REST API; local: run in this process.")
@click.option("--local", "local_flag", is_flag=True, help="Same as --via local.")
@click.option("--api-url", default=None, help="API base URL for --via api (default http://127.0.0.1:$PORT).")
@click.option("--api-key", default=None, help="The clinic's X-API-Key for --via api (prompted when missing).")
@click.option("--no-wait", is_flag=True, help="Enqueue and print the sync id without waiting.")
@click.option("--timeout", "timeout_s", type=click.IntRange(1), default=1800, show_default=True,
              help="Seconds to wait for the sync to end.")
@json_option
@handles_errors
def command(sync_type: SyncType, clinic_id: str, days_ahead: int | None, lookback_days: int | None,
            start_date: date | None, end_date: date | None, force: bool, via: str, local_flag: bool,
            api_url: str | None, api_key: str | None, no_wait: bool, timeout_s: int, as_json: bool) -> None:
    """Run a sync for one clinic with live per-phase progress."""
    options = _options(days_ahead, lookback_days, start_date, end_date, force)
    settings = load_settings()
    via = "local" if local_flag else via
    if via == "api":
        status = _via_api(settings, sync_type, clinic_id, options, api_url, api_key, no_wait, timeout_s, as_json)
    elif via == "local":
        status = _via_local(settings, sync_type, clinic_id, options, as_json)
    else:
        status = _via_worker(settings, sync_type, clinic_id, options, no_wait, timeout_s, as_json)
    _finish(status, as_json, no_wait)


def _options(days_ahead: int | None, lookback_days: int | None, start_date: date | None, end_date: date | None,
             force: bool) -> SyncOptions:
    given = {"days_ahead": days_ahead, "lookback_days": lookback_days, "start_date": start_date, "end_date": end_date}
    raw: dict[str, Any] = {"force": force} | {k: v for k, v in given.items() if v is not None}
    return SyncOptions.from_dict(raw)  # a bad combination raises ValidationError -> exit 2


def _finish(status: JsonDict, as_json: bool, no_wait: bool) -> None:
    if as_json:
        print_json(status)
    elif not no_wait:
        console.print(summary_table([(status.get("clinicId", "clinic"), summary_numbers(status))]))
        for err in status.get("errors") or []:
            err_console.print(f"[red]{err.get('phase', '')}:[/] {err.get('message')}")
    else:
        console.print(f"queued sync {status.get('syncId')}")
    final = status.get("status")
    if not no_wait and final != "completed":
        raise SystemExit(1)


def _watch(fetch: Callable[[], JsonDict | None], phases: tuple[str, ...], label: str, timeout_s: int,
           as_json: bool) -> JsonDict:
    """Poll fetch() into progress bars until the sync ends (bars go to stderr with --json)."""
    target = err_console if as_json else console
    deadline = time.monotonic() + timeout_s
    status: JsonDict = {}
    with SyncProgress(target, phases=phases) as bars:
        bars.add("sync", label, phases)
        while time.monotonic() < deadline:
            status = fetch() or status
            if status:
                bars.update("sync", status)
            if status.get("status") in TERMINAL:
                return status
            time.sleep(0.5)
    if status.get("status") not in TERMINAL:
        fail(f"the sync {status.get('syncId', '')} did not end within {timeout_s}s (it keeps running)")
    return status


NO_WORKER_HINT = (
    "no worker is consuming the '{queue}' queue, so the sync stays queued until one starts: "
    "start one with `pims-sync worker`, or run the sync here with `--local`"
)


def queue_consumers(app: Any, queue: str, *, timeout_s: float = 2.0) -> list[str]:
    """Names of the workers answering within timeout_s that consume ``queue``."""
    try:
        replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    except Exception:  # an unreachable broker was already reported when we enqueued
        return []
    return sorted(name for name, queues in replies.items() if any(q.get("name") == queue for q in queues or ()))


def _via_worker(settings: Settings, sync_type: SyncType, clinic_id: str, options: SyncOptions, no_wait: bool,
                timeout_s: int, as_json: bool) -> JsonDict:
    from workers.enqueue import InFlight, enqueue_sync, sync_status

    from ..providers.registry import queue_for

    store = open_store(settings)
    try:
        queue = queue_for(store.get_clinic(clinic_id).pims_provider)  # the clinic's provider's queue
        client = redis_client(settings)
        app = celery_app(settings)
        enqueued = enqueue_sync(
            app, store, InFlight(client), clinic_id=clinic_id, sync_type=sync_type,
            options=options, trigger="cli", ttl_s=settings.inflight_ttl_s,
        )
        if no_wait:
            return {"syncId": enqueued.sync_id, "status": enqueued.status, "clinicId": clinic_id}
        if not as_json:
            console.print(f"sync [bold]{enqueued.sync_id}[/] queued for clinic {clinic_id}")
        if not queue_consumers(app, queue):
            err_console.print(f"[yellow]![/] {NO_WORKER_HINT.format(queue=queue)}")
        return _watch(lambda: sync_status(store, enqueued.sync_id, clinic_id=clinic_id),
                      PHASES_FOR[sync_type], clinic_id[:8], timeout_s, as_json)
    finally:
        store.close()


def _via_local(settings: Settings, sync_type: SyncType, clinic_id: str, options: SyncOptions,
               as_json: bool) -> JsonDict:
    """In-process: the same phases and audit rows, with this machine's Chromium."""
    from workers.enqueue import ensure_sync_allowed

    from ..providers.idexx.auth import default_browser_source
    from ..sync.runner import run_full_sync

    store = open_store(settings)
    browser = default_browser_source(settings)
    target = err_console if as_json else console
    try:
        clinic = ensure_sync_allowed(store, clinic_id)  # the cut-over gate holds here too
        provider = local_provider(settings, store, clinic, browser)
        phases = PHASES_FOR[sync_type]
        with SyncProgress(target, phases=phases) as bars:
            bars.add("sync", clinic.name[:22], phases)
            views: JsonDict = {p: {"status": "queued"} for p in phases}

            def sink(phase: str, processed: int, total: int, stats: JsonDict) -> None:
                views[phase] = {"status": "in_progress", "progress": {"processed": processed, "total": total}}
                bars.update("sync", {"phases": views})

            try:
                result = run_full_sync(store, provider, clinic, options, sync_type=sync_type, trigger="cli", sink=sink)
            finally:
                provider.close()
            status = _status_from_result(result)
            bars.update("sync", status)
        return status
    finally:
        browser.close()
        store.close()


def _status_from_result(result: JsonDict) -> JsonDict:
    """run_full_sync's response shape -> the status shape the bars and the summary read."""
    phases: JsonDict = {}
    for phase, key in RESULT_KEY.items():
        part = result.get(key)
        if part is None:
            continue
        stats = part.get("stats") or {}
        done = sum(v for k, v in stats.items() if k in ("casesEnriched", "casesSkipped", "failed")) or 1
        phases[phase] = {"status": part.get("status"), "stats": stats,
                         "progress": {"processed": done, "total": done},
                         "error": (part.get("error") or {}).get("message")}
    return {**result, "syncId": result.get("syncId"), "phases": phases, "result": result}


def _via_api(settings: Settings, sync_type: SyncType, clinic_id: str, options: SyncOptions, api_url: str | None,
             api_key: str | None, no_wait: bool, timeout_s: int, as_json: bool) -> JsonDict:
    api_url = (api_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    if not api_key:
        api_key = click.prompt("X-API-Key", hide_input=True)
    headers = {"X-API-Key": api_key}
    body = _api_body(options, sync_type)
    try:
        resp = requests.post(f"{api_url}/api/sync/{sync_type}", headers=headers, json=body, timeout=15)
    except requests.RequestException as e:
        raise ServiceUnreachable("the API", api_url, e.__class__.__name__) from None
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code not in (200, 202) or not data.get("syncId"):
        err = data.get("error")
        message = err.get("message") if isinstance(err, dict) else err
        fail(f"the API answered {resp.status_code}: {message or resp.text[:200]}")
    sync_id = data["syncId"]
    if no_wait or resp.status_code == 200:
        return {**data, "clinicId": clinic_id}

    def fetch() -> JsonDict | None:
        try:
            r = requests.get(f"{api_url}/api/sync/{sync_id}", headers=headers, timeout=10)
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None

    return _watch(fetch, PHASES_FOR[sync_type], clinic_id[:8], timeout_s, as_json)


def _api_body(options: SyncOptions, sync_type: str) -> JsonDict:
    """The options as the endpoint's camelCase body, limited to the fields it accepts."""
    from ..sync.options import OPTIONS_FOR

    given = options.model_dump(mode="json", include=set(OPTIONS_FOR[SyncType.parse(sync_type)]), by_alias=True,
                               exclude_defaults=True)
    return {k: v for k, v in given.items() if v is not None}
