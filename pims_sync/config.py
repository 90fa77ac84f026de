"""Settings read from the environment once, validated, and frozen.

Nothing else in pims-sync reads ``os.environ``: every component takes a :class:`Settings`.
A bad value raises :class:`~pims_sync.errors.ConfigError` naming the variable and what was
expected, so a process stops at start-up with one readable line.

Where values come from, strongest first: the real environment, then ``.env.local``, then
``.env`` in the working directory (the TypeScript service kept every setting in ``.env.local``).
An empty value means unset. The old service's names are aliases: ``NODE_ENV`` for ``APP_ENV``
and ``ENCRYPTION_KEY`` for ``IDEXX_ENCRYPTION_KEY`` (ours win when both are set).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import ConfigError
from .webhooks.policy import DEFAULT_RETRY_DELAYS_S, parse_delays

log = logging.getLogger(__name__)

APP_ENVS = ("development", "production", "test")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
MIN_KEY_LENGTH = 32
KEY_PREFIX = "IDEXX_ENCRYPTION_KEY_"
#: read from the working directory at start-up; the later file wins over the earlier one
ENV_FILES = (".env", ".env.local")
_loaded_files: tuple[str, ...] | None = None


def load_env_files(folder: Path | str | None = None) -> tuple[str, ...]:
    """Put ``.env`` and ``.env.local`` values into ``os.environ`` where nothing is set yet.

    Real environment variables win (python-dotenv's ``override=False``); ``.env.local`` is read
    first so that it wins over ``.env``. Returns the names of the files read. Runs once per
    process unless a folder is given.
    """
    global _loaded_files
    if folder is None and _loaded_files is not None:
        return _loaded_files
    from dotenv import load_dotenv

    base = Path(folder) if folder is not None else Path.cwd()
    read = []
    for name in reversed(ENV_FILES):
        path = base / name
        if path.is_file():
            load_dotenv(path, override=False)
            read.append(name)
    files = tuple(reversed(read))
    if folder is None:
        _loaded_files = files
    return files


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value, or None when unset or blank (an empty value means unset)."""
    return (env.get(name) or "").strip() or None


def _alias(env: Mapping[str, str], name: str, alias: str) -> str | None:
    """``name``'s value, else its alias's; empty counts as unset."""
    return _text(env, name) or _text(env, alias)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, "true or false", raw)


