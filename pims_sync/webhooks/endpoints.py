"""Adding an endpoint: check the URL, make a secret, seal it, store it; the secret is returned once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StoreError
from .models import WebhookEndpoint
from .policy import parse_events
from .signing import new_secret
from .urls import check_url

if TYPE_CHECKING:
    from ..config import Settings
    from ..crypto import CredentialCipher


class EndpointStore(Protocol):
    """What adding an endpoint needs of a store (PostgresStore and SupabaseStore both)."""

    def get_clinic(self, clinic_id: str) -> Any: ...

    def create_webhook(self, *, clinic_id: str, url: str, events: Sequence[str], secret_encrypted: bytes,
                       encryption_key_id: str = "default") -> WebhookEndpoint: ...


def require_support(store: object) -> None:
    if not getattr(store, "supports_webhooks", False):
        raise StoreError(f"this store ({type(store).__name__}) does not keep webhooks; "
                         "use DATABASE_URL or SUPABASE_URL")


def register_endpoint(store: EndpointStore, cipher: CredentialCipher, settings: Settings, *, clinic_id: str, url: str,
                      events: Iterable[str] | None = None) -> tuple[WebhookEndpoint, str]:
    """(the stored endpoint, its secret in the clear: show it once, it is never readable again)."""
    require_support(store)
    store.get_clinic(clinic_id)
    check_url(url, allow_private=settings.webhook_allow_private)
    secret = new_secret()
    endpoint = store.create_webhook(clinic_id=clinic_id, url=url, events=parse_events(events),
                                    secret_encrypted=cipher.encrypt(secret))
    return endpoint, secret
