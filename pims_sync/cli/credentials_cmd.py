"""`pims-sync credentials set|test`: a clinic's PIMS login, stored encrypted, checked on demand.

Secrets are read from a hidden prompt or stdin, never echoed, and never appear in the output.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING

import click

from ..credential_status import status_after_refusal
from ..errors import AuthenticationFailed, PimsSyncError
from ..providers.registry import ALIASES, PROVIDERS, provider_spec
from ..store import seal
from .connect import load_settings, local_provider, open_store
from .output import console, fail, handles_errors, json_option, print_json

if TYPE_CHECKING:
    from ..providers.registry import ProviderSpec


@click.group("credentials")
def command() -> None:
    """A clinic's PIMS credentials: set (encrypted at rest) and test (one real login)."""


@command.command("set")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@click.option("--username", default=None, help="IDEXX username (required for an IDEXX clinic).")
@click.option("--password", default=None, help="Avoid: it lands in shell history. Prefer the prompt or --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--company-id", default=None, help="IDEXX company id (prompted, hidden, when missing).")
@click.option("--provider", default=None, type=click.Choice(sorted([*PROVIDERS, *ALIASES])),
              help="The clinic's PIMS provider (default: clinics.pims_provider; must match it).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="A non-IDEXX provider's non-secret field (e.g. client_id=...); missing ones are "
                   "prompted, secret ones hidden.")
@click.option("--key-id", default="default", show_default=True, help="Encryption key id (see key rotation).")
@json_option
@handles_errors
def set_(
    clinic_id: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    company_id: str | None,
    provider: str | None,
    fields: tuple[str, ...],
    key_id: str,
    as_json: bool,
) -> None:
    """Encrypt and store the clinic's credentials (AES-256-GCM), asking for its provider's fields."""
    from ..crypto import CredentialCipher

    settings = load_settings()
    cipher = CredentialCipher.from_settings(settings)
    store = open_store(settings)
    try:
        clinic = store.get_clinic(clinic_id)
        spec = provider_spec(clinic.pims_provider)
        if provider is not None and provider_spec(provider).name != spec.name:
            raise click.UsageError(f"clinic {clinic_id} uses {spec.name}, not {provider}; "
                                   "change clinics.pims_provider first (pims-sync clinics set --pims-provider)")
        if spec.credentials_table == "idexx_credentials":
            if fields:
                raise click.UsageError("--field is for other providers; IDEXX takes --username/--password/--company-id")
            username, password, company_id = _idexx_fields(username, password, password_stdin, company_id)
            store.save_credentials(cipher.encrypt_credentials(username, password, company_id, clinic_id=clinic_id,
                                                              provider=provider or "idexx", key_id=key_id))
        else:
            if username or password or password_stdin or company_id:
                raise click.UsageError(f"{spec.label} takes --field NAME=VALUE (fields: {', '.join(spec.field_names)})")
            values = _provider_fields(spec, fields)
            store.save_provider_credentials(seal(cipher, clinic_id=clinic_id, provider=spec.name, fields=values,
                                                 required=spec.field_names, key_id=key_id))
    finally:
        store.close()
    shown = provider or ("idexx" if spec.name == "idexx-neo" else spec.name)
    if as_json:
        print_json({"clinicId": clinic_id, "provider": shown, "encryptionKeyId": key_id, "saved": True})
    else:
        console.print(f"[green]✓[/] credentials saved for clinic {clinic_id} (encrypted with key id {key_id!r})")


def _idexx_fields(
    username: str | None, password: str | None, password_stdin: bool, company_id: str | None
) -> tuple[str, str, str]:
    """IDEXX's flags, exactly as before the registry: --username required, the password from
    --password, --password-stdin or a hidden prompt, the company id prompted hidden when missing."""
    if not username:
        raise click.UsageError("Missing option '--username'.")
    if password and password_stdin:
        raise click.UsageError("give --password or --password-stdin, not both")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise click.UsageError("the password is empty")
    if company_id is None:
        company_id = click.prompt("Company id", hide_input=True)
    return username, password, company_id


def _provider_fields(spec: ProviderSpec, given: tuple[str, ...]) -> dict[str, str]:
    """--field values for non-secret fields; every missing field prompted (secret ones hidden).
    A secret given on the command line is refused: it would land in shell history."""
    values: dict[str, str] = {}
    by_name = {f.name: f for f in spec.credential_fields}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or name not in by_name:
            raise click.UsageError(f"--field {name!r}: expected NAME=VALUE with NAME one of {', '.join(by_name)}")
        if by_name[name].secret:
            raise click.UsageError(f"--field {name}: a secret; leave it out to be prompted (hidden)")
        values[name] = value
    for f in spec.credential_fields:
        if f.name not in values:
            values[f.name] = click.prompt(f.label, hide_input=f.secret)
    return values


@command.command("test")
@click.option("--clinic", "clinic_id", required=True, help="Clinic id (uuid).")
@json_option
@handles_errors
def test(clinic_id: str, as_json: bool) -> None:
    """Log in to the PIMS once with the stored credentials and report the result."""
    from ..providers.idexx.auth import default_browser_source

    settings = load_settings()
    store = open_store(settings)
    browser = default_browser_source(settings)
    started = time.monotonic()
    ok, rejected, reason, message = False, False, "", ""
    try:
        clinic = store.get_clinic(clinic_id)
        spec = provider_spec(clinic.pims_provider)  # a refused host or provider: raised, nothing sent
        # a browser only if the provider needs one; a token of its own (a cached one proves nothing)
        provider = local_provider(settings, store, clinic, browser, fresh_token=True)
        try:
            with console.status(f"logging in to {spec.label} …") if not as_json else contextlib.nullcontext():
                provider.ensure_session()
            ok = True
        except AuthenticationFailed as e:
            rejected, reason, message = True, e.reason, str(e)
        except PimsSyncError as e:
            reason, message = e.code, str(e)
        finally:
            provider.close()
        status = "valid" if ok else status_after_refusal(reason) if rejected else None
        if status:  # an unreachable PIMS or an unreadable login page says nothing about the credentials
            store.mark_credentials_validated(clinic_id, clinic.pims_provider, status=status)
    finally:
        browser.close()
        store.close()
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if as_json:
        print_json({"clinicId": clinic_id, "ok": ok, "reason": reason or None, "error": message or None,
                    "durationMs": elapsed_ms})
    elif ok:
        console.print(f"[green]✓[/] login succeeded for clinic {clinic_id} ({elapsed_ms} ms)")
    if not ok:
        fail(f"login failed for clinic {clinic_id}: {reason}: {message}")
