"""`pims-sync keys create|list|revoke|bind|grant|revoke-grant`: clinic API keys.

A key's plaintext is shown once. A key without a clinic (the product's later migration left its
keys so) is a shared key: the API refuses it until an operator either binds it to one clinic
(`bind`) or grants it an explicit list of clinics (`grant`), and it never reaches any other.

The API caches key lookups for a few seconds; every change here also bumps the key version in
Redis, so every API process drops its cache within half a second (api/auth.py ``KeyCache``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table

from ..apikeys import generate_api_key, normalize_permissions
from ..config import Settings
from ..errors import ValidationError
from ..models import ApiKeyRecord
from .clinics_cmd import UUID
from .connect import load_settings, open_store, redis_client
from .output import console, err_console, fail, handles_errors, json_option, print_json


@click.group("keys")
def command() -> None:
    """Clinic API keys (X-API-Key): create, list, revoke; bind or grant shared keys."""


@command.command("create")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@click.option("--name", required=True, help="What the key is for, e.g. 'backend'.")
@click.option("--permissions", default=None,
              help="Comma-separated: sync:inbound,sync:cases,sync:reconcile (default: all).")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Expire after N days.")
@json_option
@handles_errors
def create(clinic_id: str, name: str, permissions: str | None, expires_days: int | None, as_json: bool) -> None:
    """Create a key and print it once (only its hash is stored)."""
    perms = normalize_permissions([p for p in permissions.split(",") if p.strip()] if permissions else None)
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    store = open_store(load_settings())
    try:
        store.get_clinic(clinic_id)
        key = generate_api_key()
        record = store.create_api_key(clinic_id=clinic_id, name=name, key_prefix=key.key_prefix,
                                      key_hash=key.key_hash, permissions=perms, expires_at=expires_at)
    finally:
        store.close()
    if as_json:
        print_json({"id": record.id, "clinicId": clinic_id, "name": name, "keyPrefix": record.key_prefix,
                    "permissions": list(record.permissions) if record.permissions else None,
                    "expiresAt": record.expires_at, "key": key.key})
        return
    console.print(f"[green]✓[/] key [bold]{record.key_prefix}[/] ({record.id}) for clinic {clinic_id}")
    console.print(f"  permissions: {', '.join(record.permissions) if record.permissions else 'all'}")
    console.print(f"  expires:     {record.expires_at.isoformat() if record.expires_at else 'never'}")
    console.print("\n[bold]X-API-Key:[/]", key.key, soft_wrap=True)
    err_console.print("[yellow]Store it now: it is shown only this once.[/]")


@command.command("list")
@click.option("--clinic", "clinic_id", default=None, help="Clinic id (uuid): that clinic's keys.")
@click.option("--shared", is_flag=True, help="The shared keys (no clinic) and the clinics granted to each.")
@json_option
@handles_errors
def list_(clinic_id: str | None, shared: bool, as_json: bool) -> None:
    """List a clinic's keys, or the shared keys (prefixes only)."""
    if bool(clinic_id) == shared:
        raise click.UsageError("give --clinic CLINIC_ID or --shared (one of them)")
    store = open_store(load_settings())
    try:
        if clinic_id:
            store.get_clinic(clinic_id)
        records = store.list_api_keys(None if shared else clinic_id)
    finally:
        store.close()
    if as_json:
        print_json([_key_view(r) for r in records])
        return
    title = "Shared API keys (no clinic)" if shared else f"API keys of clinic {clinic_id}"
    table = Table(title=title, title_justify="left")
    columns = ["id", "name", "prefix", "active", "permissions", "expires", "last used"]
    for col in columns + (["granted clinics"] if shared else []):
        table.add_column(col)
    for r in records:
        row = [r.id, r.name or "-", r.key_prefix, "yes" if r.is_active else "[red]revoked",
               ", ".join(r.permissions) if r.permissions else "all", _when(r.expires_at), _when(r.last_used_at)]
        if shared:
            row.append(", ".join(r.granted_clinic_ids) or "[yellow]none: refused by the API")
        table.add_row(*row)
    console.print(table)


