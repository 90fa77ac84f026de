"""`pims-sync demo`: the whole system on one machine, driven the way a client would drive it.

Starts (or uses) PostgreSQL and Redis, migrates, starts the IDEXX Neo and ezyVet simulators, a
worker, beat, the API and Flower, seeds the simulators' clinics (the IDEXX ones, and one on ezyVet),
then syncs every clinic through the REST API with that clinic's own key and draws each phase's
progress. Every child is stopped on exit.

While it runs, <data-dir>/state.json tells the rest of the CLI (and `pims-sync demo env`)
where the demo's services are, so a second terminal can explore it with no settings.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click
import requests

from ..config import Settings
from ..errors import PimsSyncError
from ..models import JsonObject
from ..webhooks import EVENT_FOR_STATUS
from . import demo_ezyvet
from . import demo_state as ds
from .chromium_setup import SystemInstaller, find_chromium, install_playwright_chromium
from .demo_seed import (
    EVERY_HELP,
    DemoClinic,
    format_every,
    next_scheduled,
    parse_every,
    seed_all,
    simulator_clinics,
)
from .demo_stack import DemoStack, Ports, available_commands, celery_workers_online, child_argv, http_answers
from .demo_webhooks import DemoReceiver
from .embedded import demo_secret, pick_port
from .output import console, fail, handles_errors
from .progress import TERMINAL, SyncProgress, summary_numbers, summary_table

OPTIONAL_CHILDREN = ("beat", "flower")


def _every(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    try:
        return parse_every(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group("demo", invoke_without_command=True)
@click.option("--once", is_flag=True, help="Exit after the summary (exit 0 only if every clinic's sync completed).")
@click.option("--clinics", default=3, show_default=True, type=click.IntRange(1, 20), help="Simulator clinics to sync.")
@click.option("--data-dir", default=".data/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Embedded PostgreSQL/Redis data, logs and demo secrets.")
@click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535),
              help="API port (0, here and below: any free port; a taken port is replaced by a free one).")
@click.option("--flower-port", default=5555, show_default=True, type=click.IntRange(0, 65535))
@click.option("--simulator-port", default=5080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--ezyvet-port", default=5081, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the ezyVet simulator.")
@click.option("--no-ezyvet", is_flag=True, help="No ezyVet clinic (only the IDEXX Neo simulator's clinics).")
@click.option("--redis-port", default=6390, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the embedded Redis (only without REDIS_URL).")
@click.option("--days-ahead", default=7, show_default=True, type=click.IntRange(0, 90))
@click.option("--timeout", "timeout_s", default=600, show_default=True, type=click.IntRange(10),
              help="Seconds to wait for the syncs.")
@click.option("--no-flower", is_flag=True, help="Do not start Flower.")
@click.option("--no-beat", is_flag=True, help="Do not start beat.")
@click.option("--schedule-every", "every_minutes", default="30m", show_default=True, callback=_every,
              help=f"How often beat syncs the demo clinics (inbound): {EVERY_HELP}.")
@click.pass_context
@handles_errors
def command(ctx: click.Context, once: bool, clinics: int, data_dir: Path, port: int, flower_port: int,
            simulator_port: int, ezyvet_port: int, no_ezyvet: bool, redis_port: int, days_ahead: int, timeout_s: int,
            no_flower: bool, no_beat: bool, every_minutes: int) -> None:
    """Run the whole system locally and sync the demo clinics through the REST API.

    While it runs, every other command from this folder uses it (no settings needed);
    `pims-sync demo env` prints its settings as export lines.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings.from_env()
    data_dir = data_dir.resolve()
    running = ds.live_demo(data_dir)
    if running is not None:
        fail(f"a demo is already running from {data_dir} (pid {running.pid}); explore it from here with "
             "`pims-sync menu`, or stop it with Ctrl-C in its terminal")
    stack = DemoStack(data_dir)
    # Ctrl-C and SIGTERM stop everything, even when SIGINT arrived ignored (a shell's background
    # job, nohup): Python then leaves it ignored, and the demo could not be stopped with Ctrl-C
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    ok = False
    try:
        ports = _ports(port, flower_port, simulator_port, redis_port)
        ok = _run(stack, settings, once=once, clinics=clinics, ports=ports,
                  ezyvet_port=None if no_ezyvet else _ezyvet_port(ezyvet_port, ports),
                  days_ahead=days_ahead, timeout_s=timeout_s, flower=not no_flower, beat=not no_beat,
                  every_minutes=every_minutes)
    except KeyboardInterrupt:
        console.print("\n[yellow]Interrupted.[/]")
    finally:
        ds.remove_state(data_dir, os.getpid())  # first: nobody should pick up a demo that is stopping
        with console.status("Stopping every child process…"):
            stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("[green]✓[/] stopped: no demo process is left running")
    if once and not ok:
        fail("the demo sync did not complete for every clinic (see the table above and the logs in "
             f"{data_dir / 'logs'})")


