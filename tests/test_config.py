"""Settings.from_env: defaults, one clear ConfigError per bad variable, no secret ever echoed."""

from __future__ import annotations

import pytest

from pims_sync.config import Settings
from pims_sync.errors import ConfigError

KEY = "k" * 32
ROTATED = "r" * 40


def test_defaults_from_an_empty_environment():
    s = Settings.from_env({})
    assert s.database_url is None
    assert s.redis_url is None
    assert s.supabase_url is None
    assert s.supabase_service_role_key is None
    assert s.encryption_key is None
    assert dict(s.encryption_keys) == {}
    assert s.idexx_base_url == "https://us.idexxneo.com"
    assert s.app_env == "development"
    assert s.host == "0.0.0.0"
    assert s.port == 5050
    assert s.headless is True
    assert s.sync_timeout_ms == 300_000
    assert s.enable_scheduler is True
    assert s.chromium_path is None
    assert s.schedule_poll_seconds == 300
    assert s.log_level == "INFO"
    assert s.flower_basic_auth is None
    assert s.flower_cookie_secret is None
    assert s.broker_url == "redis://127.0.0.1:6379/0"


def test_blank_values_mean_default():
    blank = {
        name: "  "
        for name in (
            "PORT",
            "HEADLESS",
            "SYNC_TIMEOUT_MS",
            "ENABLE_SCHEDULER",
            "SCHEDULE_POLL_SECONDS",
            "DATABASE_URL",
        )
    }
    s = Settings.from_env(blank)
    assert (s.port, s.headless, s.sync_timeout_ms, s.enable_scheduler, s.schedule_poll_seconds) == (
        5050,
        True,
        300_000,
        True,
        300,
    )
    assert s.database_url is None


def test_every_variable_is_read():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "SUPABASE_URL": "https://abc.supabase.co",
            "SUPABASE_SERVICE_ROLE_KEY": "service-role",
            "IDEXX_ENCRYPTION_KEY": KEY,
            "IDEXX_BASE_URL": "http://127.0.0.1:8765/",
            "APP_ENV": " Production ",
            "HOST": " 127.0.0.1 ",
            "PORT": "8080",
            "HEADLESS": "no",
            "SYNC_TIMEOUT_MS": "60000",
            "ENABLE_SCHEDULER": "off",
            "CHROMIUM_PATH": "/usr/bin/chromium",
            "SCHEDULE_POLL_SECONDS": "5",
            "LOG_LEVEL": "debug",
            "FLOWER_BASIC_AUTH": "admin:pw",
            "FLOWER_COOKIE_SECRET": "cookie",
        }
    )
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/test"
    assert s.redis_url == "redis://127.0.0.1:6379/3"
    assert s.broker_url == "redis://127.0.0.1:6379/3"
    assert s.supabase_url == "https://abc.supabase.co"
    assert s.supabase_service_role_key == "service-role"
    assert s.encryption_key == KEY
    assert s.idexx_base_url == "http://127.0.0.1:8765"  # trailing slash dropped
    assert s.app_env == "production"
    assert s.host == "127.0.0.1"
    assert s.port == 8080
    assert s.headless is False
    assert s.sync_timeout_ms == 60_000
    assert s.enable_scheduler is False
    assert s.chromium_path == "/usr/bin/chromium"
    assert s.schedule_poll_seconds == 5
    assert s.log_level == "DEBUG"
    assert s.flower_basic_auth == "admin:pw"
    assert s.flower_cookie_secret == "cookie"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
@pytest.mark.parametrize("name, attr", [("HEADLESS", "headless"), ("ENABLE_SCHEDULER", "enable_scheduler")])
def test_booleans(name, attr, value, expected):
    assert getattr(Settings.from_env({name: value}), attr) is expected


@pytest.mark.parametrize("app_env", ["development", "production", "test", "TEST"])
def test_app_env_values(app_env):
    assert Settings.from_env({"APP_ENV": app_env}).app_env == app_env.lower()


