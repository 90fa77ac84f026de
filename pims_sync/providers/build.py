"""A clinic's provider, built from the registry: the one builder the worker and the CLI share.

:func:`build_provider` reads ``clinics.pims_provider`` through :func:`.registry.provider_spec`,
checks the clinic's host for that PIMS, and builds the provider from :class:`ProviderParts`:
what the process holds for logins and tokens. ``workers/runtime.py``'s ``WorkerRuntime`` is
one (Redis session and token caches, the shared rate limiter, the browser pool);
:class:`InProcessParts` is the CLI's (``sync --local``, ``credentials test``): caches, locks
and limiter of this process only.

Nothing here is imported before a provider is built (provider modules are imported in the
branch that needs them), so a worker without Playwright never loads IDEXX's code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from .registry import ProviderSpec, provider_spec

if TYPE_CHECKING:
    from ..config import Settings
    from ..crypto import CredentialCipher
    from ..models import Clinic, Credentials
    from ..store.base import Store
    from .base import PimsProvider


@dataclass(frozen=True)
class BrowserLogin:
    """What a browser-login provider (IDEXX Neo) logs in with.

    ``session_cache`` None: sessions kept in this process; ``login_lock`` None: a lock of this
    process only.
    """

    browser_source: Any
    session_cache: Any = None
    login_lock: AbstractContextManager[Any] | None = None


@dataclass(frozen=True)
class ApiTokens:
    """What a REST provider (ezyVet) keeps its OAuth tokens and rate limits with.

    None for any of them: this process's own (an in-memory token cache, a per-process lock, a
    local token bucket).
    """

    token_cache: Any = None
    token_lock: Callable[[str], AbstractContextManager[Any]] | None = None
    limiter: Any = None


class ProviderParts(Protocol):
    """What a process lends the providers it builds (each asked only by the provider that needs it)."""

    settings: Settings

    def credentials_loader(self, clinic_id: str, provider: str = "idexx") -> Callable[[], Credentials]:
        """IDEXX's credentials, decrypted when a login needs them."""
        ...

    def provider_credentials_loader(self, clinic_id: str, provider: str) -> Callable[[], Mapping[str, str]]:
        """Another provider's credential fields, decrypted when first needed."""
        ...

    def browser_login(self, clinic_id: str) -> BrowserLogin: ...

    def api_tokens_for(self, spec: ProviderSpec) -> ApiTokens: ...


def build_provider(clinic: Clinic, parts: ProviderParts) -> PimsProvider:
    """The PimsProvider ``clinics.pims_provider`` names, for this clinic.

    Raises ConfigError for an unknown provider name (naming clinics.pims_provider) and
    PimsHostRefused (a ConfigError) for a host credentials must not go to, before any
    credential is read or anything is sent.
    """
    spec = provider_spec(clinic.pims_provider)
    if spec.name == "ezyvet":
        return _ezyvet(clinic, spec, parts)
    return _idexx(clinic, parts)


def _ezyvet(clinic: Clinic, spec: ProviderSpec, parts: ProviderParts) -> PimsProvider:
    from .ezyvet.hosts import base_url_for
    from .ezyvet.provider import EzyvetProvider

    # clinics.pims_host: ezyVet's production or trial host, or one the operator listed (the simulator)
    base_url = base_url_for(clinic.id, clinic.pims_host, extra_hosts=parts.settings.idexx_extra_hosts)
    tokens = parts.api_tokens_for(spec)
    return EzyvetProvider(
        clinic=clinic,
        credentials_loader=parts.provider_credentials_loader(clinic.id, spec.name),
        base_url=base_url,
        token_cache=tokens.token_cache,
        token_lock=tokens.token_lock,
        limiter=tokens.limiter,
        rate_limit=spec.rate_limit,
    )


def _idexx(clinic: Clinic, parts: ProviderParts) -> PimsProvider:
    """IDEXX Neo on the clinic's own host when it has an allowed one (the login runs on the parts'
    browser; session cache and login lock are per clinic, so clinics on different hosts sync
    side by side)."""
    from .idexx.dump import client_options
    from .idexx.hosts import base_url_for
    from .idexx.provider import IdexxProvider

    s = parts.settings
    base_url = base_url_for(clinic.id, clinic.pims_host, default_url=s.idexx_base_url, extra_hosts=s.idexx_extra_hosts)
    login = parts.browser_login(clinic.id)
    return IdexxProvider(
        clinic=clinic,
        credentials_loader=parts.credentials_loader(clinic.id),
        base_url=base_url,
        browser_source=login.browser_source,
        session_cache=login.session_cache,
        login_lock=login.login_lock,
        login_timeout_ms=s.browser_timeout_ms,
        session_ttl_s=s.session_ttl_s,
        client_options=client_options(s),
    )


class InProcessParts:
    """A CLI process's parts: the store's credentials decrypted here, the given browser for IDEXX
    logins with sessions of this process only, and for REST providers the tokens and rate
    buckets given (the workers' shared ones when the CLI reaches Redis), else this process's."""

    def __init__(self, settings: Settings, store: Store, browser_source: Any,
                 api_tokens: Callable[[InProcessParts], ApiTokens] | None = None):
        self.settings, self.store, self.browser_source = settings, store, browser_source
        self._api_tokens = api_tokens  # called when a REST provider is built, after its host check

    def __repr__(self) -> str:
        return "InProcessParts()"

    @cached_property
    def cipher(self) -> CredentialCipher:
        """Made on first use: a refused host or provider is reported before a missing key is."""
        from ..crypto import CredentialCipher

        return CredentialCipher.from_settings(self.settings)

    def credentials_loader(self, clinic_id: str, provider: str = "idexx") -> Callable[[], Credentials]:
        return lambda: self.cipher.decrypt_credentials(self.store.get_credentials(clinic_id, provider))

    def provider_credentials_loader(self, clinic_id: str, provider: str) -> Callable[[], Mapping[str, str]]:
        from ..store import unseal

        return lambda: dict(unseal(self.cipher, self.store.get_provider_credentials(clinic_id, provider)).fields)

    def browser_login(self, clinic_id: str) -> BrowserLogin:
        return BrowserLogin(browser_source=self.browser_source)

    def api_tokens_for(self, spec: ProviderSpec) -> ApiTokens:
        return self._api_tokens(self) if self._api_tokens is not None else ApiTokens()
