"""Run in a fresh process by test_one_edit.py: what every face of the service accepts for daysAhead.

With ``--le N`` it first makes the one edit a maintainer would make in
pims_sync/sync/options.py — ``days_ahead``'s ``le`` becomes N — and only then imports the API,
the CLI and the tasks, exactly as a process started after that edit would. It prints one JSON
object: the bound each face uses and how each answers at the bound and one past it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import click
from annotated_types import Le

from pims_sync.sync.options import SyncOptions


def edit_bound(new_le: int) -> None:
    """The edit: ``Field(..., le=MAX_RANGE_DAYS)`` of days_ahead becomes ``le=new_le``."""
    info = SyncOptions.model_fields["days_ahead"]
    info.metadata = [Le(new_le) if isinstance(item, Le) else item for item in info.metadata]
    SyncOptions.model_rebuild(force=True)


def probe(args: argparse.Namespace) -> dict[str, Any]:
    from api.app import create_app
    from pims_sync.cli.main import cli
    from pims_sync.config import Settings
    from pims_sync.errors import ValidationError
    from workers import tasks  # the module whose phases validate their options kwargs

    settings = Settings.from_env({"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
                                  "IDEXX_ENCRYPTION_KEY": args.encryption_key, "APP_ENV": "test"})
    out: dict[str, Any] = {}
    app = create_app(settings)
    try:
        client = app.test_client()
        doc = client.get("/openapi.json").get_json()
        schemas = doc["components"]["schemas"]
        out["openapiMaximum"] = [schemas[name]["properties"]["daysAhead"]["maximum"]
                                 for name in ("InboundSyncRequest", "FullSyncRequest", "SyncOptions")]
        headers = {"X-API-Key": args.api_key}
        over = client.post("/api/sync/inbound", headers=headers, json={"daysAhead": args.value + 1})
        out["apiOver"] = [over.status_code, over.get_json()["error"]["message"] if over.status_code >= 400 else None]
        at = client.post("/api/sync/inbound", headers=headers, json={"daysAhead": args.value})
        out["apiAt"] = at.status_code
    finally:
        app.extensions["pims_sync"].close()
        app.extensions["pims_sync"].store.close()

    sync = cli.commands["sync"]

    def parse(days: int) -> str | None:
        try:
            sync.make_context("sync", ["inbound", "--clinic", "x", "--days-ahead", str(days)])
        except click.BadParameter as e:
            return e.format_message()
        return None

    out["cliOver"], out["cliAt"] = parse(args.value + 1), parse(args.value)

    def task_accepts(days: int) -> str | None:
        try:
            tasks.SyncOptions.from_dict({"days_ahead": days})  # what a phase task does with its kwargs
        except ValidationError as e:
            return str(e)
        return None

    out["taskOver"], out["taskAt"] = task_accepts(args.value + 1), task_accepts(args.value)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--le", type=int, default=None, help="make the edit: days_ahead's le becomes this")
    parser.add_argument("--value", type=int, required=True, help="the bound to probe at and one past")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--encryption-key", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args(argv)
    if args.le is not None:
        edit_bound(args.le)
    print(json.dumps(probe(args)))


if __name__ == "__main__":
    main(sys.argv[1:])
