"""Persistence: the Store protocol and its Postgres and Supabase implementations."""

from .base import Store

__all__ = ["Store", "open_store"]


def open_store(settings):
    """The store the settings select: DATABASE_URL wins, else Supabase, else a ConfigError."""
    settings.require_database()
    if settings.database_url:
        from .postgres import PostgresStore

        return PostgresStore(settings.database_url)
    from .supabase import SupabaseStore

    return SupabaseStore(settings.supabase_url, settings.supabase_service_role_key)
