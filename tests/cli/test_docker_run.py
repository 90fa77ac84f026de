"""The seed's `docker run` line, reproduced as far as this machine allows (no Docker engine here).

`docker run -p 5050:3001 -e SUPABASE_URL=… -e SUPABASE_SERVICE_ROLE_KEY=… -e ENCRYPTION_KEY=… image`
runs the image's CMD with the image's ENV plus those three variables. This test reads CMD and
ENV from the Dockerfile, runs that command as a process with exactly that environment (in an
empty folder, so no .env file is read), and checks what a user would see: /health answers 200,
/ready answers 503 naming Redis, because no REDIS_URL was given.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import requests

from tests.fixtures.api_process import api_process, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dockerfile() -> tuple[list[str], dict[str, str]]:
    text = (REPO / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    env_block = re.search(r"^ENV (.*?)(?=^\S)", text, re.M | re.S).group(1)
    env = dict(re.findall(r"([A-Z_]+)=(\S+?)(?:\s*\\)?$", env_block, re.M))
    return cmd, env


def test_the_seed_docker_run_line_serves_health_and_says_redis_is_missing(tmp_path):
    cmd, image_env = dockerfile()
    assert cmd == ["pims-sync", "api"] and image_env["PORT"] == "3001"
    port = free_port(int(image_env["PORT"]))  # 3001 as in the image, unless this machine uses it
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           **image_env, "PORT": str(port), "CHROMIUM_PATH": shutil.which("true") or "/bin/true",
           # the three -e of the seed's line; the project URL answers nothing here
           "SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_SERVICE_ROLE_KEY": "service-role-key-of-the-project",
           "ENCRYPTION_KEY": "the-old-services-encryption-key-0123456789"}
    argv = [str(BIN / cmd[0]), *cmd[1:]]
    with api_process(env, port=port, log_path=tmp_path / "api.log", argv=argv, cwd=tmp_path) as base:
        health = requests.get(f"{base}/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = requests.get(f"{base}/ready", timeout=30)
        assert ready.status_code == 503
        body = ready.json()
        assert "redis" in body["down"]
        assert "REDIS_URL" in body["checks"]["redis"]["error"]
