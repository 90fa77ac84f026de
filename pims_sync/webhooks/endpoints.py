"""Adding an endpoint: check the URL, make a secret, seal it, store it; the secret is returned once."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import StoreError
from .models import WebhookEndpoint
from .policy import parse_events
from .signing import new_secret
from .urls import check_url


def require_support(store) -> None:
    if not getattr(store, "supports_webhooks", False):
        raise StoreError("webhooks need a direct Postgres connection (DATABASE_URL); "
                         "the Supabase REST store does not keep them")


def register_endpoint(store, cipher, settings, *, clinic_id: str, url: str,
                      events: Iterable[str] | None = None) -> tuple[WebhookEndpoint, str]:
    """(the stored endpoint, its secret in the clear: show it once, it is never readable again)."""
    require_support(store)
    store.get_clinic(clinic_id)
    check_url(url, allow_private=settings.webhook_allow_private)
    secret = new_secret()
    endpoint = store.create_webhook(clinic_id=clinic_id, url=url, events=parse_events(events),
                                    secret_encrypted=cipher.encrypt(secret))
    return endpoint, secret
