"""`pims-sync keys create|list|revoke`: clinic API keys. A key's plaintext is shown once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from ..apikeys import generate_api_key, normalize_permissions
from .connect import load_settings, open_store
from .output import console, err_console, fail, handles_errors, json_option, print_json


@click.group("keys")
def command() -> None:
    """Clinic API keys (X-API-Key): create, list, revoke."""


@command.command("create")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@click.option("--name", required=True, help="What the key is for, e.g. 'backend'.")
@click.option("--permissions", default=None,
              help="Comma-separated: sync:inbound,sync:cases,sync:reconcile (default: all).")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Expire after N days.")
@json_option
@handles_errors
def create(clinic_id, name, permissions, expires_days, as_json):
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
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@json_option
@handles_errors
def list_(clinic_id, as_json):
    """List a clinic's keys (prefixes only)."""
    store = open_store(load_settings())
    try:
        store.get_clinic(clinic_id)
        records = store.list_api_keys(clinic_id)
    finally:
        store.close()
    if as_json:
        print_json([
            {"id": r.id, "name": r.name, "keyPrefix": r.key_prefix, "isActive": r.is_active,
             "permissions": list(r.permissions) if r.permissions else None, "expiresAt": r.expires_at,
             "lastUsedAt": r.last_used_at, "createdAt": r.created_at}
            for r in records
        ])  # fmt: skip
        return
    table = Table(title=f"API keys of clinic {clinic_id}", title_justify="left")
    for col in ("id", "name", "prefix", "active", "permissions", "expires", "last used"):
        table.add_column(col)
    for r in records:
        table.add_row(r.id, r.name, r.key_prefix, "yes" if r.is_active else "[red]revoked",
                      ", ".join(r.permissions) if r.permissions else "all", _when(r.expires_at), _when(r.last_used_at))
    console.print(table)




@command.command("revoke")
@click.argument("key_id")
@click.option("--clinic", "clinic_id", default=None, help="Only revoke if the key belongs to this clinic.")
@json_option
@handles_errors
def revoke(key_id, clinic_id, as_json):
    """Revoke a key by id (effective on the API's next request)."""
    store = open_store(load_settings())
    try:
        done = store.revoke_api_key(key_id, clinic_id=clinic_id)
    finally:
        store.close()
    if as_json:
        print_json({"id": key_id, "revoked": bool(done)})
    if not done:
        fail(f"no active key {key_id}" + (f" for clinic {clinic_id}" if clinic_id else ""))
    if not as_json:
        console.print(f"[green]✓[/] revoked {key_id}")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
