"""Shared terminal output for every CLI command: one console, JSON mode, one-line errors.

Exit codes: 0 success, 1 an operational failure (a service unreachable, a sync that failed),
2 a bad argument (click's own usage errors, and ours raised as click.UsageError).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console

from ..errors import ConfigError, PimsSyncError, ValidationError

# logs and CI capture output without a terminal: give tables room instead of rich's 80 columns
_WIDTH = None if sys.stdout.isatty() else 140
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")


class ServiceUnreachable(click.ClickException):
    """A service we depend on did not answer; the message names it and where we looked."""

    exit_code = 1

    def __init__(self, service: str, url: str, reason: str = ""):
        self.service, self.url = service, redact_url(url)
        tail = f" ({reason})" if reason else ""
        super().__init__(f"{service} is unreachable at {self.url}{tail}")


def redact_url(url: str | None) -> str:
    """A URL fit to print: any password is replaced by ***."""
    if not url:
        return "(not set)"
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return str(value)


def print_json(data: Any) -> None:
    """JSON to stdout, nothing else: scripts parse it."""
    click.echo(json.dumps(data, default=_default, indent=2, sort_keys=False))


def fail(message: str, *, code: int = 1) -> NoReturn:
    """One line on stderr and the exit code; never a traceback."""
    exc = click.ClickException(message)
    # click types exit_code as a ClassVar (1); one instance with the code asked for is the point here
    exc.exit_code = code  # type: ignore[misc]
    raise exc


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn pims-sync errors into one-line messages with the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except ValidationError as e:
            raise click.UsageError(str(e)) from None
        except ConfigError as e:  # like a bad argument: the invocation (its environment) must change
            fail(f"configuration: {e}", code=2)
        except PimsSyncError as e:
            fail(f"{e.code}: {e}", code=1)

    return wrapper


def status_style(status: str | None) -> str:
    return {
        "completed": "green",
        "in_progress": "cyan",
        "queued": "yellow",
        "partial": "yellow",
        "failed": "red",
        "aborted": "red",
        "not_run": "dim",
        "skipped": "dim",
    }.get(status or "", "white")


def is_tty() -> bool:
    return sys.stdout.isatty()
