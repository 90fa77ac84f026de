"""Secrets never leave the worker: not in logs, task messages, results, Redis or Flower."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys

import pytest
import requests

from workers.session_cache import RedisSessionCache

from .helpers import clinic_from_sim, enqueue, wait_done, wait_until

pytestmark = pytest.mark.slow  # real worker processes


def _redis_dump(client) -> str:
    """Every key and value in the worker Redis, with kombu message bodies base64-decoded."""
    parts = []
    for key in client.scan_iter(count=500):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [k + b"=" + v for k, v in client.hgetall(key).items()]
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        else:
            values = []
        parts.append(key.decode(errors="replace"))
        for value in values:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            parts.append(text)
            parts.extend(_decoded_bodies(text))
    return "\n".join(parts)


def _decoded_bodies(text: str) -> list[str]:
    """A kombu message is JSON with a base64 body; unacked entries wrap it in a list."""
    found = []
    try:
        data = json.loads(text.split("=", 1)[-1] if not text.startswith(("{", "[")) else text)
    except ValueError:
        return found
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("body"), str):
                try:
                    found.append(base64.b64decode(item["body"]).decode(errors="replace"))
                except ValueError:
                    found.append(item["body"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


FLOWER_AUTH = ("ops", "flower-test-pass")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_secret_in_logs_messages_results_redis_or_flower(workers, simulator, store, worker_redis, tmp_path):
    sim_clinic = simulator.clinic(0)
    simulator.set_appointments_per_day(sim_clinic["id"], 2)
    clinic = clinic_from_sim(store, workers.cipher, sim_clinic)
    port = _free_port()
    flower_log = open(tmp_path / "flower.log", "wb")  # noqa: SIM115 (closed below)
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--port={port}", "--address=127.0.0.1",
         "--persistent=False", f"--basic-auth={FLOWER_AUTH[0]}:{FLOWER_AUTH[1]}"], env=workers.environment(), stdout=flower_log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthcheck"), 30, "Flower to answer")
        # the message as it waits in the broker queue, before any worker takes it
        enq = enqueue(workers, store, clinic.id)
        queued = _redis_dump(worker_redis)
        assert enq.phases["inbound"] in queued, "the dump must see the queued message"
        workers.start("secrets")
        assert wait_done(store, enq.sync_id, clinic.id)["status"] == "completed"

        cookies = RedisSessionCache(worker_redis, workers.cipher, ttl_s=60).get(clinic.id)
        assert cookies, "the sync must have cached a session (whose cookies we then look for)"
        secrets = {"password": sim_clinic["password"], "company id": sim_clinic["company_id"]}
        secrets.update({f"cookie {name}": value for name, value in cookies.items() if len(value) >= 8})

        tasks = wait_until(lambda: _flower_tasks(port, expect=3), 20, "Flower to see the three tasks")
        places = {
            "worker log": "\n".join(w.log() for w in workers.workers),
            "Redis before the run (broker queue)": queued,
            "Redis after the run (results, unacked, events)": _redis_dump(worker_redis),
            "Flower /api/tasks": json.dumps(tasks),
        }
        assert "celery-task-meta-" in places["Redis after the run (results, unacked, events)"]
        assert enq.sync_id in places["Flower /api/tasks"]
        for where, text in places.items():
            for what, value in secrets.items():
                assert value not in text, f"the {what} appears in the {where}"
    finally:
        flower.terminate()
        flower.wait(timeout=10)
        flower_log.close()


def _get(url: str):
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _flower_tasks(port: int, *, expect: int):
    body = requests.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5, auth=FLOWER_AUTH).json()
    done = [t for t in body.values() if t.get("state") == "SUCCESS"]
    return body if len(done) >= expect else None
