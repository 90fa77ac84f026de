"""docker compose: the api, worker and beat containers write their samples into one shared volume.

Checked without a Docker engine (CI has none): the YAML parsed, the mount path is the directory
pims_sync.metrics picks for the image's user, and the volume is a tmpfs that user can write.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()


def image_uid() -> int:
    found = re.findall(r"useradd [^\n]*--uid (\d+) (\w+)", DOCKERFILE)
    user = re.findall(r"^USER (\w+)$", DOCKERFILE, re.M)
    assert len(found) == 1 and user and user[-1] == found[0][1], "the image runs as the user it creates"
    return int(found[0][0])


def test_api_worker_and_beat_share_one_samples_volume_at_the_default_directory():
    # the image sets neither variable, so pims_sync.metrics uses $TMPDIR (/tmp)/pims-sync-metrics-<uid>
    assert "PROMETHEUS_MULTIPROC_DIR" not in DOCKERFILE and "TMPDIR" not in DOCKERFILE
    uid = image_uid()
    expected = f"metrics:/tmp/pims-sync-metrics-{uid}"
    services = COMPOSE["services"]
    for name in ("api", "worker", "beat"):
        assert expected in services[name].get("volumes", []), name
        env = services[name].get("environment") or {}
        assert "PROMETHEUS_MULTIPROC_DIR" not in env and "TMPDIR" not in env, name
    volume = COMPOSE["volumes"]["metrics"]
    opts = volume["driver_opts"]
    assert opts["type"] == "tmpfs" and opts["device"] == "tmpfs"  # emptied when the last container stops
    assert f"uid={uid}" in opts["o"].split(",")  # the image's user can write it


def test_the_api_is_the_one_scrape_target():
    api = COMPOSE["services"]["api"]
    assert "5050:5050" in api["ports"]
    for name in ("worker", "beat"):  # no exporter port: their samples reach the API's /metrics
        env = COMPOSE["services"][name].get("environment") or {}
        assert "METRICS_PORT" not in env, name
