"""`pims-sync schedules show|set|validate` and `pims-sync beat` against the real database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pims_sync.cli.beat_cmd import beat_argv
from pims_sync.cli.main import cli


@pytest.fixture
def run(base_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", base_settings.database_url)
    monkeypatch.setenv("REDIS_URL", base_settings.redis_url)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_set_validates_and_saves(run, clinic, store):
    good = [
        {"type": "inbound", "cron": "0 6 * * *", "enabled": True},
        {"type": "cases", "cron": "*/15 8-18 * * 1-5"},
    ]
    result = run("schedules", "set", "--clinic", clinic.id, "--json", json.dumps(good))
    assert result.exit_code == 0, result.output
    assert store.get_schedule_config(clinic.id).sync_schedules == good

    bad = [{"type": "inbound", "cron": "0 25 * * *"}, {"type": "weekly-report", "cron": "0 6 * * *"}]
    result = run("schedules", "set", "--clinic", clinic.id, "--json", json.dumps(bad))
    assert result.exit_code == 2
    assert "sync_schedules[0]" in result.output and "weekly-report" in result.output
    assert store.get_schedule_config(clinic.id).sync_schedules == good  # unchanged

    result = run("schedules", "set", "--clinic", clinic.id, "--json", "{not json")
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_show_json_lists_entries_with_next_run(run, clinic, store):
    store.set_schedule_config(clinic.id, [{"type": "reconciliation", "cron": "0 2 * * *", "enabled": True}])
    result = run("schedules", "show", "--clinic", clinic.id, "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    (entry,) = view["entries"]
    assert entry["name"] == f"clinic:{clinic.id}:reconciliation"
    assert "T02:00:00" in entry["nextRunLocal"]  # 02:00 on the clinic's wall clock
    assert view["problems"] == [] and view["timezone"] == "America/New_York"


def test_validate_lists_every_problem_and_exits_1(run, store, clinic):
    other = store.create_clinic(name="Validate Other", timezone="Europe/London")
    store.set_schedule_config(clinic.id, [{"type": "inbound", "cron": "every day"}])
    store.set_schedule_config(other.id, [{"cron": "0 6 * * *"}, {"type": "cases", "cron": "0 6 * * *"}])
    result = run("schedules", "validate", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    mine = [p for p in problems if p["clinicId"] in (clinic.id, other.id)]
    assert {(p["clinicId"], p["index"]) for p in mine} == {(clinic.id, 0), (other.id, 0)}
    store.set_schedule_config(clinic.id, [])
    store.set_schedule_config(other.id, [])
    result = run("schedules", "validate", "--json")
    assert not [p for p in json.loads(result.output)["problems"] if p["clinicId"] in (clinic.id, other.id)]


def test_beat_command_runs_celery_beat_with_the_clinic_scheduler():
    argv = beat_argv("INFO", 2)
    assert argv[1:] == [
        "-A",
        "workers.app",
        "beat",
        "-S",
        "workers.beat:ClinicScheduler",
        "--loglevel",
        "INFO",
        "--max-interval",
        "2",
    ]
    assert argv[0].endswith("celery")
