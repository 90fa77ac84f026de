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
