"""The CI script runs exactly the test command README.md documents."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_ci_script_is_valid_bash():
    result = _run("-n", ".ci/run")
    assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_test_command():
    result = _run(".ci/run", "--print-test-command")
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip()
    assert command == ".venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash .ci/run" in readme
    assert f"<!-- ci:test-command -->\n```bash\n{command}\n```" in readme


def test_ci_runs_mypy_after_ruff_and_before_the_tests():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ruff, mypy = script.index('"$VENV/bin/ruff" check .'), script.index('"$VENV/bin/mypy"')
    assert ruff < mypy < script.index("$TEST_COMMAND \"$@\"")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.mypy]" in pyproject and "strict = true" in pyproject


def test_ci_treats_no_tests_collected_as_failure():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script
    assert '"$status" -eq 5' in script
