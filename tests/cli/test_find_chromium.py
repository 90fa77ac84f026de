"""Chromium discovery for the demo: configured path, known places, then one install attempt."""

from __future__ import annotations

import pytest

from pims_sync.cli.embedded import MissingDependency, find_chromium


@pytest.fixture
def no_chromium_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # shutil.which finds nothing
    return tmp_path


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