@command.command("bind")
@click.argument("key_id", type=UUID)
@click.option("--clinic", "clinic_id", required=True, type=UUID, help="The clinic the key will act for.")
@json_option
@handles_errors
def bind(key_id: str, clinic_id: str, as_json: bool) -> None:
    """Bind a shared key to one clinic: it then acts for that clinic only, like a key created for it."""
    settings = load_settings()
    store = open_store(settings)
    try:
        store.get_clinic(clinic_id)
        record = store.bind_api_key(key_id, clinic_id)
    finally:
        store.close()
    _tell_api(settings)
    if as_json:
        print_json(_key_view(record))
        return
    console.print(f"[green]✓[/] key [bold]{record.key_prefix}[/] ({record.id}) is bound to clinic {clinic_id}")


@command.command("grant")
@click.argument("key_id", type=UUID)
@click.option("--clinic", "clinic_ids", required=True, multiple=True, type=UUID,
              help="A clinic the shared key may act for (repeat for several).")
@json_option
@handles_errors
def grant(key_id: str, clinic_ids: tuple[str, ...], as_json: bool) -> None:
    """Allow a shared key to act for these clinics (it names one per request; no others)."""
    settings = load_settings()
    store = open_store(settings)
    try:
        key = store.get_api_key(key_id)
        if key.clinic_id is not None:
            raise ValidationError(
                f"key {key_id} is bound to clinic {key.clinic_id}: grants are for shared keys only "
                "(a bound key acts for its own clinic)"
            )
        for clinic_id in clinic_ids:
            store.get_clinic(clinic_id)
        record = store.grant_api_key_clinics(key_id, list(dict.fromkeys(clinic_ids)))
    finally:
        store.close()
    _tell_api(settings)
    if as_json:
        print_json(_key_view(record))
        return
    console.print(f"[green]✓[/] shared key [bold]{record.key_prefix}[/] ({record.id}) may act for: "
                  f"{', '.join(record.granted_clinic_ids)}")


@command.command("revoke-grant")
@click.argument("key_id", type=UUID)
@click.option("--clinic", "clinic_id", required=True, type=UUID, help="The clinic to take away.")
@json_option
@handles_errors
def revoke_grant(key_id: str, clinic_id: str, as_json: bool) -> None:
    """Take a clinic away from a shared key (every API process refuses it within half a second)."""
    settings = load_settings()
    store = open_store(settings)
    try:
        done = store.revoke_api_key_grant(key_id, clinic_id)
    finally:
        store.close()
    if done:
        _tell_api(settings)
    if as_json:
        print_json({"id": key_id, "clinicId": clinic_id, "revoked": bool(done)})
    if not done:
        fail(f"key {key_id} had no grant for clinic {clinic_id}")
    if not as_json:
        console.print(f"[green]✓[/] key {key_id} may no longer act for clinic {clinic_id}")


def _key_view(r: ApiKeyRecord) -> dict[str, Any]:
    return {"id": r.id, "clinicId": r.clinic_id, "name": r.name, "keyPrefix": r.key_prefix, "isActive": r.is_active,
            "permissions": list(r.permissions) if r.permissions else None, "expiresAt": r.expires_at,
            "lastUsedAt": r.last_used_at, "createdAt": r.created_at,
            "grantedClinicIds": list(r.granted_clinic_ids)}



@command.command("revoke")
@click.argument("key_id")
@click.option("--clinic", "clinic_id", default=None, help="Only revoke if the key belongs to this clinic.")
@json_option
@handles_errors
def revoke(key_id: str, clinic_id: str | None, as_json: bool) -> None:
    """Revoke a key by id (every API process refuses it within half a second)."""
    settings = load_settings()
    store = open_store(settings)
    try:
        done = store.revoke_api_key(key_id, clinic_id=clinic_id)
    finally:
        store.close()
    if done:
        _tell_api(settings)
    if as_json:
        print_json({"id": key_id, "revoked": bool(done)})
    if not done:
        fail(f"no active key {key_id}" + (f" for clinic {clinic_id}" if clinic_id else ""))
    if not as_json:
        console.print(f"[green]✓[/] revoked {key_id}")


def _tell_api(settings: Settings) -> None:
    """Bump the key version in Redis so the API processes drop their cached keys now.

    Best effort: the change is already in the database, and without the bump the API
    processes see it when their cache entries expire (a few seconds, api/auth.py).
    """
    import redis

    from api.auth import KEY_CACHE_S, bump_keys_version

    client = redis_client(settings, ping=False, timeout_s=2.0)
    try:
        bump_keys_version(client)
    except redis.exceptions.RedisError as e:
        err_console.print(f"[yellow]could not tell the API processes through Redis ({e.__class__.__name__}); "
                          f"they see the change within {KEY_CACHE_S:g} s[/]")
    finally:
        client.close()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