@pytest.mark.parametrize(
    "name, value, expected_fragment",
    [
        ("APP_ENV", "staging", "development | production | test"),
        ("PORT", "http", "an integer between 1 and 65535"),
        ("PORT", "0", "an integer between 1 and 65535"),
        ("PORT", "70000", "an integer between 1 and 65535"),
        ("PORT", "50.5", "an integer"),
        ("SYNC_TIMEOUT_MS", "999", "an integer between 1000 and 86400000"),
        ("SYNC_TIMEOUT_MS", "5m", "an integer"),
        ("SCHEDULE_POLL_SECONDS", "0", "an integer between 1 and 86400"),
        ("SCHEDULE_POLL_SECONDS", "-5", "an integer"),
        ("HEADLESS", "maybe", "true or false"),
        ("ENABLE_SCHEDULER", "2", "true or false"),
        ("LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("DATABASE_URL", "mysql://u@h/db", "postgres:// or postgresql://"),
        ("DATABASE_URL", "127.0.0.1:5432", "postgres"),
        ("REDIS_URL", "http://127.0.0.1:6379", "redis:// or rediss:// or unix://"),
        ("SUPABASE_URL", "abc.supabase.co", "http:// or https://"),
        ("IDEXX_BASE_URL", "ftp://idexx.example", "http:// or https://"),
        ("IDEXX_ENCRYPTION_KEY", "short", "at least 32 characters"),
        ("IDEXX_ENCRYPTION_KEY_V2", "short", "at least 32 characters"),
        ("FLOWER_BASIC_AUTH", "adminpassword", "user:password"),
    ],
)
def test_bad_value_names_the_variable(name, value, expected_fragment):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    err = info.value
    assert err.variable == name
    assert str(err).startswith(f"{name}: expected ")
    assert expected_fragment in str(err)


@pytest.mark.parametrize(
    "name, value",
    [
        ("IDEXX_ENCRYPTION_KEY", "hunter2-too-short"),
        ("IDEXX_ENCRYPTION_KEY_K2026", "hunter2-too-short"),
        ("DATABASE_URL", "mysql://admin:hunter2@db.example/prod"),
        ("REDIS_URL", "http://:hunter2@cache.example:6379"),
        ("SUPABASE_URL", "ftp://hunter2@abc.supabase.co"),
        ("IDEXX_BASE_URL", "ftp://user:hunter2@idexx.example"),
        ("FLOWER_BASIC_AUTH", "hunter2"),
    ],
)
def test_errors_never_echo_secrets(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)


def test_first_problem_stops_startup_with_one_message():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"APP_ENV": "nope", "PORT": "nope"})
    assert "\n" not in str(info.value)


def test_secrets_are_not_in_repr():
    s = Settings.from_env(
        {
            "IDEXX_ENCRYPTION_KEY": KEY,
            "IDEXX_ENCRYPTION_KEY_V2": ROTATED,
            "SUPABASE_SERVICE_ROLE_KEY": "service-role-secret",
            "FLOWER_BASIC_AUTH": "admin:flowerpw",
            "FLOWER_COOKIE_SECRET": "cookie-secret",
        }
    )
    text = repr(s)
    for secret in (KEY, ROTATED, "service-role-secret", "flowerpw", "cookie-secret"):
        assert secret not in text


# --- rotation keys ---------------------------------------------------------------------------


def test_rotation_keys_by_key_id():
    s = Settings.from_env(
        {"IDEXX_ENCRYPTION_KEY": KEY, "IDEXX_ENCRYPTION_KEY_K2026": ROTATED, "IDEXX_ENCRYPTION_KEY_": "x"}
    )
    assert dict(s.encryption_keys) == {"k2026": ROTATED}  # a bare prefix is not a key id
    assert s.secret_for_key_id("k2026") == ROTATED
    assert s.secret_for_key_id("K2026") == ROTATED  # key ids are case-insensitive
    assert s.secret_for_key_id("default") == KEY
    assert s.secret_for_key_id("") == KEY
    assert s.secret_for_key_id("unknown-id") == KEY  # falls back to the main secret


