"""`pims-sync schedules show|set|validate`: clinics' sync schedules (clinic_schedule_configs).

`set` refuses an invalid value (every problem listed) so beat never meets it; `validate` lists
the problems already stored across all clinics and exits 1 when there are any — beat skips
those entries with a warning, so this is how an operator finds them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from ..errors import ValidationError
from ..models import ScheduleConfigRow
from ..schedules import ScheduleProblem, next_fire, parse_sync_schedules
from .connect import load_settings, open_store
from .output import console, err_console, fail, handles_errors, json_option, print_json


@click.group("schedules")
def command() -> None:
    """Clinic sync schedules: show, set, validate."""


def _describe(row: ScheduleConfigRow) -> dict[str, Any]:
    specs, problems = parse_sync_schedules(row.sync_schedules, clinic_id=row.clinic_id, timezone=row.timezone)
    now = datetime.now(UTC)
    entries = []
    for s in specs:
        nxt = next_fire(s.cron, s.timezone, now) if s.enabled and row.clinic_active else None
        entries.append(
            {
                "name": s.name,
                "type": s.type,
                "cron": s.cron,
                "enabled": s.enabled,
                "nextRun": nxt.isoformat() if nxt else None,
                "nextRunLocal": nxt.astimezone(_zone(s.timezone)).isoformat() if nxt else None,
            }
        )
    return {
        "clinicId": row.clinic_id,
        "timezone": row.timezone,
        "clinicActive": row.clinic_active,
        "version": row.version,
        "updatedAt": row.updated_at.isoformat() if row.updated_at else None,
        "syncSchedules": row.sync_schedules,
        "entries": entries,
        "problems": [_problem(p) for p in problems],
    }


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _problem(p: ScheduleProblem) -> dict[str, Any]:
    return {"clinicId": p.clinic_id, "index": p.index, "entry": p.entry, "message": p.message, "text": str(p)}


def _print(view: dict[str, Any]) -> None:
    state = "" if view["clinicActive"] else " [yellow](clinic inactive: nothing runs)[/]"
    console.print(
        f"clinic [bold]{view['clinicId']}[/] · {view['timezone']} · version {view['version']}{state}"
    )
    table = Table("entry", "cron", "enabled", "next run (clinic time)")
    for e in view["entries"]:
        table.add_row(e["name"], e["cron"], "yes" if e["enabled"] else "no", e["nextRunLocal"] or "-")
    console.print(table)
    for p in view["problems"]:
        err_console.print(f"[red]✗[/] {p['text']}")


@command.command("show")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@json_option
@handles_errors
def show(clinic_id: str, as_json: bool) -> None:
    """A clinic's schedules, their next run in the clinic's time zone, and any problems."""
    store = open_store(load_settings())
    try:
        store.get_clinic(clinic_id)
        row = store.get_schedule_config(clinic_id)
    finally:
        store.close()
    if row is None:
        if as_json:
            print_json({"clinicId": clinic_id, "syncSchedules": None, "entries": [], "problems": []})
        else:
            console.print(f"clinic {clinic_id} has no schedules configured")
        return
    view = _describe(row)
    print_json(view) if as_json else _print(view)


@command.command("set")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@click.option(
    "--json",
    "raw",
    required=True,
    metavar="JSON",
    help='The sync_schedules array, e.g. \'[{"type": "inbound", "cron": "0 6 * * *", "enabled": true}]\'.',
)
@handles_errors
def set_(clinic_id: str, raw: str) -> None:
    """Replace a clinic's schedules after validating them (beat picks the change up within seconds)."""
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ValidationError(f"--json is not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise ValidationError("--json must be a JSON array of schedule objects")
    store = open_store(load_settings())
    try:
        clinic = store.get_clinic(clinic_id)
        _, problems = parse_sync_schedules(value, clinic_id=clinic.id, timezone=clinic.timezone)
        if problems:
            for p in problems:
                err_console.print(f"[red]✗[/] {p}")
            fail(f"not saved: {len(problems)} problem(s) in the schedules", code=2)
        row = store.set_schedule_config(clinic.id, value)
    finally:
        store.close()
    console.print(f"[green]✓[/] schedules of clinic {clinic_id} saved (version {row.version})")


@command.command("validate")
@json_option
@handles_errors
def validate(as_json: bool) -> None:
    """Check every clinic's stored schedules; exit 1 when any entry is invalid."""
    store = open_store(load_settings())
    try:
        rows = store.list_schedule_configs()
    finally:
        store.close()
    problems = []
    for row in rows:
        problems += parse_sync_schedules(row.sync_schedules, clinic_id=row.clinic_id, timezone=row.timezone)[
            1
        ]
    if as_json:
        print_json({"clinics": len(rows), "problems": [_problem(p) for p in problems]})
    elif problems:
        for p in problems:
            console.print(f"[red]✗[/] {p}")
        err_console.print(
            f"{len(problems)} problem(s) in {len(rows)} clinic schedule config(s); beat skips these entries"
        )
    else:
        console.print(f"[green]✓[/] {len(rows)} clinic schedule config(s), no problems")
    if problems:
        raise click.exceptions.Exit(1)
