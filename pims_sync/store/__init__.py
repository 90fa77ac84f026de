"""Persistence: the Store protocol and its Postgres and Supabase implementations.

The package's face: code outside pims_sync/store imports these names, never a ``_module``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._provider_credentials import seal, unseal
from ._provider_state import ProviderState
from .base import Store

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["ProviderState", "Store", "open_store", "seal", "unseal"]


def open_store(settings: Settings, *, wait_s: float | None = None) -> Store:
    """The store the settings select: DATABASE_URL wins, else Supabase, else a ConfigError.

    ``wait_s``: the longest a call waits for a database connection (the API passes seconds so
    an outage is a quick 503; None keeps the patient default workers want).
    """
    settings.require_database()
    if settings.database_url:
        from .postgres import PostgresStore

        prepared = settings.database_prepared_statements
        if wait_s is not None:
            return PostgresStore(settings.database_url, timeout_s=wait_s, connect_timeout_s=2,
                                 prepared_statements=prepared)
        return PostgresStore(settings.database_url, prepared_statements=prepared)
    from .supabase import SupabaseStore

    url, key = settings.supabase_url, settings.supabase_service_role_key
    assert url and key  # require_database() raised otherwise
    if wait_s is not None:  # each REST call's whole budget: connect, send, the answer
        return SupabaseStore(url, key, timeout_s=wait_s + 1)
    return SupabaseStore(url, key)
