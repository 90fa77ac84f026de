"""`pims-sync clinics add|list|show|set`: clinics without writing SQL.

Every value is checked here, at write time, before anything is stored: a time zone that is not
an IANA name, a host that is not an http(s) URL or an id that is not a UUID exits 2 naming the
option, because a bad value written by hand would otherwise only surface when a sync runs. The
cut-over flags (``--active``, ``--sync-owner``, ``--sync-enabled``) are the ones the API, beat
and the workers obey; `show` says whether the clinic is synced now, and why not, and what the
clinic's PIMS last reported (its site's time zone, stored by the last successful inbound run: a
zone other than clinics.timezone is a warning), without calling the PIMS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

import click
from rich.table import Table

from ..config import Settings
from ..errors import CredentialsMissing
from ..models import Clinic
from ..providers import registry
from ..schedules import validate_timezone
from ..store import ProviderState
from .connect import load_settings, open_store
from .output import console, err_console, fail, handles_errors, json_option, print_json

# every registered provider and alias (pims_sync/providers/registry.py); "idexx" = idexx-neo
PROVIDERS = (*registry.PROVIDERS, *registry.ALIASES)
PROVIDER_ALIASES = registry.ALIASES
SYNC_OWNERS = ("pims-sync", "legacy")


class TimeZoneType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2; subscripted fails at runtime on 8.1
    """An IANA time zone name zoneinfo can load (checked where it is typed, not when beat meets it)."""

    name = "IANA_ZONE"
    _MACHINE_DEPENDENT = {"localtime", "posixrules", "Factory"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            zone = validate_timezone(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)
        if zone in self._MACHINE_DEPENDENT:
            self.fail(f"{zone!r} is not a clinic's time zone (expected an IANA name like America/New_York)",
                      param, ctx)
        return zone


class HostType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2; subscripted fails at runtime on 8.1
    """The clinic's PIMS address: a host (https assumed) or an origin, as the provider reads it."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..providers.idexx.hosts import HostSyntaxError, origin

        try:
            return origin(value)
        except HostSyntaxError as e:
            self.fail(f"{e} (expected a host or an origin like https://ca.idexxneo.com)", param, ctx)


class UuidType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2; subscripted fails at runtime on 8.1
    name = "UUID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(click.UUID.convert(value, param, ctx))


UUID = UuidType()
TIMEZONE = TimeZoneType()
HOST = HostType()


@overload
def _provider(value: str) -> str: ...
@overload
def _provider(value: None) -> None: ...
def _provider(value: str | None) -> str | None:
    return None if value is None else PROVIDER_ALIASES.get(value, value)


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) != 2 or not value.isalpha():
        raise click.BadParameter("must be a two-letter region code like US or GB", ctx, param)
    return value.upper()


def _warn_if_refused(settings: Settings, clinic: Clinic) -> None:
    """Say now, not at the next sync, when the clinic's provider will refuse the clinic's host
    (each provider has its own hosts; IDEXX_EXTRA_HOSTS adds to every one)."""
    from ..errors import PimsHostRefused
    from ..providers.ezyvet import hosts as ezyvet_hosts
    from ..providers.idexx.hosts import base_url_for

    try:
        if registry.canonical_name(clinic.pims_provider) == "ezyvet":
            ezyvet_hosts.base_url_for(clinic.id, clinic.pims_host, extra_hosts=settings.idexx_extra_hosts)
        else:
            base_url_for(clinic.id, clinic.pims_host, default_url=settings.idexx_base_url,
                         extra_hosts=settings.idexx_extra_hosts)
    except PimsHostRefused as e:
        err_console.print(f"[yellow]warning:[/] {e}")


def clinic_view(clinic: Clinic) -> dict[str, Any]:
    """A clinic as JSON, with whether pims-sync syncs it now and, if not, why (the cut-over gate)."""
    from workers.enqueue import sync_refusal

    refusal = sync_refusal(clinic)
    return {
        "id": clinic.id,
        "name": clinic.name,
        "timezone": clinic.timezone,
        "pimsProvider": clinic.pims_provider,
        "pimsHost": clinic.pims_host,
        "isActive": clinic.is_active,
        "phoneRegion": clinic.phone_region,
        "ownerUserId": clinic.owner_user_id,
        "syncOwner": clinic.sync_owner,
        "syncEnabled": clinic.sync_enabled,
        "synced": refusal is None,
        "notSyncedBecause": None if refusal is None else str(refusal),
    }


@click.group("clinics")
def command() -> None:
    """Clinics: add, list, show, set (time zone, PIMS, owner user, cut-over flags)."""


@command.command("add")
@click.option("--name", required=True, help="The clinic's name.")
@click.option("--timezone", required=True, type=TIMEZONE, help="IANA time zone, e.g. America/Los_Angeles.")
@click.option("--pims-provider", type=click.Choice(PROVIDERS), default="idexx-neo", show_default=True,
              help="Which PIMS the clinic uses ('idexx' is an alias of idexx-neo).")
