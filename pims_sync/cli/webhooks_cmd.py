"""`pims-sync webhooks add|list|remove|test|enable|deliveries`: completion webhooks per clinic.

The signing secret is shown once, at `add`, and stored sealed with the credentials' cipher.
`test` sends a signed `webhook.test` message now and prints the receiver's HTTP status; it is
not stored. `deliveries` shows the delivery log (attempts, status codes, latency), never bodies.
"""

from __future__ import annotations

import json
import time
import uuid

import click
from rich.table import Table

from ..crypto import CredentialCipher
from ..sync.results import utc_timestamp
from ..webhooks import EVENTS, post_once, register_endpoint, require_support, signed_headers
from .clinics_cmd import UUID
from .connect import load_settings, open_store
from .output import console, err_console, fail, handles_errors, json_option, print_json


@click.group("webhooks")
def command() -> None:
    """Signed webhooks when a clinic's sync completes, fails or ends partial (docs/WEBHOOKS.md)."""


@command.command("add")
@click.option("--clinic", "clinic_id", required=True, type=UUID, help="Clinic id (uuid).")
@click.option("--url", required=True, help="The receiver's https:// URL.")
@click.option("--events", default=None, help=f"Comma-separated: {','.join(EVENTS)} (default: all).")
@json_option
@handles_errors
def add(clinic_id: str, url: str, events: str | None, as_json: bool) -> None:
    """Add an endpoint and print its signing secret once."""
    settings = load_settings()
    store = open_store(settings)
    try:
        endpoint, secret = register_endpoint(store, CredentialCipher.from_settings(settings), settings,
                                             clinic_id=clinic_id, url=url, events=[events] if events else None)
    finally:
        store.close()
    if as_json:
        print_json(endpoint.to_json() | {"secret": secret})
        return
    console.print(f"[green]✓[/] webhook {endpoint.id} for clinic {clinic_id}: {endpoint.url}")
    console.print(f"  events: {', '.join(endpoint.events)}")
    console.print("\n[bold]Signing secret:[/]", secret, soft_wrap=True)
    err_console.print("[yellow]Store it now in the receiver: it is shown only this once.[/]")


@command.command("list")
@click.option("--clinic", "clinic_id", default=None, type=UUID, help="Only this clinic's endpoints.")
@json_option
@handles_errors
def list_(clinic_id: str | None, as_json: bool) -> None:
    """List endpoints (never their secrets)."""
    store = open_store(load_settings())
    try:
        require_support(store)
        endpoints = store.list_webhooks(clinic_id)
    finally:
        store.close()
    if as_json:
        print_json([e.to_json() for e in endpoints])
        return
    table = Table(title="Webhooks", title_justify="left")
    for column in ("id", "clinic", "url", "events", "enabled", "failures"):
        table.add_column(column)
    for e in endpoints:
        state = "yes" if e.enabled else f"[red]no[/] ({e.disabled_reason or 'by an operator'})"
        table.add_row(e.id, e.clinic_id, e.url, ",".join(e.events), state, str(e.consecutive_failures))
    console.print(table)


@command.command("remove")
@click.argument("webhook_id", type=UUID)
@json_option
@handles_errors
def remove(webhook_id: str, as_json: bool) -> None:
    """Delete an endpoint and its delivery log."""
    store = open_store(load_settings())
    try:
        require_support(store)
        removed = store.delete_webhook(webhook_id)
    finally:
        store.close()
    if as_json:
        print_json({"id": webhook_id, "removed": removed})
    elif removed:
        console.print(f"[green]✓[/] webhook {webhook_id} removed")
    if not removed:
        fail(f"webhook {webhook_id} not found")


@command.command("enable")
@click.argument("webhook_id", type=UUID)
@click.option("--disable", is_flag=True, help="Disable instead (no deliveries until enabled).")
@handles_errors
def enable(webhook_id: str, disable: bool) -> None:
    """Enable an endpoint again (resets its failure count), or disable it."""
    store = open_store(load_settings())
    try:
        require_support(store)
        store.get_webhook(webhook_id)
        store.set_webhook_enabled(webhook_id, not disable, reason="disabled by an operator")
    finally:
        store.close()
    console.print(f"[green]✓[/] webhook {webhook_id} {'disabled' if disable else 'enabled'}")


@command.command("test")
@click.argument("webhook_id", type=UUID)
@json_option
@handles_errors
def test(webhook_id: str, as_json: bool) -> None:
    """Send a signed `webhook.test` message now; prints the receiver's status."""
    settings = load_settings()
    store = open_store(settings)
    try:
        require_support(store)
        endpoint = store.get_webhook(webhook_id)
    finally:
        store.close()
    secret = CredentialCipher.from_settings(settings).decrypt(endpoint.secret_encrypted,
                                                              key_id=endpoint.encryption_key_id)
    msg_id = "msg_test_" + uuid.uuid4().hex
    body = json.dumps({"type": "webhook.test", "timestamp": utc_timestamp(),
                       "data": {"webhookId": endpoint.id, "clinicId": endpoint.clinic_id}},
                      separators=(",", ":")).encode()
    result = post_once(endpoint.url, body=body, allow_private=settings.webhook_allow_private,
                       headers=signed_headers(secret, msg_id=msg_id, timestamp=int(time.time()), body=body))
    view = {"id": endpoint.id, "msgId": msg_id, "ok": result.ok, "statusCode": result.status_code,
            "error": result.error, "latencyMs": result.latency_ms}
    if as_json:
        print_json(view)
    elif result.ok:
        console.print(f"[green]✓[/] {endpoint.url} answered {result.status_code} in {result.latency_ms} ms")
    if not result.ok:
        fail(f"webhook test failed: {result.error or result.status_code} ({endpoint.url})")


@command.command("deliveries")
@click.argument("webhook_id", type=UUID)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@handles_errors
def deliveries(webhook_id: str, limit: int, as_json: bool) -> None:
    """The delivery log: each delivery's status and its attempts (status code, latency)."""
    store = open_store(load_settings())
    try:
        require_support(store)
        store.get_webhook(webhook_id)
        found = store.webhook_deliveries(webhook_id, limit=limit)
    finally:
        store.close()
    if as_json:
        print_json([d.to_json() for d in found])
        return
    table = Table(title=f"Deliveries of webhook {webhook_id}", title_justify="left")
    for column in ("msg id", "sync", "event", "status", "attempts", "last code", "log"):
        table.add_column(column)
    for d in found:
        log = "; ".join(f"#{a['attempt']} {a['statusCode'] or a['error']} {a['latencyMs']}ms" for a in d.attempt_log)
        table.add_row(d.msg_id, d.sync_id, d.event, d.status, str(d.attempts), str(d.last_status_code or ""), log)
    console.print(table)
