"""Which store the settings select, and that SupabaseStore is the whole Store protocol."""

from __future__ import annotations

import inspect

import pytest

from pims_sync.config import Settings
from pims_sync.errors import ConfigError
from pims_sync.store import open_store
from pims_sync.store.base import Store
from pims_sync.store.postgres import PostgresStore
from pims_sync.store.supabase import SupabaseStore

from .conftest import SERVICE_ROLE_KEY

SUPABASE = {"SUPABASE_URL": "https://example.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY}


def test_supabase_settings_open_a_supabase_store():
    store = open_store(Settings.from_env(SUPABASE))
    try:
        assert isinstance(store, SupabaseStore) and isinstance(store, Store)
        assert SERVICE_ROLE_KEY not in repr(store)
    finally:
        store.close()


def test_database_url_wins_over_supabase():
    store = open_store(Settings.from_env({**SUPABASE, "DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/db"}))
    try:
        assert isinstance(store, PostgresStore)
    finally:
        store.close()


def test_neither_names_both_options():
    with pytest.raises(ConfigError) as err:
        open_store(Settings.from_env({}))
    assert "DATABASE_URL" in str(err.value) and "SUPABASE_URL" in str(err.value)


def test_supabase_store_implements_the_protocol_exactly():
    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    methods = [n for n, v in vars(Store).items() if not n.startswith("_") and callable(v)]
    assert len(methods) > 30
    for name in methods:
        assert shape(getattr(SupabaseStore, name)) == shape(getattr(Store, name)), name
