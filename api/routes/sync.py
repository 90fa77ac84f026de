"""POST /api/sync/{full,inbound,cases,reconcile}, GET /api/sync/<syncId>, GET /api/sync/history.

Enqueueing answers 202 at once; wait mode polls the audit rows (any API process can answer for
any sync, because the audit rows are the truth) and answers 200 with the original service's
shape, 207/502 when a phase did not complete, or 202 when the time ran out.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask.typing import ResponseReturnValue

from pims_sync.errors import NotFound
from pims_sync.models import PERMISSIONS, Audit
from pims_sync.sync.options import SyncType
from pims_sync.sync.results import RESULT_KEY, SEED_STATS_KEYS, utc_timestamp
from workers.enqueue import TERMINAL, enqueue_sync, sync_status, wait_for_sync

from ..auth import allowed_clinics, clinic_for
from ..openapi import ApiBlueprint, Operation, ResponseSpec, route
from ..responses import Error, SeedSyncResult, SyncAccepted, SyncHistory, SyncResult, SyncStatus
from ..schemas import SYNC_BODIES, HistoryQuery, SyncRequest, SyncStatusQuery, SyncWaitQuery
from ..services import services

bp = ApiBlueprint("sync", __name__)

PERMISSION_FOR: dict[SyncType, tuple[str, ...]] = {
    SyncType.FULL: PERMISSIONS,
    SyncType.INBOUND: ("sync:inbound",),
    SyncType.CASES: ("sync:cases",),
    SyncType.RECONCILE: ("sync:reconcile",),
}
SUMMARY = {
    SyncType.FULL: "Full sync: inbound, then cases, then reconciliation",
    SyncType.INBOUND: "Inbound sync: appointments to cases",
    SyncType.CASES: "Case enrichment: consultation data onto cases",
    SyncType.RECONCILE: "Reconciliation: soft-delete cases whose appointment vanished",
}
_ENQUEUE_DESCRIPTION = (
    "Answers 202 with the syncId at once. With ?wait=SECONDS or \"wait\": true it waits (at most "
    "SYNC_TIMEOUT_MS): 200 with the original service's result shape when every phase completed, 207 "
    "with per-phase results and errors when some phase did not complete but another made progress, "
    "502 when the sync failed outright (typically the PIMS could not be reached or refused the login), "
    "202 with the current status when the time ran out. Single-flight: a clinic has at most one sync "
    "queued or running; another request answers 409 with that syncId. A clinic that is inactive, owned by "
    "the legacy service (clinics.sync_owner) or has syncing disabled (idexx_credentials.sync_enabled) "
    "answers 409 with error code sync_disabled, naming the flag and how to change it."
)
_ENQUEUE_RESPONSES: dict[int, ResponseSpec] = {
    200: ("Done (wait mode): the original service's shape", SeedSyncResult),
    202: ("Queued, or still running when the wait ended", SyncAccepted),
    207: ("Done (wait mode), some phase failed, was aborted or partial", SyncResult),
    403: ("The key lacks a needed permission, names another clinic, or is a shared key not allowed that clinic",
          Error),
    404: ("The clinic does not exist", Error),
    409: ("The clinic already has a sync queued or running (syncId in the body), or its syncing is disabled "
          "(code sync_disabled)", Error),
    502: ("Done (wait mode), the sync failed", SyncResult),
    503: ("The queue or the database is unavailable", Error),
}


def _status_url(sync_id: str) -> str:
    return f"/api/sync/{sync_id}"


def _enqueue_view(sync_type: SyncType) -> None:
    op = Operation(
        "post", f"/api/sync/{sync_type}", SUMMARY[sync_type], "sync", _ENQUEUE_RESPONSES,
        body=SYNC_BODIES[sync_type], query=SyncWaitQuery, permissions=PERMISSION_FOR[sync_type],
        description=_ENQUEUE_DESCRIPTION,
    )

    @route(bp, op)
    def view(*, body: SyncRequest, query: SyncWaitQuery) -> ResponseReturnValue:
        return start_sync(sync_type, body, query)


def start_sync(sync_type: SyncType, body: SyncRequest, query: SyncWaitQuery) -> ResponseReturnValue:
    svc = services()
    clinic_id = clinic_for(g.api_key, None if body.clinic_id is None else str(body.clinic_id))
    enqueued = enqueue_sync(
        svc.celery_app, svc.store, svc.inflight, clinic_id=clinic_id, sync_type=sync_type, options=body.options(),
        trigger="api", ttl_s=svc.settings.inflight_ttl_s,
    )
    wait_s: float | None = query.wait
    if wait_s is None and body.wait:
        wait_s = svc.sync_timeout_s
    if not wait_s:
        return _accepted(enqueued.sync_id, enqueued.status)
    status = wait_for_sync(svc.store, enqueued.sync_id, clinic_id=clinic_id,
                           timeout_s=min(float(wait_s), svc.sync_timeout_s))
    return waited_response(status)


def _accepted(sync_id: str, status: str, extra: dict[str, Any] | None = None) -> ResponseReturnValue:
    body = {"success": True, "syncId": sync_id, "status": status, "statusUrl": _status_url(sync_id)}
    body.update(extra or {})
    return body, 202, {"Location": _status_url(sync_id)}


def waited_response(status: dict[str, Any]) -> ResponseReturnValue:
    """200 / 207 / 502 for a finished sync, 202 for one still running."""
    if status["status"] not in TERMINAL:
        extra = {k: v for k, v in status.items() if k not in ("syncId", "status")}
        return _accepted(status["syncId"], status["status"], extra)
    result = status["result"]
    phases = [result[key] for key in RESULT_KEY.values() if key in result]
    if phases and all(p["status"] == "completed" for p in phases):
        return seed_shape(result), 200
    progressed = any(p["status"] in ("completed", "partial") for p in phases)
    failed = any(p["status"] == "failed" for p in phases)
    return result, (502 if failed and not progressed else 207)


def seed_shape(result: dict[str, Any]) -> dict[str, Any]:
    """Exactly the original service's keys: success, syncId, <phase>Result {success, stats}, durationMs, timestamp."""
    body: dict[str, Any] = {"success": result["success"], "syncId": result["syncId"]}
    for phase, key in RESULT_KEY.items():
        if key in result:
            stats = result[key].get("stats") or {}
            body[key] = {"success": result[key]["success"],
                         "stats": {k: stats.get(k, 0) for k in SEED_STATS_KEYS[phase]}}
    body["durationMs"] = result.get("durationMs") or 0
    body["timestamp"] = result.get("timestamp") or utc_timestamp()
    return body


