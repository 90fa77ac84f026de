"""Raw IDEXX response bodies saved to a folder the operator chose (``IDEXX_DEBUG_DUMP_DIR``).

Errors never quote a body (they reach audit rows, API answers and CLI output, and bodies hold
patient and client data), so when IDEXX changes a shape the operator needs another way to see
what it sent. This is it: off by default; when on, every body the client receives is written
to its own file, readable by the service's user only, named by endpoint label and time (never by
anything in the body). Only the file's name is logged, never its content.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_counter = itertools.count(1)


def dump_name(endpoint: str, status: int, when: datetime, seq: int) -> str:
    """``20261201T101500.123456Z-consultations-id-page-data-200-7.txt``: label, time, status."""
    label = _UNSAFE.sub("-", endpoint).strip("-") or "root"
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{label[:80]}-{status}-{os.getpid()}.{seq}.txt"


class BodyDump:
    """Writes response bodies under ``folder`` (created 0700; files 0600)."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"BodyDump({str(self.folder)!r})"

    def save(self, endpoint: str, status: int, body: bytes) -> Path | None:
        """Write one body; a failure to write is logged (by file name) and never breaks a sync."""
        path = self.folder / dump_name(endpoint, status, datetime.now(UTC), next(_counter))
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(body)
        except OSError as e:
            log.warning("could not save an IDEXX %s body to %s: %s", endpoint, self.folder, e.__class__.__name__)
            return None
        log.debug("saved the IDEXX %s body as %s", endpoint, path.name)
        return path


def client_options(settings: Settings) -> dict[str, str]:
    """IdexxClient options that come from settings: ``dump_dir`` when the operator turned it on."""
    return {"dump_dir": settings.idexx_debug_dump_dir} if settings.idexx_debug_dump_dir else {}