@click.option("--pims-host", type=HOST, default=None, help="The clinic's PIMS base URL (default: IDEXX_BASE_URL).")
@click.option("--owner-user", "owner_user_id", type=UUID, default=None,
              help="User id written as cases.user_id of the cases the sync creates.")
@click.option("--phone-region", default="US", show_default=True, callback=_region,
              help="Region for reading local phone numbers (two letters).")
@click.option("--active/--inactive", default=True, show_default=True, help="Inactive clinics are never synced.")
@click.option("--sync-owner", type=click.Choice(SYNC_OWNERS), default="pims-sync", show_default=True,
              help="Which service syncs the clinic (the cut-over flag).")
@click.option("--id", "clinic_id", type=UUID, default=None, help="Use this id (e.g. the product's) instead of a new one.")
@json_option
@handles_errors
def add(name: str, timezone: str, pims_provider: str, pims_host: str | None, owner_user_id: str | None,
        phone_region: str, active: bool, sync_owner: str, clinic_id: str | None, as_json: bool) -> None:
    """Create a clinic."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="'--name'")
    settings = load_settings()
    store = open_store(settings)
    try:
        clinic = store.create_clinic(
            name=name.strip(), timezone=timezone, pims_provider=_provider(pims_provider), clinic_id=clinic_id,
            pims_host=pims_host, owner_user_id=owner_user_id, is_active=active, phone_region=phone_region,
        )
        if sync_owner != clinic.sync_owner:
            clinic = store.update_clinic(clinic.id, sync_owner=sync_owner)
    finally:
        store.close()
    _warn_if_refused(settings, clinic)
    if as_json:
        print_json(clinic_view(clinic))
        return
    console.print(f"[green]✓[/] clinic [bold]{clinic.id}[/] created: {clinic.name} · {clinic.timezone} · "
                  f"{clinic.pims_provider}")
    _print_gate(clinic)


@command.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include inactive clinics.")
@json_option
@handles_errors
def list_(include_inactive: bool, as_json: bool) -> None:
    """List clinics (active ones unless --all)."""
    store = open_store(load_settings())
    try:
        clinics = store.list_clinics(active_only=not include_inactive)
    finally:
        store.close()
    views = [clinic_view(c) for c in clinics]
    if as_json:
        print_json(views)
        return
    table = Table(title="Clinics", title_justify="left")
    for col in ("id", "name", "time zone", "provider", "active", "sync owner", "sync enabled", "synced"):
        table.add_column(col)
    for v in views:
        table.add_row(v["id"], v["name"], v["timezone"], v["pimsProvider"], _yes(v["isActive"]), v["syncOwner"],
                      _yes(v["syncEnabled"]), "[green]yes" if v["synced"] else "[yellow]no")
    console.print(table)


@command.command("show")
@click.argument("clinic_id", type=UUID)
@json_option
@handles_errors
def show(clinic_id: str, as_json: bool) -> None:
    """One clinic, and whether pims-sync syncs it now."""
    store = open_store(load_settings())
    try:
        clinic = store.get_clinic(clinic_id)
        state = store.get_provider_state(clinic.id, registry.canonical_name(clinic.pims_provider))
    finally:
        store.close()
    view = clinic_view(clinic) | pims_view(clinic, state)
    if as_json:
        print_json(view)
        return
    console.print(f"clinic [bold]{clinic.id}[/]")
    for label, key in (("name", "name"), ("time zone", "timezone"), ("PIMS provider", "pimsProvider"),
                       ("PIMS host", "pimsHost"), ("active", "isActive"), ("phone region", "phoneRegion"),
                       ("owner user", "ownerUserId"), ("sync owner", "syncOwner"), ("sync enabled", "syncEnabled")):
        value = view[key]
        shown = _yes(value) if isinstance(value, bool) else (value if value is not None else "-")
        console.print(f"  {label + ':':<15}{shown}")
    if view["pimsSiteTimezone"]:
        console.print(f"  {'site zone:':<15}{view['pimsSiteTimezone']} (reported by the PIMS "
                      f"{view['pimsSiteCheckedAt']})")
    if view["incrementalSince"]:
        console.print(f"  {'read changes:':<15}since {view['incrementalSince']} (the last successful inbound run)")
    for warning in view["warnings"]:
        console.print(f"  [yellow]warning:[/] {warning}")
    _print_gate(clinic)


def pims_view(clinic: Clinic, state: ProviderState | None) -> dict[str, Any]:
    """What the PIMS last reported, as stored by the last successful inbound run (no PIMS call):
    its site's time zone, compared with clinics.timezone, and the incremental watermark."""
    zone = state.site_timezone if state is not None else None
    warnings = []
    if zone and zone != clinic.timezone:
        warnings.append(
            f"clinics.timezone is {clinic.timezone} but the PIMS site reports {zone}; sync windows follow "
            f"clinics.timezone (if the site is right: pims-sync clinics set {clinic.id} --timezone {zone})"
        )
    return {
        "pimsSiteTimezone": zone,
        "pimsSiteCheckedAt": _iso(state.site_checked_at if state is not None else None),
        "incrementalSince": _iso(state.modified_since if state is not None else None),
        "warnings": warnings,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


@command.command("set")
@click.argument("clinic_id", type=UUID)
@click.option("--name", default=None, help="A new name.")
@click.option("--timezone", type=TIMEZONE, default=None, help="IANA time zone, e.g. America/Los_Angeles.")
@click.option("--pims-provider", type=click.Choice(PROVIDERS), default=None, help="'idexx' is an alias of idexx-neo.")
@click.option("--pims-host", type=HOST, default=None, help="The clinic's PIMS base URL.")
@click.option("--clear-pims-host", is_flag=True, help="Use the default PIMS host (IDEXX_BASE_URL) again.")
@click.option("--owner-user", "owner_user_id", type=UUID, default=None,
              help="User id written as cases.user_id of the cases the sync creates.")
@click.option("--clear-owner-user", is_flag=True, help="New cases get no user_id (where the column allows it).")
@click.option("--phone-region", default=None, callback=_region, help="Two letters, e.g. US.")
@click.option("--active/--inactive", default=None, help="Inactive clinics are never synced.")
@click.option("--sync-owner", type=click.Choice(SYNC_OWNERS), default=None,
              help="Which service syncs the clinic: the cut-over flag (legacy = the TypeScript service).")
@click.option("--sync-enabled/--sync-disabled", default=None,
              help="idexx_credentials.sync_enabled: disabled means no scheduled or API sync by either service.")
@json_option
@handles_errors
def set_(clinic_id: str, name: str | None, timezone: str | None, pims_provider: str | None, pims_host: str | None,
         clear_pims_host: bool, owner_user_id: str | None, clear_owner_user: bool, phone_region: str | None,
         active: bool | None, sync_owner: str | None, sync_enabled: bool | None, as_json: bool) -> None:
    """Change a clinic; only the options given change."""
    if pims_host is not None and clear_pims_host:
        raise click.UsageError("give --pims-host or --clear-pims-host, not both")
    if owner_user_id is not None and clear_owner_user:
        raise click.UsageError("give --owner-user or --clear-owner-user, not both")
    if name is not None and not name.strip():
        raise click.BadParameter("must not be empty", param_hint="'--name'")
    changes: dict[str, Any] = {k: v for k, v in {
        "name": name.strip() if name is not None else None, "timezone": timezone,
        "pims_provider": _provider(pims_provider), "pims_host": pims_host, "owner_user_id": owner_user_id,
        "phone_region": phone_region, "is_active": active, "sync_owner": sync_owner,
    }.items() if v is not None}
    if clear_pims_host:
        changes["pims_host"] = None
    if clear_owner_user:
        changes["owner_user_id"] = None
    if not changes and sync_enabled is None:
        raise click.UsageError(
            "nothing to change: give at least one of --name, --timezone, --pims-provider, --pims-host, "
            "--owner-user, --phone-region, --active/--inactive, --sync-owner, --sync-enabled/--sync-disabled"
        )
    settings = load_settings()
    store = open_store(settings)
    try:
        store.get_clinic(clinic_id)  # NotFound before anything changes
        if sync_enabled is not None:  # first: it is the one that can fail for want of a credentials row
            try:
                store.set_sync_enabled(clinic_id, sync_enabled)
            except CredentialsMissing:
                fail(f"clinic {clinic_id} has no IDEXX credentials row, which is where sync_enabled lives; "
                     f"save them first with `pims-sync credentials set --clinic {clinic_id}`")
        clinic = store.update_clinic(clinic_id, **changes) if changes else store.get_clinic(clinic_id)
    finally:
        store.close()
    if "pims_host" in changes:
        _warn_if_refused(settings, clinic)
    if as_json:
        print_json(clinic_view(clinic))
        return
    what = sorted(changes) + (["sync_enabled"] if sync_enabled is not None else [])
    console.print(f"[green]✓[/] clinic [bold]{clinic.id}[/] updated: {', '.join(what)}")
    _print_gate(clinic)


def _print_gate(clinic: Clinic) -> None:
    view = clinic_view(clinic)
    if view["synced"]:
        console.print("  synced by pims-sync: [green]yes[/]")
    else:
        console.print(f"  synced by pims-sync: [yellow]no[/] — {view['notSyncedBecause']}")


def _yes(value: bool) -> str:
    return "yes" if value else "no"
