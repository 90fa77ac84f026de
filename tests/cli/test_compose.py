"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

Every service has an image or a build with a Dockerfile; every command runs something that
exists (a `pims-sync` subcommand, a module for gunicorn/celery, the image's own server); every
environment variable our services get is one pims_sync/config.py reads.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from pims_sync.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name for name, svc in SERVICES.items() if "build" in svc}


def known_variables() -> set[str]:
    """Names config.py reads: env.get("X"), _int(env, "X"...), _bool(...), _url(...)."""
    source = (REPO / "pims_sync" / "config.py").read_text()
    names = set(re.findall(r'(?:env\.get|_int|_bool|_url|_text|_alias)\(\s*(?:env,\s*)?"([A-Z][A-Z0-9_]*)"', source))
    names |= set(re.findall(r'_alias\(\s*env,\s*"[A-Z0-9_]+",\s*"([A-Z][A-Z0-9_]*)"', source))  # the old names
    assert {"DATABASE_URL", "REDIS_URL", "IDEXX_ENCRYPTION_KEY", "FLOWER_BASIC_AUTH"} <= names
    return names


def is_known(name: str, known: set[str]) -> bool:
    return name in known or name.startswith("IDEXX_ENCRYPTION_KEY_")


def test_the_services_the_issue_asks_for():
    assert {"redis", "postgres", "simulator", "api", "worker", "beat", "flower"} <= set(SERVICES)
    assert SERVICES["worker"].get("init") is True
    assert SERVICES["beat"]["deploy"]["replicas"] == 2
    assert SERVICES["api"]["command"][:2] == ["pims-sync", "api"]  # gunicorn, through our launcher
    for name in ("redis", "postgres", "api", "worker", "flower", "simulator"):
        assert "healthcheck" in SERVICES[name], name
    for name in OURS:
        # not .env: the local demo reads .env/.env.local and must never pick up container settings
        assert SERVICES[name].get("env_file") == [{"path": ".env.docker", "required": False}], name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_or_a_build(name):
    svc = SERVICES[name]
    assert "image" in svc or "build" in svc
    if "build" in svc:
        context = svc["build"] if isinstance(svc["build"], str) else svc["build"]["context"]
        assert (REPO / context / "Dockerfile").is_file()
    else:
        assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", svc["image"]), "pin a tag"


def _check_command(argv: list[str]) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    exe = argv[0]
    if exe == "pims-sync":
        assert "pims-sync" in scripts
        group = cli
        for word in argv[1:]:
            if word.startswith("-"):
                break
            sub = getattr(group, "commands", {}).get(word)
            if sub is None:
                break
            group = sub
        assert group is not cli, f"no pims-sync subcommand in {argv}"
        # options must be ones the command declares
        declared = {opt for p in group.params for opt in getattr(p, "opts", [])}
        for word in argv:
            if word.startswith("--"):
                assert word.split("=")[0] in declared, f"{word} is not an option of {argv[:3]}"
    elif exe == "gunicorn":
        target = argv[-1]
        module, _, attr = target.partition(":")
        assert importlib.util.find_spec(module) is not None, target
        assert re.search(rf"^{attr}\s*=", (REPO / (module.replace(".", "/") + ".py")).read_text(), re.M)
    elif exe == "celery":
        assert importlib.util.find_spec(argv[argv.index("-A") + 1]) is not None
    else:
        assert exe in ("redis-server",), f"unexpected command {exe}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_command_exists(name):
    command = SERVICES[name].get("command")
    if command is None:
        assert "image" in SERVICES[name] and "build" not in SERVICES[name]
        return
    _check_command(command if isinstance(command, list) else command.split())


def test_every_environment_variable_is_known_to_config():
    known = known_variables()
    for name in OURS:
        env = SERVICES[name].get("environment") or {}
        names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        unknown = [n for n in names if not is_known(n, known)]
        assert unknown == [], f"{name}: {unknown}"


def test_env_example_lists_every_variable_config_knows_and_nothing_else():
    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.M))
    known = known_variables()
    assert listed - known == set()
    assert known - listed == set()


def test_dockerfile_uses_debian_chromium_tini_and_installs_the_package():
    text = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim"]
    assert re.search(r"apt-get install[^\n]*\bchromium\b[^\n]*\btini\b", text)
    assert "pip install ." in text
    assert '"/usr/bin/tini", "--"' in text
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for path in line.split()[:-1]:
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"


def _compose_default(value: str) -> str:
    """``${NAME:-default}`` -> default (what `docker compose up` uses with no env file)."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match.group(1) if match else value


def test_wait_mode_survives_the_compose_api_command():
    """The API command runs gthread workers whose timeout exceeds one phase's budget.

    A sync worker with --timeout 30 killed `?wait=60` after 31 s with an HTML 500; the API is
    now started through `pims-sync api`, which derives both from the settings compose passes.
    """
    from pims_sync.cli.api_cmd import gunicorn_argv, request_timeout_s
    from pims_sync.config import Settings

    api = SERVICES["api"]
    assert api["command"][:2] == ["pims-sync", "api"], "the API must start through `pims-sync api`"
    env = {k: _compose_default(str(v)) for k, v in api["environment"].items()}
    settings = Settings.from_env(env)
    argv = gunicorn_argv(host="0.0.0.0", port=5050, workers=4, threads=8, timeout_s=request_timeout_s(settings))
    assert argv[argv.index("--worker-class") + 1] == "api.gunicorn_worker.JsonErrorWorker"  # a gthread worker
    assert int(argv[argv.index("--timeout") + 1]) > settings.sync_timeout_ms / 1000 >= 60


def test_compose_runs_with_no_env_file_and_not_as_production():
    env = {k: _compose_default(str(v)) for k, v in SERVICES["api"]["environment"].items()}
    assert env["APP_ENV"] == "development"
    assert len(env["IDEXX_ENCRYPTION_KEY"]) >= 32
    assert env["IDEXX_BASE_URL"] == "http://simulator:5080"


def test_the_image_serves_the_api_on_3001_in_production_by_default():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r'^CMD \["pims-sync", "api"\]$', text, re.M)
    env = dict(re.findall(r"\b([A-Z_]+)=(\S+?)(?:\s*\\)?$", text, re.M))
    assert env["PORT"] == "3001" and env["APP_ENV"] == "production" and env["HOST"] == "0.0.0.0"
