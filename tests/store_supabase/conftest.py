"""SupabaseStore against a recording PostgREST stand-in on 127.0.0.1."""

from __future__ import annotations

import pytest

from pims_sync.store.supabase import SupabaseStore

from .fake_postgrest import FakePostgREST

# looks like a key, and is long and unique enough to spot anywhere it must not appear
SERVICE_ROLE_KEY = "eyJhbGciOiJIUzI1NiJ9.test-service-role.c2lnbmF0dXJlLW5vdC1mb3ItbG9ncw"


@pytest.fixture
def postgrest():
    server = FakePostgREST().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sb(postgrest):
    """A SupabaseStore on the fake; every request it sent must carry the service-role key."""
    store = SupabaseStore(postgrest.url, SERVICE_ROLE_KEY, timeout_s=10)
    try:
        yield store
    finally:
        store.close()
    for request in postgrest.requests:
        assert request.headers["apikey"] == SERVICE_ROLE_KEY, request
        assert request.headers["authorization"] == f"Bearer {SERVICE_ROLE_KEY}", request