def test_override_for_default_key_id():
    s = Settings.from_env({"IDEXX_ENCRYPTION_KEY": KEY, "IDEXX_ENCRYPTION_KEY_DEFAULT": ROTATED})
    assert s.secret_for_key_id("default") == ROTATED


def test_rotation_key_alone_without_main_key():
    s = Settings.from_env({"IDEXX_ENCRYPTION_KEY_V2": ROTATED})
    assert s.secret_for_key_id("v2") == ROTATED
    with pytest.raises(ConfigError) as info:
        s.secret_for_key_id("default")
    assert info.value.variable == "IDEXX_ENCRYPTION_KEY"


def test_require_encryption_key():
    assert Settings.from_env({"IDEXX_ENCRYPTION_KEY": KEY}).require_encryption_key() == KEY
    with pytest.raises(
        ConfigError, match="IDEXX_ENCRYPTION_KEY: expected a secret of at least 32 characters"
    ):
        Settings.from_env({}).require_encryption_key()


# --- database requirement --------------------------------------------------------------------


def test_require_database_accepts_database_url_or_supabase_pair():
    Settings.from_env({"DATABASE_URL": "postgresql://postgres@127.0.0.1/test"}).require_database()
    Settings.from_env(
        {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "service-role"}
    ).require_database()


def test_require_database_names_both_options_when_nothing_is_set():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({}).require_database()
    assert info.value.variable == "DATABASE_URL"
    assert "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY" in str(info.value)


def test_require_database_asks_for_the_service_role_key():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"SUPABASE_URL": "https://abc.supabase.co"}).require_database()
    assert info.value.variable == "SUPABASE_SERVICE_ROLE_KEY"


# --- derived values --------------------------------------------------------------------------


def test_time_limits_are_ordered():
    s = Settings.from_env({"SYNC_TIMEOUT_MS": "120000"})
    assert s.browser_timeout_ms < s.soft_time_limit_s * 1000 < s.hard_time_limit_s * 1000
    assert (s.soft_time_limit_s, s.hard_time_limit_s) == (120, 180)


def test_replace_returns_a_new_frozen_settings():
    s = Settings.from_env({})
    t = s.replace(port=6000)
    assert (s.port, t.port) == (5050, 6000)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_trust_proxy_hops_is_a_small_integer():
    assert Settings.from_env({}).trust_proxy_hops == 0
    assert Settings.from_env({"TRUST_PROXY_HOPS": "2"}).trust_proxy_hops == 2
    with pytest.raises(ConfigError, match="TRUST_PROXY_HOPS"):
        Settings.from_env({"TRUST_PROXY_HOPS": "9"})


def test_idexx_extra_hosts_and_debug_dump_dir():
    s = Settings.from_env({})
    assert s.idexx_extra_hosts == () and s.idexx_debug_dump_dir is None  # dump off by default
    s = Settings.from_env({"IDEXX_EXTRA_HOSTS": "neo.example.org, http://127.0.0.1:5080",
                           "IDEXX_DEBUG_DUMP_DIR": " /var/tmp/idexx "})
    assert s.idexx_extra_hosts == ("https://neo.example.org", "http://127.0.0.1:5080")
    assert s.idexx_debug_dump_dir == "/var/tmp/idexx"


@pytest.mark.parametrize("value", ["https://ops:s3cret-pass@neo.example.org", "neo.example.org/login", "ftp://x"])
def test_bad_idexx_extra_hosts_names_the_variable_without_echoing(value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"IDEXX_EXTRA_HOSTS": value})
    assert str(info.value).startswith("IDEXX_EXTRA_HOSTS:") and "s3cret" not in str(info.value)
