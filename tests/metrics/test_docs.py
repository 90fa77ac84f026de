"""The dashboard and the alert rules query only metrics pims-sync defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from pims_sync import metrics

REPO = Path(__file__).resolve().parents[2]
SCRAPE_TIME = {"pims_sync_queue_depth", "pims_sync_syncs_in_flight", "pims_sync_active_clinics_without_success"}
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def defined() -> set[str]:
    names = set(SCRAPE_TIME)
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if callable(describe) and hasattr(value, "_name"):
            names |= {m.name for m in describe()}
    return names


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in defined():
            return name[: -len(suffix)]
    return name


def test_the_dashboard_and_the_alerts_use_real_metrics():
    known = defined()
    assert {"pims_sync_syncs", "pims_sync_sync_duration_seconds", "pims_sync_logins"} <= known
    dashboard = json.loads((REPO / "docs" / "grafana-pims-sync.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    doc = (REPO / "docs" / "METRICS.md").read_text()
    rules_text = doc.split("# pims-sync-alerts.yml (Prometheus rule file)\n", 1)[1].split("```", 1)[0]
    rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
    assert {"PimsSyncFailureRateHigh", "PimsSyncClinicWithoutSuccess", "PimsSyncQueueBacklog",
            "PimsSyncLoginStorm"} <= {r["alert"] for r in rules}
    used = {base(n) for e in exprs + [r["expr"] for r in rules] for n in re.findall(r"pims_sync_\w+", e)}
    assert used and used <= known, used - known
    listed = {base(n) for n in re.findall(r"`(pims_sync_\w+)`", doc)}
    assert known <= listed, known - listed  # every metric is documented


# issue #20's list, item by item, and the metric(s) that answer it
ISSUE_LIST = {
    "sync and phase durations": {"pims_sync_sync_duration_seconds", "pims_sync_phase_duration_seconds"},
    "outcomes": {"pims_sync_syncs_total"},
    "cases created, updated and deleted": {"pims_sync_cases_total"},
    "PIMS request latency and status by endpoint": {"pims_sync_pims_request_duration_seconds"},
    "logins and re-logins": {"pims_sync_logins_total"},
    "rate-limiter waits": {"pims_sync_rate_limit_wait_seconds"},
    "queue depth per queue": {"pims_sync_queue_depth"},
    "in-flight syncs": {"pims_sync_syncs_in_flight"},
    "API requests by route and status": {"pims_sync_api_requests_total"},
    "failed-key rejections": {"pims_sync_auth_rejections_total"},
    "beat dispatches and missed slots": {"pims_sync_beat_dispatches_total", "pims_sync_beat_missed_slots_total"},
    "browser launches": {"pims_sync_browser_launches_total"},
    "worker memory": {"pims_sync_worker_memory_bytes"},
}


def test_every_metric_the_issue_lists_exists_is_documented_and_on_the_dashboard():
    known = defined()
    doc = (REPO / "docs" / "METRICS.md").read_text()
    dashboard = json.loads((REPO / "docs" / "grafana-pims-sync.json").read_text())
    on_dashboard = {base(n) for p in dashboard["panels"] for t in p["targets"]
                    for n in re.findall(r"pims_sync_\w+", t["expr"])}
    for item, names in ISSUE_LIST.items():
        for name in names:
            assert base(name) in known, (item, name)
            assert f"`{name}`" in doc, (item, name)
            assert base(name) in on_dashboard, (item, name)
    assert known <= on_dashboard, known - on_dashboard  # every metric has a panel