@command.command("env")
@click.option("--data-dir", default=str(ds.DEFAULT_DIR), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="The running demo's data folder.")
@handles_errors
def env_command(data_dir: Path) -> None:
    """Print `export` lines for the running demo (psql, curl, a Celery shell): eval "$(pims-sync demo env)"."""
    state = ds.live_demo(data_dir)
    if state is None:
        fail(f"no demo is running in {data_dir} (start one with `pims-sync demo`)")
    click.echo("\n".join(ds.export_lines(state)))


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _ports(api: int, flower: int, simulator: int, redis_port: int) -> Ports:
    chosen: dict[str, int] = {}
    moved: list[str] = []
    for name, wanted in (("api", api), ("flower", flower), ("simulator", simulator), ("redis", redis_port)):
        got, was_moved = pick_port(wanted)
        while got in chosen.values():
            got, was_moved = pick_port(0)
        if was_moved and wanted:
            moved.append(f"{name}: port {wanted} is taken, using {got}")
        chosen[name] = got
    return Ports(moved=moved, **chosen)


def _ezyvet_port(wanted: int, ports: Ports) -> int:
    taken = {ports.api, ports.flower, ports.simulator, ports.redis}
    got, moved = pick_port(wanted)
    while got in taken:
        got, moved = pick_port(0)
    if moved and wanted:
        console.print(f"[yellow]![/] ezyvet simulator: port {wanted} is taken, using {got}")
    return got


def _step(message: str, detail: str = "") -> None:
    console.print(f"[green]✓[/] {message}" + (f" [dim]{detail}[/]" if detail else ""))


