"""Prepared statements and transaction-mode poolers.

psycopg prepares a query it has run 5 times on a connection. Through a transaction-mode pooler
(PgBouncer, Supabase's Supavisor on port 6543) the next transaction may run on another server
connection, where that statement does not exist ("prepared statement _pg3_0 does not exist").
So the store prepares nothing on port 6543 unless told to, and DATABASE_PREPARED_STATEMENTS
decides either way.
"""

from __future__ import annotations

import pytest

from pims_sync.config import Settings
from pims_sync.store import open_store
from pims_sync.store.postgres import PostgresStore


@pytest.mark.parametrize(("setting", "expected"), [("false", False), ("true", True)])
def test_the_setting_decides_whether_repeated_queries_are_prepared(database_url, setting, expected):
    settings = Settings.from_env({"DATABASE_URL": database_url, "DATABASE_PREPARED_STATEMENTS": setting})
    assert settings.database_prepared_statements is expected
    opened = open_store(settings)
    assert isinstance(opened, PostgresStore) and opened.prepares_statements is expected
    opened.close()
    # the same choice on a pool of one connection, so the repeats and the listing share a session
    store = PostgresStore(database_url, max_size=1, prepared_statements=settings.database_prepared_statements)
    try:
        for _ in range(8):
            store.ping()
        prepared = [r["statement"] for r in store._all("list prepared statements",
                                                         "select statement from pg_prepared_statements")]
    finally:
        store.close()
    assert any("select 1" in p for p in prepared) is expected, prepared


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://postgres:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres", False),  # transaction mode
    ("postgresql://postgres:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres", True),  # session mode
    ("postgresql://postgres:pw@db.abcdefgh.supabase.co:5432/postgres", True),  # direct
    ("postgresql://postgres@127.0.0.1/postgres", True),  # libpq's default port
])
def test_unset_means_off_only_on_the_transaction_pooler_port(url, expected):
    settings = Settings.from_env({"DATABASE_URL": url})
    assert settings.database_prepared_statements is None
    store = open_store(settings)  # no connection is opened until a query needs one
    assert isinstance(store, PostgresStore) and store.prepares_statements is expected


def test_a_value_that_is_not_a_boolean_is_refused_naming_the_variable():
    from pims_sync.errors import ConfigError

    with pytest.raises(ConfigError, match="DATABASE_PREPARED_STATEMENTS"):
        Settings.from_env({"DATABASE_PREPARED_STATEMENTS": "sometimes"})
