"""Which PIMS providers exist, and what each needs: the one mapping every part asks.

:func:`.build.build_provider` builds a clinic's provider from ``clinics.pims_provider``
through :func:`provider_spec`, for the worker (``workers/runtime.py``) and the CLI's ``--local``
alike; the enqueue side routes the clinic's tasks to the spec's queue; ``pims-sync credentials
set`` prompts for the spec's credential fields. This module imports no provider code (no
Playwright, no HTTP client), so the API and beat may import it freely.

Adding a provider = one ``ProviderSpec`` here + a branch in ``build.build_provider`` (and, if it
needs what a worker holds beyond a browser or token cache, a method on ``build.ProviderParts``);
docs/PROVIDERS.md walks through ezyVet as the example.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

#: the queue providers that log in through Chromium run on; only workers with Playwright serve it
BROWSER_QUEUE = "sync"
#: the queue browser-free (REST) providers run on; any worker may serve it
API_QUEUE = "api"


@dataclass(frozen=True)
class CredentialField:
    """One credential a provider needs. ``secret`` ones are prompted hidden and never echoed."""

    name: str  # the stored key, e.g. "client_secret"
    label: str  # what the prompt says
    secret: bool = True


@dataclass(frozen=True)
class RateLimit:
    """Calls allowed per ``per_s`` seconds, per endpoint and per site (None: no limit known)."""

    per_endpoint: int | None
    per_site: int | None
    per_s: float = 60.0


@dataclass(frozen=True)
class ProviderSpec:
    name: str  # the registry name stored in clinics.pims_provider
    label: str
    source: str  # cases.source of what it syncs
    credential_fields: tuple[CredentialField, ...]
    needs_browser: bool
    rate_limit: RateLimit
    #: where its credentials live: the product's idexx_credentials, or our generic table
    credentials_table: str = "pims_sync_provider_credentials"
    #: it can read only the appointments modified since a time: later inbound runs then ask for
    #: those (the watermark in pims_sync_provider_state); reconciliation always reads in full
    supports_incremental: bool = False

    @property
    def queue(self) -> str:
        return BROWSER_QUEUE if self.needs_browser else API_QUEUE

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.credential_fields)


PROVIDERS: dict[str, ProviderSpec] = {
    "idexx-neo": ProviderSpec(
        name="idexx-neo",
        label="IDEXX Neo",
        source="pims:idexx-neo",
        credential_fields=(
            CredentialField("username", "Username", secret=False),
            CredentialField("password", "Password"),
            CredentialField("company_id", "Company id"),
        ),
        needs_browser=True,
        rate_limit=RateLimit(per_endpoint=None, per_site=None),  # none published; logins are the cost
        credentials_table="idexx_credentials",
    ),
    "ezyvet": ProviderSpec(
        name="ezyvet",
        label="ezyVet",
        source="pims:ezyvet",
        credential_fields=(
            CredentialField("partner_id", "Partner id", secret=False),
            CredentialField("client_id", "Client id", secret=False),
            CredentialField("client_secret", "Client secret"),
            CredentialField("site_uid", "Site uid", secret=False),
        ),
        needs_browser=False,
        rate_limit=RateLimit(per_endpoint=60, per_site=180),  # EZYVET_FACTS.md §8
        supports_incremental=True,  # /v2/appointment's modified_at filter (EZYVET_FACTS.md §4)
    ),
}
ALIASES = {"idexx": "idexx-neo"}


def canonical_name(name: str | None) -> str:
    """The registry name for a stored value (NULL and 'idexx' mean IDEXX Neo)."""
    if not name:
        return "idexx-neo"
    return ALIASES.get(name, name)


def provider_spec(name: str | None) -> ProviderSpec:
    """The provider a clinic names; ConfigError naming the field and the known names otherwise."""
    spec = PROVIDERS.get(canonical_name(name))
    if spec is None:
        known = ", ".join([*PROVIDERS, *ALIASES])
        raise ConfigError("clinics.pims_provider", f"one of {known}", name)
    return spec


def queue_for(name: str | None) -> str:
    """The Celery queue a clinic's sync tasks go to (unknown providers: the browser queue, where
    the worker then fails the sync naming the field)."""
    spec = PROVIDERS.get(canonical_name(name))
    return spec.queue if spec is not None else BROWSER_QUEUE