def _int(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"an integer between {lo} and {hi}", raw) from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"an integer between {lo} and {hi}", raw)
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        # never echo a URL back: it may carry a password
        raise ConfigError(name, f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Every setting pims-sync has; build with :meth:`from_env`, override with :meth:`replace`."""

    database_url: str | None = None
    redis_url: str | None = None
    supabase_url: str | None = None
    supabase_service_role_key: str | None = field(default=None, repr=False)
    encryption_key: str | None = field(default=None, repr=False)
    # extra keys for rotation: key id (lower case) -> secret, from IDEXX_ENCRYPTION_KEY_<ID>
    encryption_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    idexx_base_url: str = "https://us.idexxneo.com"
    app_env: str = "development"
    host: str = "0.0.0.0"
    port: int = 5050
    headless: bool = True
    sync_timeout_ms: int = 300_000
    enable_scheduler: bool = True
    chromium_path: str | None = None
    schedule_poll_seconds: int = 300
    schedule_grace_seconds: int = 3600  # a missed slot younger than this runs once after downtime
    beat_lock_ttl_s: int = 30  # a standby beat takes over within this after the active one dies
    # trusted reverse proxies in front of the API that set X-Forwarded-For (0 = clients connect directly)
    trust_proxy_hops: int = 0
    log_level: str = "INFO"
    flower_basic_auth: str | None = field(default=None, repr=False)
    flower_cookie_secret: str | None = field(default=None, repr=False)
    # workers (see docs/OPERATIONS.md): None = derived from the hard time limit
    celery_visibility_timeout_s: int | None = None
    session_ttl_s: int = 1800  # below IDEXX Neo's session lifetime (hours)
    clinic_lock_ttl_s: int = 60
    max_task_deliveries: int = 3
    browser_idle_close_s: int = 600
    # per-clinic IDEXX hosts allowed beyond IDEXX's own (origins; see providers/idexx/hosts.py)
    idexx_extra_hosts: tuple[str, ...] = ()
    # a folder where every IDEXX response body is saved for debugging (patient data!); None = off
    idexx_debug_dump_dir: str | None = None
    # observability (docs/METRICS.md, docs/WEBHOOKS.md): /metrics token, worker exporter port,
    # log format, and whether webhook URLs may resolve to private/loopback addresses
    metrics_token: str | None = field(default=None, repr=False)
    metrics_port: int | None = None
    log_format: str = "text"
    webhook_allow_private: bool = False
    webhook_retry_delays_s: tuple[int, ...] = DEFAULT_RETRY_DELAYS_S
    webhook_disable_after: int = 16  # consecutive failed attempts (two deliveries' worth)
    # psycopg's prepared statements on DATABASE_URL; None: on, except through a transaction-mode
    # pooler (port 6543, Supabase's), where a statement prepared on one server connection is
    # missing on the next
    database_prepared_statements: bool | None = None
    # the .env files read at start-up (for the start-up line), and what a reader should know
    env_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From ``environ``, or from the process environment after reading the .env files."""
        env_files: tuple[str, ...] = ()
        if environ is None:
            env_files = load_env_files()
        env = os.environ if environ is None else environ
        notes: list[str] = []
        app_env_name = "APP_ENV" if (env.get("APP_ENV") or "").strip() else "NODE_ENV"
        app_env = (_alias(env, "APP_ENV", "NODE_ENV") or "development").lower()
        if app_env not in APP_ENVS:
            raise ConfigError(app_env_name, " | ".join(APP_ENVS), env.get(app_env_name))

        key_name = "IDEXX_ENCRYPTION_KEY" if (env.get("IDEXX_ENCRYPTION_KEY") or "").strip() else "ENCRYPTION_KEY"
        key = _alias(env, "IDEXX_ENCRYPTION_KEY", "ENCRYPTION_KEY")
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise ConfigError(key_name, f"at least {MIN_KEY_LENGTH} characters")
        old_key = (env.get("ENCRYPTION_KEY") or "").strip()
        if key_name == "IDEXX_ENCRYPTION_KEY" and old_key and old_key != key:
            notes.append("IDEXX_ENCRYPTION_KEY and ENCRYPTION_KEY differ; IDEXX_ENCRYPTION_KEY is used")
            log.warning("settings: %s", notes[-1])
        extra = {}
        for name, value in env.items():
            if name.startswith(KEY_PREFIX) and len(name) > len(KEY_PREFIX):
                if len(value) < MIN_KEY_LENGTH:
                    raise ConfigError(name, f"at least {MIN_KEY_LENGTH} characters")
                extra[name[len(KEY_PREFIX):].lower()] = value

        base_url = _url(env, "IDEXX_BASE_URL", ("http", "https")) or cls.idexx_base_url
        host = _text(env, "HOST") or cls.host
        level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError("LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL", env.get("LOG_LEVEL"))
        log_format = (_text(env, "LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise ConfigError("LOG_FORMAT", "text or json", env.get("LOG_FORMAT"))
        metrics_port = _int(env, "METRICS_PORT", 0, lo=0, hi=65535) or None
        basic_auth = _text(env, "FLOWER_BASIC_AUTH")
        if basic_auth is not None and ":" not in basic_auth:
            raise ConfigError("FLOWER_BASIC_AUTH", "user:password")

        return cls(
            database_url=_url(env, "DATABASE_URL", ("postgres", "postgresql")),
            redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
            supabase_url=_url(env, "SUPABASE_URL", ("http", "https")),
            supabase_service_role_key=_text(env, "SUPABASE_SERVICE_ROLE_KEY"),
            encryption_key=key,
            encryption_keys=extra,
            idexx_base_url=base_url.rstrip("/"),
            app_env=app_env,
            host=host,
            port=_int(env, "PORT", cls.port, lo=1, hi=65535),
            headless=_bool(env, "HEADLESS", True),
            sync_timeout_ms=_int(env, "SYNC_TIMEOUT_MS", cls.sync_timeout_ms, lo=1_000, hi=86_400_000),
            enable_scheduler=_bool(env, "ENABLE_SCHEDULER", True),
            chromium_path=_text(env, "CHROMIUM_PATH"),
            schedule_poll_seconds=_int(env, "SCHEDULE_POLL_SECONDS", 300, lo=1, hi=86_400),
            schedule_grace_seconds=_int(env, "SCHEDULE_GRACE_SECONDS", 3600, lo=0, hi=7 * 86_400),
            beat_lock_ttl_s=_int(env, "BEAT_LOCK_TTL_S", 30, lo=2, hi=3_600),
            trust_proxy_hops=_int(env, "TRUST_PROXY_HOPS", 0, lo=0, hi=5),
            log_level=level,
            flower_basic_auth=basic_auth,
            flower_cookie_secret=_text(env, "FLOWER_COOKIE_SECRET"),
            celery_visibility_timeout_s=_visibility_timeout(env, app_env),
            session_ttl_s=_int(env, "SESSION_CACHE_TTL_S", 1800, lo=10, hi=86_400),
            clinic_lock_ttl_s=_int(env, "CLINIC_LOCK_TTL_S", 60, lo=2, hi=3_600),
            max_task_deliveries=_int(env, "MAX_TASK_DELIVERIES", 3, lo=1, hi=100),
            browser_idle_close_s=_int(env, "BROWSER_IDLE_CLOSE_S", 600, lo=1, hi=86_400),
            idexx_extra_hosts=_extra_hosts(env),
            idexx_debug_dump_dir=_text(env, "IDEXX_DEBUG_DUMP_DIR"),
            metrics_token=_text(env, "METRICS_TOKEN"),
            metrics_port=metrics_port,
            log_format=log_format,
            webhook_allow_private=_bool(env, "WEBHOOK_ALLOW_PRIVATE_URLS", False),
            webhook_retry_delays_s=_retry_delays(env),
            webhook_disable_after=_int(env, "WEBHOOK_DISABLE_AFTER", 16, lo=1, hi=1000),
            database_prepared_statements=(None if _text(env, "DATABASE_PREPARED_STATEMENTS") is None
                                          else _bool(env, "DATABASE_PREPARED_STATEMENTS", True)),
            env_files=env_files,
            notes=tuple(notes),
        )

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    # --- requirements, checked by the component that needs them ------------------------------

    def require_encryption_key(self) -> str:
        if not self.encryption_key:
            raise ConfigError(
                "IDEXX_ENCRYPTION_KEY", f"a secret of at least {MIN_KEY_LENGTH} characters (ENCRYPTION_KEY is read too)"
            )
        return self.encryption_key

    def require_database(self) -> None:
        """DATABASE_URL wins; else SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY; else name both."""
        if self.database_url:
            return
        if self.supabase_url and not self.supabase_service_role_key:
            raise ConfigError("SUPABASE_SERVICE_ROLE_KEY", "the service-role key of the SUPABASE_URL project")
        if not self.supabase_url:
            raise ConfigError(
                "DATABASE_URL",
                "a postgresql:// URL, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY for a Supabase project",
            )

    @property
    def broker_url(self) -> str:
        return self.redis_url or "redis://127.0.0.1:6379/0"

    @property
    def hard_time_limit_s(self) -> int:
        """Celery's hard limit: the sync timeout plus room for cleanup."""
        return self.sync_timeout_ms // 1000 + 60

    @property
    def inflight_ttl_s(self) -> int:
        """How long a clinic's in-flight claim outlives a lost release: a full sync's three phases
        at their hard limit, plus queueing. The API, the CLI and beat all claim with it."""
        return 3 * self.hard_time_limit_s + 600

    @property
    def soft_time_limit_s(self) -> int:
        return self.sync_timeout_ms // 1000

    @property
    def visibility_timeout_s(self) -> int:
        """Redis redelivers an unacked task after this long: it must outlast the longest task."""
        return self.celery_visibility_timeout_s or max(3_600, 2 * self.hard_time_limit_s)

    @property
    def browser_timeout_ms(self) -> int:
        """Playwright's per-action timeout: well under the soft limit so it fires first."""
        return max(5_000, min(60_000, self.sync_timeout_ms // 4))

    def secret_for_key_id(self, key_id: str) -> str:
        """The secret behind an ``encryption_key_id``; rotation adds keys, not migrations."""
        key_id = (key_id or "default").lower()
        if key_id in self.encryption_keys:
            return self.encryption_keys[key_id]
        return self.require_encryption_key()


def _visibility_timeout(env: Mapping[str, str], app_env: str) -> int | None:
    """Short values only make sense in tests (fast redelivery after a killed worker)."""
    raw = env.get("CELERY_VISIBILITY_TIMEOUT_S")
    if raw is None or raw.strip() == "":
        return None
    value = _int(env, "CELERY_VISIBILITY_TIMEOUT_S", 0, lo=1, hi=7 * 86_400)
    hard = _int(env, "SYNC_TIMEOUT_MS", Settings.sync_timeout_ms, lo=1_000, hi=86_400_000) // 1000 + 60
    if app_env != "test" and value <= hard:
        raise ConfigError(
            "CELERY_VISIBILITY_TIMEOUT_S",
            f"more than the hard time limit ({hard} s), or a running task is delivered twice",
            raw,
        )
    return value


def _extra_hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    from .providers.idexx.hosts import HostSyntaxError, parse_extra_hosts

    try:
        return parse_extra_hosts(env.get("IDEXX_EXTRA_HOSTS"))
    except HostSyntaxError as e:
        raise ConfigError("IDEXX_EXTRA_HOSTS", f"comma-separated hosts or https:// origins (an entry {e})") from None


def _retry_delays(env: Mapping[str, str]) -> tuple[int, ...]:
    try:
        return parse_delays(env.get("WEBHOOK_RETRY_DELAYS_S"))
    except ValueError:
        raise ConfigError("WEBHOOK_RETRY_DELAYS_S", "comma-separated seconds, each up to a week",
                          env.get("WEBHOOK_RETRY_DELAYS_S")) from None


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _cached
    if _cached is None:
        _cached = Settings.from_env()
    return _cached


def reset_settings_cache() -> None:
    global _cached
    _cached = None