for _type in SyncType:
    _enqueue_view(_type)


def _clinic_param(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@route(bp, Operation(
    "get", "/api/sync/history", "The clinic's syncs, newest first, with a success-rate summary", "sync",
    {200: ("A page of syncs", SyncHistory), 403: ("clinicId is a clinic this key was not given", Error)},
    query=HistoryQuery,
))
def history(*, query: HistoryQuery) -> ResponseReturnValue:
    svc = services()
    clinic_id = clinic_for(g.api_key, _clinic_param(query.clinic_id))
    sync_type: str | None = query.type
    if sync_type is not None and sync_type not in ("schedule", "consultation"):
        sync_type = SyncType.parse(sync_type).audit_name  # audit rows say "reconciliation"
    page = svc.store.sync_history(clinic_id, limit=query.limit, cursor=query.cursor, sync_type=sync_type)
    return {
        "success": True,
        "syncs": [_history_row(a) for a in page.audits],
        "nextCursor": page.next_cursor,
        "summary": {
            "total": page.total,
            "succeeded": page.succeeded,
            "failed": page.failed,
            "successRate": page.success_rate,
        },
    }


def _history_row(a: Audit) -> dict[str, Any]:
    return {
        "syncId": a.id,
        "type": a.sync_type,
        "status": a.status,
        "trigger": a.trigger,
        "stats": dict(a.stats or {}),
        "error": a.error_message,
        "createdAt": a.created_at.isoformat() if a.created_at else None,
        "startedAt": a.started_at.isoformat() if a.started_at else None,
        "finishedAt": a.finished_at.isoformat() if a.finished_at else None,
        "durationMs": a.duration_ms,
    }


@route(bp, Operation(
    "get", "/api/sync/{syncId}", "A sync's state, current phase, per-phase progress, stats and errors", "sync",
    {200: ("The sync", SyncStatus), 403: ("clinicId is a clinic this key was not given", Error),
     404: ("No such sync for this API key's clinic(s)", Error)},
    path_params={"syncId": {"type": "string", "format": "uuid"}}, query=SyncStatusQuery,
))
def get_sync(syncId: uuid.UUID, *, query: SyncStatusQuery) -> ResponseReturnValue:  # noqa: N803 - public name
    svc = services()
    key = g.api_key
    try:
        if key.clinic_id is not None or query.clinic_id is not None:
            clinic_id = clinic_for(key, _clinic_param(query.clinic_id))
        else:  # a shared key may look a sync up by id alone, among the clinics it was granted
            clinic_id = svc.store.get_audit(str(syncId)).clinic_id
            if clinic_id not in allowed_clinics(key):
                raise NotFound(f"sync {syncId}")
        status = sync_status(svc.store, str(syncId), clinic_id=clinic_id)
    except NotFound:
        raise NotFound(f"no sync {syncId} for this API key's clinic(s)") from None
    return {"success": True, **status}