def _run(stack: DemoStack, settings: Settings, *, once: bool, clinics: int, ports: Ports, ezyvet_port: int | None,
         days_ahead: int, timeout_s: int, flower: bool, beat: bool, every_minutes: int) -> bool:
    console.rule("[bold]pims-sync demo")
    for note in ports.moved:
        console.print(f"[yellow]![/] {note}")
    commands = available_commands()

    with console.status("Looking for Chromium (installing it if there is none)…") as status:

        def progress(line: str) -> None:
            console.print(f"[yellow]![/] {line}")
            status.update(line)

        system = SystemInstaller(say=progress)
        chromium = find_chromium(settings.chromium_path, headless=settings.headless,
                                 installers=(system, install_playwright_chromium))
    _step("Chromium", chromium)

    with console.status("Starting PostgreSQL…" if not settings.database_url else "Connecting to PostgreSQL…"):
        database_url = stack.use_database(settings.database_url)
    _step("PostgreSQL", stack.describe_database())

    with console.status("Migrating the database…"):
        from ..store.migrate import apply_migrations

        apply_migrations(database_url)
    _step("database migrated")

    secret = settings.encryption_key or demo_secret(stack.data_dir, "encryption.key")
    flower_auth = settings.flower_basic_auth or f"demo:{demo_secret(stack.data_dir, 'flower.password', nbytes=12)}"
    env = _child_env(settings, database_url=database_url, secret=secret, chromium=chromium, ports=ports,
                     flower_auth=flower_auth)
    if not settings.encryption_key:
        _step("demo IDEXX_ENCRYPTION_KEY", f"kept in {stack.data_dir / 'encryption.key'}")

    with console.status("Starting Redis…" if not settings.redis_url else "Connecting to Redis…"):
        redis_url = stack.use_redis(settings.redis_url, port=ports.redis, env=env)
    env["REDIS_URL"] = redis_url
    _step("Redis", redis_url if settings.redis_url is None else "REDIS_URL")

    sim_url = f"http://127.0.0.1:{ports.simulator}"
    with console.status("Starting the IDEXX Neo simulator…"):
        stack.start("simulator", child_argv("simulator", "--port", str(ports.simulator), "--clinics", str(clinics)),
                    env=env, ready=http_answers(f"{sim_url}/__sim/clinics"), timeout_s=60, what=sim_url)
        sim_clinics = simulator_clinics(sim_url)[:clinics]
    _step("simulator", f"{sim_url} with {len(sim_clinics)} clinics")
    env["IDEXX_BASE_URL"] = sim_url

    ezy_url, ezy_site = None, None
    if ezyvet_port is not None:
        ezy_url = f"http://127.0.0.1:{ezyvet_port}"
        with console.status("Starting the ezyVet simulator…"):
            stack.start("ezyvet-simulator", demo_ezyvet.simulator_argv(ezyvet_port, days_ahead=days_ahead), env=env,
                        ready=http_answers(f"{ezy_url}/__sim/sites"), timeout_s=60, what=ezy_url)
            ezy_site = demo_ezyvet.simulator_site(ezy_url)
        _step("ezyVet simulator", f"{ezy_url} with site {ezy_site['name']} ({ezy_site['timezone']})")
        # the workers may send the site's client secret there: the operator's allow-list, as in production
        env["IDEXX_EXTRA_HOSTS"] = demo_ezyvet.extra_hosts(env.get("IDEXX_EXTRA_HOSTS"), ezy_url)

    with console.status("Seeding clinics: encrypted credentials, API keys, schedules…"):
        from ..crypto import CredentialCipher
        from ..store.postgres import PostgresStore

        cipher = CredentialCipher.from_settings(settings.replace(encryption_key=secret))
        store = PostgresStore(database_url, max_size=2)
        try:
            seeded = seed_all(store, cipher, sim_clinics, every_minutes=every_minutes)
            if ezy_url is not None and ezy_site is not None:
                seeded.append(demo_ezyvet.seed_ezyvet_clinic(store, cipher, ezy_site, sim_url=ezy_url,
                                                             every_minutes=every_minutes))
        finally:
            store.close()
    _step("clinics seeded", ", ".join(c.name for c in seeded) + f"; inbound every {format_every(every_minutes)}")

    receiver = DemoReceiver()  # docs/WEBHOOKS.md: each clinic's completion webhook comes back here
    store = PostgresStore(database_url, max_size=2)
    try:
        receiver.register(store, CredentialCipher.from_settings(settings.replace(encryption_key=secret)), settings,
                          [c.id for c in seeded])
    finally:
        store.close()
    _step("webhook receiver", receiver.url)

    api_url = f"http://127.0.0.1:{ports.api}"
    flower_url = f"http://127.0.0.1:{ports.flower}"
    _require(commands, "worker")
    with console.status("Starting the worker (Celery + Playwright)…"):
        stack.start("worker", child_argv("worker", "--concurrency", "2", "--hostname", "demo@%h"), env=env,
                    ready=lambda: bool(celery_workers_online(redis_url)), timeout_s=90, what=redis_url)
    _step("worker online", ", ".join(celery_workers_online(redis_url)))
    with console.status("Starting the API…"):
        stack.start("api", _api_argv(commands, ports.api), env={**env, "PORT": str(ports.api)},
                    ready=http_answers(f"{api_url}/health"), timeout_s=60, what=api_url)
    _step("API", api_url)
    started = {"beat": False, "flower": False}
    for name, wanted, args, ready in (
        ("beat", beat, (), None),
        ("flower", flower, ("--port", str(ports.flower), "--data-dir", str(stack.data_dir / "flower")),
         http_answers(flower_url)),
    ):
        if not wanted:
            continue
        if name not in commands:
            console.print(f"[yellow]![/] `pims-sync {name}` is not available in this build; continuing without it")
            continue
        with console.status(f"Starting {name}…"):
            try:
                stack.start(name, child_argv(name, *args), env=env, ready=ready, timeout_s=45)
                started[name] = True
            except PimsSyncError as e:
                console.print(f"[yellow]![/] {name} did not start; continuing without it: {str(e).splitlines()[0]}")
                continue
        _step(name, flower_url if name == "flower" else "per-clinic schedules, standby-safe")

    state = ds.DemoState(
        pid=os.getpid(), pid_started=ds.process_started(os.getpid()), data_dir=str(stack.data_dir),
        database_url=database_url, redis_url=redis_url, api_url=api_url, simulator_url=sim_url,
        flower_url=flower_url if started["flower"] else None,
        flower_user=flower_auth.split(":", 1)[0] if started["flower"] and not settings.flower_basic_auth else None,
        flower_password_file=(str(stack.data_dir / "flower.password")
                              if started["flower"] and not settings.flower_basic_auth else None),
        encryption_key_file=None if settings.encryption_key else str(stack.data_dir / "encryption.key"),
        chromium_path=chromium, clinic_ids=tuple(c.id for c in seeded), ezyvet_url=ezy_url,
    )  # fmt: skip
    _step("state for the rest of the CLI", str(ds.write_state(state)))

    results = _sync_through_api(api_url, seeded, days_ahead=days_ahead, timeout_s=timeout_s)
    sync_ids = [r["syncId"] for r in results.values() if r.get("syncId") and r.get("status") in EVENT_FOR_STATUS]
    console.print(receiver.table(receiver.wait_for(sync_ids, timeout_s=20), {c.id: c.name for c in seeded}))
    rows = [(c.name, summary_numbers(results.get(c.id) or {"status": "failed"})) for c in seeded]
    console.print(summary_table(rows, title="Demo sync (through the REST API)"))
    _print_access(seeded, results, api_url=api_url, flower_url=flower_url if started["flower"] else None,
                  flower_auth=flower_auth, sim_url=sim_url, ezy_url=ezy_url, data_dir=stack.data_dir)
    ok = all((results.get(c.id) or {}).get("status") == "completed" for c in seeded)
    if once:
        return ok
    _print_next(seeded, data_dir=stack.data_dir, beat=started["beat"], every_minutes=every_minutes,
                flower=started["flower"])
    console.print("\n[bold]Running.[/] Press Ctrl-C to stop everything.")
    while True:
        dead = [c for c in stack.dead_children() if c.name != "flower"]
        if dead:
            child = dead[0]
            raise PimsSyncError(f"{child.name} exited (code {child.popen.returncode}); see {child.log_path}")
        time.sleep(1)


