"""Persistence: the Store protocol and its Postgres and Supabase implementations."""

from .base import Store

__all__ = ["Store", "open_store"]


def open_store(settings, *, wait_s: float | None = None):
    """The store the settings select: DATABASE_URL wins, else Supabase, else a ConfigError.

    ``wait_s``: the longest a call waits for a database connection (the API passes seconds so
    an outage is a quick 503; None keeps the patient default workers want).
    """
    settings.require_database()
    if settings.database_url:
        from .postgres import PostgresStore

        if wait_s is not None:
            return PostgresStore(settings.database_url, timeout_s=wait_s, connect_timeout_s=2)
        return PostgresStore(settings.database_url)
    from .supabase import SupabaseStore

    if wait_s is not None:  # each REST call's whole budget: connect, send, the answer
        return SupabaseStore(settings.supabase_url, settings.supabase_service_role_key, timeout_s=wait_s + 1)
    return SupabaseStore(settings.supabase_url, settings.supabase_service_role_key)
