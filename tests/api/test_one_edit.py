"""A sync option's allowed range is one edit: the API, the CLI, /openapi.json and the tasks all follow it.

The bound is read from ``SyncOptions.model_fields`` (never written here). A fresh process probes
every face as the code stands, and another makes the one edit (``days_ahead``'s ``le``) before
importing anything else, as a process started after editing pims_sync/sync/options.py would:
each face must move to the new bound, with no other change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pims_sync.sync.options import SyncOptions
from pims_sync.validation import bounds
from tests.conftest import TEST_ENCRYPTION_KEY

ROOT = Path(__file__).resolve().parents[2]


def _probe(value: int, *, le: int | None, database_url: str, redis_url: str, api_key: str) -> dict:
    cmd = [sys.executable, "-m", "tests.api.one_edit_probe", "--value", str(value), "--database-url", database_url,
           "--redis-url", redis_url, "--encryption-key", TEST_ENCRYPTION_KEY, "--api-key", api_key]
    if le is not None:
        cmd += ["--le", str(le)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_every_face_uses(result: dict, bound: int) -> None:
    over = f"must be an integer from 0 to {bound}"
    assert result["openapiMaximum"] == [bound, bound, bound]  # InboundSyncRequest, FullSyncRequest, SyncOptions
    assert result["apiOver"][0] == 400 and over in result["apiOver"][1], result["apiOver"]
    assert result["apiAt"] == 202
    assert result["cliOver"] is not None and over in result["cliOver"] and "--days-ahead" in result["cliOver"]
    assert result["cliAt"] is None
    assert result["taskOver"] is not None and over in result["taskOver"]
    assert result["taskAt"] is None


def test_one_edit_of_days_ahead_moves_the_api_cli_document_and_tasks(database_url, api_redis_url, make_key, store,
                                                                       api_redis):
    """api_redis: the claims the probes' enqueues leave are flushed afterwards."""
    lo, bound = bounds(SyncOptions.model_fields["days_ahead"])
    assert lo == 0 and bound > 1
    edited = bound // 2  # inside today's range, so only the edit can make bound // 2 + 1 a refusal
    keys = [make_key(store.create_clinic(name=f"One edit {i}", timezone="UTC").id) for i in range(2)]

    before = _probe(bound, le=None, database_url=database_url, redis_url=api_redis_url, api_key=keys[0].raw)
    _assert_every_face_uses(before, bound)

    after = _probe(edited, le=edited, database_url=database_url, redis_url=api_redis_url, api_key=keys[1].raw)
    _assert_every_face_uses(after, edited)
