"""Shared fixtures. Real services only: PostgreSQL, Redis, Chromium, the simulator.

Fixtures live in tests/fixtures/*.py, one module per concern, loaded as plugins here.
A service that is missing makes the fixture fail loudly (never skip) so CI cannot go
green without it.
"""

import pytest

from pims_sync.config import Settings

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.sim",
    "tests.fixtures.browser",
    "tests.fixtures.services",
    "tests.fixtures.workers",
]

TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture(scope="session")
def base_settings(database_url, redis_url) -> Settings:
    """Settings pointing at this session's fresh database and Redis db."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "IDEXX_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
            "APP_ENV": "test",
            "SYNC_TIMEOUT_MS": "120000",
        }
    )