def _api_argv(commands: set[str], port: int) -> list[str]:
    if "api" in commands:
        return child_argv("api", "--port", str(port), "--host", "127.0.0.1")
    # the production entry point, as docker-compose runs it
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "api.wsgi:app"]


def _require(commands: set[str], *names: str) -> None:
    missing = [n for n in names if n not in commands]
    if missing:
        fail(f"this build lacks `pims-sync {' / '.join(missing)}`; the demo needs it")


def _child_env(settings: Settings, *, database_url: str, secret: str, chromium: str, ports: Ports,
               flower_auth: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "IDEXX_ENCRYPTION_KEY": secret,
        "CHROMIUM_PATH": chromium,
        "HEADLESS": "true",
        "APP_ENV": settings.app_env,
        "FLOWER_BASIC_AUTH": flower_auth,
        "SCHEDULE_POLL_SECONDS": "10",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the demo's own receiver is on 127.0.0.1
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def _sync_through_api(api_url: str, clinics: list[DemoClinic], *, days_ahead: int, timeout_s: int) -> dict[str, JsonObject]:
    """POST /api/sync/full per clinic with its key, then poll GET /api/sync/<id> into the bars."""
    results: dict[str, JsonObject] = {}
    sync_ids: dict[str, str] = {}
    console.print()
    with SyncProgress(console) as bars:
        for clinic in clinics:
            bars.add(clinic.id, clinic.name)
        for clinic in clinics:
            try:
                sync_ids[clinic.id] = _start_sync(api_url, clinic, days_ahead)
            except PimsSyncError as e:
                bars.fail(clinic.id, str(e))
                results[clinic.id] = {"status": "failed", "errors": [{"message": str(e)}]}
        deadline = time.monotonic() + timeout_s
        while len(results) < len(clinics) and time.monotonic() < deadline:
            for clinic in clinics:
                if clinic.id in results:
                    continue
                status = _get_status(api_url, clinic, sync_ids[clinic.id])
                if status is None:
                    continue
                bars.update(clinic.id, status)
                if status.get("status") in TERMINAL:
                    results[clinic.id] = status
            time.sleep(0.5)
        for clinic in clinics:
            if clinic.id not in results:
                bars.fail(clinic.id, f"timed out after {timeout_s}s")
                results[clinic.id] = {"status": "timeout", "errors": [{"message": "timed out"}]}
    return results


def _start_sync(api_url: str, clinic: DemoClinic, days_ahead: int) -> str:
    try:
        resp = requests.post(f"{api_url}/api/sync/full", headers={"X-API-Key": clinic.api_key},
                             json={"daysAhead": days_ahead}, timeout=15)
    except requests.RequestException as e:
        raise PimsSyncError(f"API unreachable at {api_url}: {e.__class__.__name__}") from None
    body = _json(resp)
    if resp.status_code == 409 and body.get("syncId"):
        return str(body["syncId"])  # beat got there first: follow its sync
    if resp.status_code != 202 or not body.get("syncId"):
        message = (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
        raise PimsSyncError(f"POST /api/sync/full answered {resp.status_code}: {message or resp.text[:120]}")
    return str(body["syncId"])


def _get_status(api_url: str, clinic: DemoClinic, sync_id: str) -> JsonObject | None:
    try:
        resp = requests.get(f"{api_url}/api/sync/{sync_id}", headers={"X-API-Key": clinic.api_key}, timeout=10)
    except requests.RequestException:
        return None
    return _json(resp) if resp.status_code == 200 else None


def _json(resp: requests.Response) -> JsonObject:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _print_access(clinics: list[DemoClinic], results: dict[str, JsonObject], *, api_url: str, flower_url: str | None,
                  flower_auth: str, sim_url: str, ezy_url: str | None, data_dir: Path) -> None:
    from rich.table import Table

    keys = Table(title="Demo API keys (shown once; new keys on every run)", title_justify="left")
    keys.add_column("clinic")
    keys.add_column("clinic id")
    keys.add_column("X-API-Key")
    for c in clinics:
        keys.add_row(c.name, c.id, c.api_key)
    console.print(keys)
    console.print(f"API        {api_url}   (docs/API.md)")
    if flower_url:
        user = flower_auth.split(":", 1)[0]
        console.print(f"Flower     {flower_url}   (user {user}, password in {data_dir / 'flower.password'})")
    console.print(f"Simulator  {sim_url}   (its clinics: {sim_url}/__sim/clinics)")
    if ezy_url:
        console.print(f"ezyVet     {ezy_url}   (its site: {ezy_url}/__sim/sites; docs/EZYVET_API.md)")
    console.print(f"Logs       {data_dir / 'logs'}")
    first = clinics[0]
    console.print("\nTry it:", style="bold")
    console.print(
        f"  curl -s -X POST {api_url}/api/sync/full -H 'X-API-Key: {first.api_key}' "
        "-H 'Content-Type: application/json' -d '{\"daysAhead\": 7}'",
        soft_wrap=True,
    )
    console.print(f"  curl -s {api_url}/api/sync/<syncId> -H 'X-API-Key: {first.api_key}'", soft_wrap=True)


def _print_next(clinics: list[DemoClinic], *, data_dir: Path, beat: bool, every_minutes: int, flower: bool) -> None:
    """What to try next, and when beat's first scheduled sync will show up."""
    console.print()
    if beat:
        now = datetime.now(UTC)
        when = next_scheduled(clinics, every_minutes, now)
        if when is not None:
            wait = int((when - now).total_seconds())
            console.print(
                f"Next scheduled sync: inbound for {len(clinics)} clinic(s) at {when.astimezone():%H:%M:%S %Z} "
                f"(in {wait // 60}m {wait % 60:02d}s), then every {format_every(every_minutes)} — look for it in "
                f"`pims-sync status --watch`{' and Flower' if flower else ''}.", soft_wrap=True)
    else:
        console.print("Beat is not running (--no-beat): no scheduled syncs.")
    here = data_dir == (Path.cwd() / ds.DEFAULT_DIR).resolve()
    where = ("from another terminal in this folder (no settings needed while the demo runs)" if here
             else f'after eval "$(pims-sync demo env --data-dir {data_dir})"')
    console.print(f"\nExplore it {where}:", style="bold")
    for line in ("pims-sync menu", "pims-sync status --watch", "pims-sync history",
                 f"pims-sync sync full --clinic {clinics[0].id}",
                 'eval "$(pims-sync demo env)"   # DATABASE_URL, REDIS_URL, ... for psql, curl, celery'):
        console.print(f"  {line}", soft_wrap=True)
