"""Chromium discovery for the demo: configured path, known places, then installing it.

The system-package tests point the lookup at an empty root folder and replace only the package
manager (a small script standing in for apt-get), so they cannot pass by finding a browser that
is already installed on the test machine.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from pims_sync.cli.chromium_setup import MissingDependency, SystemInstaller, find_chromium


@pytest.fixture
def no_chromium_on_path(monkeypatch, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # shutil.which finds nothing
    return empty


def fake_apt_get(folder: Path, root: Path, *, works: bool = True, needs_update: bool = False,
                 has_shell: bool = True) -> tuple[Path, Path]:
    """An apt-get stand-in that 'installs' the named packages under ``root``; it logs its argv.

    Without ``has_shell`` the distribution has no chromium-headless-shell package: asking for it fails.
    """
    log = folder / "apt-calls.log"
    script = folder / "apt-get"
    bin_dir = root / "usr" / "bin"
    script.write_text(
        f"""#!{sys.executable}
import os, sys
with open({str(log)!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
updated = os.path.exists({str(folder / "updated")!r})
if sys.argv[1] == "update":
    open({str(folder / "updated")!r}, "w").close()
    sys.exit(0)
if not {works!r} or ({needs_update!r} and not updated):
    sys.exit(100)
packages = [a for a in sys.argv[2:] if not a.startswith("-")]
if "chromium-headless-shell" in packages and not {has_shell!r}:
    sys.exit(100)
os.makedirs({str(bin_dir)!r}, exist_ok=True)
for package in packages:
    target = os.path.join({str(bin_dir)!r}, package)
    with open(target, "w") as f:
        f.write("#!/bin/sh\\necho stand-in\\n")
    os.chmod(target, 0o755)
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_configured_path_must_be_executable(tmp_path):
    with pytest.raises(MissingDependency, match="CHROMIUM_PATH"):
        find_chromium(str(tmp_path / "nope"))


def test_known_places_are_tried_in_order(tmp_path, chromium_path):
    assert find_chromium(None, candidates=(str(tmp_path / "missing"), chromium_path)) == chromium_path


def test_without_chromium_the_install_is_tried_once_then_the_help_is_shown(no_chromium_on_path):
    attempts = []

    def failing_install() -> bool:
        attempts.append(1)
        return False

    with pytest.raises(MissingDependency) as e:
        find_chromium(None, candidates=(), install=failing_install)
    assert attempts == [1]
    assert "apt-get install chromium" in str(e.value) and "was tried" in str(e.value)


def test_without_an_installer_the_help_says_what_to_run(no_chromium_on_path):
    with pytest.raises(MissingDependency) as e:
        find_chromium(None, candidates=())
    assert "playwright install chromium" in str(e.value) and "was tried" not in str(e.value)


def test_as_root_debians_chromium_is_installed_and_found(no_chromium_on_path, tmp_path):
    root = tmp_path / "root"
    apt_get, log = fake_apt_get(tmp_path, root)
    said: list[str] = []
    installer = SystemInstaller(say=said.append, apt_get=str(apt_get), root=str(root), prefix=())

    found = find_chromium(None, candidates=installer.candidates(), installers=(installer,))

    assert found == str(root / "usr" / "bin" / "chromium-headless-shell")  # headless: the shell
    assert (root / "usr" / "bin" / "chromium").is_file()  # the full browser too, for --visible
    headed = find_chromium(None, headless=False, candidates=installer.candidates(headless=False))
    assert headed == str(root / "usr" / "bin" / "chromium")
    assert log.read_text().split("\n")[0] == "install -y --no-install-recommends chromium chromium-headless-shell"
    assert any("installing Debian's 'chromium'" in line for line in said)


def test_a_distribution_without_the_headless_shell_gets_chromium_alone(no_chromium_on_path, tmp_path):
    root = tmp_path / "root"
    apt_get, log = fake_apt_get(tmp_path, root, has_shell=False)
    installer = SystemInstaller(say=lambda _line: None, apt_get=str(apt_get), root=str(root), prefix=())

    found = find_chromium(None, candidates=installer.candidates(), installers=(installer,))

    assert found == str(root / "usr" / "bin" / "chromium")
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["install", "update", "install", "install"]
    assert log.read_text().splitlines()[-1] == "install -y --no-install-recommends chromium"


def test_stale_package_lists_are_updated_once_then_the_install_is_retried(no_chromium_on_path, tmp_path):
    root = tmp_path / "root"
    apt_get, log = fake_apt_get(tmp_path, root, needs_update=True)
    installer = SystemInstaller(say=lambda _line: None, apt_get=str(apt_get), root=str(root), prefix=())

    assert find_chromium(None, candidates=installer.candidates(), installers=(installer,)).startswith(str(root))
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["install", "update", "install"]


def test_when_the_package_manager_fails_the_help_names_the_command(no_chromium_on_path, tmp_path):
    root = tmp_path / "root"
    apt_get, _log = fake_apt_get(tmp_path, root, works=False)
    installer = SystemInstaller(say=lambda _line: None, apt_get=str(apt_get), root=str(root), prefix=())

    with pytest.raises(MissingDependency) as e:
        find_chromium(None, candidates=installer.candidates(), installers=(installer,))
    assert "sudo apt-get install chromium" in str(e.value)
    assert not (root / "usr" / "bin" / "chromium").exists()


def test_without_apt_get_nothing_is_attempted(no_chromium_on_path, tmp_path):
    installer = SystemInstaller(say=lambda _line: None, root=str(tmp_path / "root"))
    assert installer() is False  # PATH is empty: no apt-get, no sudo

